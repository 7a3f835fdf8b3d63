"""rapport.cards: pure builders. Adaptive Card 1.5, Action.Execute only, untrusted text never markdown."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from rapport.cards import context_card, known_contact_card, restricted_contact_card, unknown_sender_card
from rapport.cards.common import card, execute, line, plain, when

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EVIL = "[click me](https://evil.example) **bold** <b>x</b>\u202eevil\u200b"

KNOWN = {
    "status": "known", "email": "jane@acme.example", "asOf": "2026-03-02T09:00:00Z",
    "contact": {"name": f"Jane {EVIL}", "title": "Head of IP", "phone": ""},
    "account": {"name": "Acme GmbH", "kind": "client", "domain": "acme.example"},
    "knownBy": [{"name": "Anna Weber", "you": True, "private": False, "lastTouch": "2026-03-01T10:00:00Z",
                 "strength": 80, "label": "strong"},
                {"name": "Carl Roy", "you": False, "private": True, "lastTouch": None, "strength": None,
                 "label": None}],
    "interactions": [{"at": "2026-03-01T10:00:00Z", "channel": "email", "direction": "inbound",
                      "subject": f"Re: {EVIL}", "text": None, "by": "you"},
                     {"at": "2026-02-20T10:00:00Z", "channel": "note", "direction": "internal",
                      "subject": "Note", "text": "<script>alert(1)</script>", "by": "Carl Roy"}],
    "pipeline": [{"kind": "enquiry", "title": "Asia filings", "stage": "new", "since": "2026-02-27T00:00:00Z"}],
    "meetings": [{"start": "2026-03-06T10:00:00Z", "subject": "Renewal strategy"}],
    "keyDates": [{"kind": "renewal", "date": "2026-03-20T00:00:00Z", "matter": "ACME word mark",
                  "reference": "TM-1", "soon": True}],
    "signals": [{"kind": "counsel_move", "summary": "Jane moved from Beta AG", "at": "2026-02-20T00:00:00Z"}],
}
RESTRICTED = {"status": "restricted", "email": "x@acme.example", "asOf": "", "knownTo": ["Ben Ode"]}
COLLEAGUE = {"status": "colleague", "email": "anna@firm.example", "asOf": "",
             "person": {"name": "Anna Weber", "title": "Partner"}}
UNKNOWN = {"status": "unknown", "email": "x@newco.example", "asOf": "",
           "account": {"name": "NewCo", "kind": "prospect", "domain": "newco.example"}}

ALLOWED_TYPES = {"AdaptiveCard", "TextBlock", "RichTextBlock", "TextRun", "Container", "ColumnSet", "Column",
                 "Input.Text", "Action.Execute", "ActionSet", "FactSet"}


def nodes(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from nodes(v)
    elif isinstance(node, list):
        for v in node:
            yield from nodes(v)


@pytest.mark.parametrize("facts", [KNOWN, RESTRICTED, UNKNOWN, COLLEAGUE],
                         ids=["known", "restricted", "unknown", "colleague"])
def test_cards_are_1_5_with_execute_actions_and_no_tenant(facts):
    c = context_card(facts, NOW)
    assert c["type"] == "AdaptiveCard" and c["version"] == "1.5" and c["fallbackText"]
    types = {n["type"] for n in nodes(c) if "type" in n}
    assert types <= ALLOWED_TYPES, types - ALLOWED_TYPES
    actions = [n for n in nodes(c) if str(n.get("type", "")).startswith("Action.")]
    assert actions and all(a["type"] == "Action.Execute" and a["verb"] for a in actions)
    for a in actions:
        assert set(a["data"]) <= {"email"}  # minimal data; never a tenant or a user
    json.dumps(c)  # plain JSON


def test_untrusted_text_only_in_text_runs_and_cleaned():
    c = known_contact_card(KNOWN, NOW)
    blocks = " ".join(n["text"] for n in nodes(c) if n.get("type") == "TextBlock")
    runs = " ".join(n["text"] for n in nodes(c) if n.get("type") == "TextRun")
    assert "evil.example" not in blocks and "<script>" not in blocks and "Jane" not in blocks
    assert "[click me](https://evil.example)" in runs and "<script>alert(1)</script>" in runs
    assert "\u202e" not in json.dumps(c, ensure_ascii=False) and "\u200b" not in json.dumps(c, ensure_ascii=False)


def test_known_card_shows_the_facts():
    text = json.dumps(known_contact_card(KNOWN, NOW))
    for expected in ("Head of IP", "Acme GmbH", "Client", "Anna Weber", "(you)", "Strong", "yesterday",
                     "private", "Asia filings", "Renewal strategy", "in 4 days", "ACME word mark", "20 Mar 2026",
                     "Jane moved from Beta AG", "Add note", "addNote", "Quick note"):
        assert expected in text, expected


def test_restricted_card_says_only_who_to_ask():
    c = restricted_contact_card(RESTRICTED, NOW)
    text = json.dumps(c)
    assert "Known to " in text and "Ben Ode" in text and "ask for an introduction" in text
    assert "addNote" not in text and "Input.Text" not in text


def test_restricted_card_names_several_owners():
    text = json.dumps(restricted_contact_card({**RESTRICTED, "knownTo": ["A", "B", "C"]}, NOW))
    assert "A, B and C" in text


def test_unknown_card_with_and_without_account():
    with_acct = json.dumps(unknown_sender_card(UNKNOWN, NOW))
    assert "Not yet known to the firm" in with_acct and "NewCo" in with_acct and "prospect" in with_acct
    bare = json.dumps(unknown_sender_card({**UNKNOWN, "account": None}, NOW))
    assert "Not yet known to the firm" in bare and "organisation" not in bare


def test_plain_strips_controls_and_truncates():
    # NUL is removed like every control character (rapport.text.clean); line breaks and tabs fold to one space
    assert plain("a\u202eb\u200bc\x00d\n\te") == "abcd e"
    assert plain("x\ud800y\u2066z") == "xyz"
    assert plain("x" * 300, 10) == "x" * 9 + "\u2026"
    assert plain(None) == ""


def test_when_is_relative_and_pure():
    assert when(NOW, NOW) == "today"
    assert when(NOW - timedelta(days=1), NOW) == "yesterday"
    assert when(NOW + timedelta(days=1), NOW) == "tomorrow"
    assert when(NOW - timedelta(days=5), NOW) == "5 days ago"
    assert when(NOW + timedelta(days=9), NOW) == "in 9 days"
    assert when("2025-01-15T10:00:00Z", NOW) == "15 Jan 2025"
    assert when(None, NOW) == "" and when("garbage", NOW) == ""


def test_common_pieces_for_other_cards():
    c = card([line("hello"), None], [execute("Approve", "approveDraft", {"draftId": "d1", "version": 2})],
             fallback="x", refresh={"action": execute("Refresh", "refresh"), "userIds": []}, originator="orig-1")
    assert c["body"] == [{"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": "hello"}]}]
    assert c["actions"][0]["data"] == {"draftId": "d1", "version": 2}
    assert c["originator"] == "orig-1" and c["refresh"]["action"]["verb"] == "refresh"
