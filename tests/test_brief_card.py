"""The brief card (rapport.cards.brief): 1.5, Action.Execute only, minimal data, untrusted text as
text; and rendered in headless Chromium by the Adaptive Cards JS renderer with no parse warnings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rapport.cards.brief import (
    BRIEF_VERBS,
    VERB_OPEN_IN_OUTLOOK,
    VERB_REFRESH_BRIEF,
    brief_card,
    unavailable_card,
)
from tests.test_cards import nodes

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EVIL = "[click me](https://evil.example) **bold** <img src=x onerror=alert(1)>\u202eevil\u200b"
RENDERER = Path(__file__).resolve().parents[1] / "node_modules/adaptivecards/dist/adaptivecards.min.js"

FACTS = {
    "asOf": "2026-03-02T09:00:00.000000Z",
    "timeZone": "Europe/Berlin",
    "internal": False,
    "meeting": {"id": "mt_" + "a" * 32, "subject": f"Portfolio review {EVIL}", "start": "2026-03-02T10:00:00.000000Z",
                "end": "2026-03-02T11:00:00.000000Z", "isOnline": True, "isCancelled": False,
                "webLink": "https://outlook.office365.com/owa/?itemid=AAMk1"},
    "updated": {"previousStart": "2026-03-02T09:30:00.000000Z"},
    "attendees": [
        {"email": "jane@acme.example", "status": "known", "name": f"Jane {EVIL}", "title": "Head of IP",
         "account": {"name": "Acme GmbH", "kind": "client", "domain": "acme.example"},
         "knownBy": [{"name": "Anna Weber", "you": True, "private": False, "lastTouch": "2026-03-01T10:00:00Z",
                      "strength": 80, "label": "strong"},
                     {"name": "Carl Roy", "you": False, "private": True, "lastTouch": None, "strength": None,
                      "label": None}],
         "lastInteractions": [{"at": "2026-03-01T10:00:00Z", "channel": "email", "direction": "inbound",
                               "subject": f"Re: {EVIL}", "text": None, "by": "you"}],
         "signals": [{"kind": "counsel_move", "summary": "Jane moved from Beta AG", "at": "2026-02-20T00:00:00Z"}]},
        {"email": "x@acme.example", "status": "restricted", "name": "X Person", "knownTo": ["Ben Ode"]},
        {"email": "new@newco.example", "status": "unknown", "name": "New Person", "account": None},
    ],
    "accounts": [{"name": "Acme GmbH", "kind": "client", "domain": "acme.example",
                  "pipeline": [{"kind": "opportunity", "title": "Global filing programme", "stage": "pitching",
                                "since": "2026-01-01T00:00:00Z"}],
                  "keyDates": [{"kind": "renewal", "date": "2026-03-20T00:00:00Z", "matter": "ACME word mark",
                                "reference": "TM-1", "soon": True}]}],
    "threads": [{"channel": "email", "subject": "Renewal instructions for ACME", "text": None, "at": "2026-03-01T10:00:00Z",
                 "direction": "inbound", "by": "you", "with": [f"Jane {EVIL}"]}],
    "lastMeeting": {"subject": "Renewals planning", "start": "2026-02-01T10:00:00Z", "followUp": "drafted",
                    "followUpText": "drafted, awaiting your approval", "metBy": ["you", "Carl Roy"], "yours": True},
    "talkingPoints": ["Check instructions on the renewal of ACME word mark.", "Discuss next steps."],
    "drafter": "template", "flags": [],
}
ALLOWED_TYPES = {"AdaptiveCard", "TextBlock", "RichTextBlock", "TextRun", "Container", "ColumnSet", "Column",
                 "Action.Execute"}



def variants():
    return {
        "teams": brief_card(FACTS, NOW, user_ids=["29:user"]),
        "outlook": brief_card(FACTS, NOW, user_ids=["29:user"], originator="6f2c4c2a-originator"),
        "pane": brief_card(FACTS, NOW),
        "open-in-outlook": brief_card(FACTS, NOW, notice="Snoozed.", link=FACTS["meeting"]["webLink"]),
        "minimal": brief_card({**FACTS, "attendees": [], "accounts": [], "lastMeeting": None, "talkingPoints": [],
                               "updated": None}, NOW),
        "unavailable": unavailable_card("This meeting is no longer in your calendar."),
    }


@pytest.mark.parametrize("name", list(variants()))
def test_brief_card_is_1_5_execute_only_minimal_data(name):
    c = variants()[name]
    assert c["type"] == "AdaptiveCard" and c["version"] == "1.5"
    types = {n["type"] for n in nodes(c) if "type" in n}
    assert types <= ALLOWED_TYPES, types - ALLOWED_TYPES
    actions = [n for n in nodes(c) if str(n.get("type", "")).startswith("Action.")]
    assert all(a["type"] == "Action.Execute" and a["verb"] in BRIEF_VERBS for a in actions)
    assert not any("selectAction" in n for n in nodes(c))  # no OpenUrl hiding in a TextRun either
    for a in actions:
        assert set(a["data"]) <= {"meetingId", "minutes"}  # never a tenant, a user or a link


def texts(c) -> str:
    return " ".join(n["text"] for n in nodes(c) if n.get("type") in ("TextRun", "TextBlock"))


def test_to_raise_comes_first_and_each_thread_once():
    c = variants()["teams"]
    headings = [n["text"] for n in nodes(c) if n.get("style") == "heading"]
    assert headings[:3] == ["Meeting brief", "To raise", "Who is coming"]
    assert texts(c).count("Renewal instructions for ACME") == 1


def test_cancelled_meeting_is_marked_with_no_points_and_no_snooze():
    c = brief_card({**FACTS, "meeting": {**FACTS["meeting"], "isCancelled": True}}, NOW)
    assert "Cancelled: this meeting will not take place." in texts(c)
    assert "To raise" not in texts(c) and "Check instructions" not in texts(c)
    assert [a["verb"] for a in c["actions"]] == [VERB_OPEN_IN_OUTLOOK, VERB_REFRESH_BRIEF]


def test_internal_meeting_has_no_brief():
    c = brief_card({**FACTS, "internal": True, "attendees": [], "accounts": [], "threads": [], "lastMeeting": None,
                    "talkingPoints": []}, NOW)
    shown = texts(c)
    assert "Internal meeting: everyone invited is from the firm, so there is no brief to prepare." in shown
    assert "To raise" not in shown and "Who is coming" not in shown and "priorities" not in shown
    assert [a["verb"] for a in c["actions"]] == [VERB_REFRESH_BRIEF]


def test_one_date_style_in_the_partners_zone():
    tokyo = brief_card({**FACTS, "timeZone": "Tokyo Standard Time"}, NOW)
    assert "Today, 19:00\u201320:00" in texts(tokyo)  # 10:00 UTC is 19:00 in Tokyo, the same day
    late = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)  # 01:00 on 3 March in Tokyo: the meeting was "yesterday"
    assert "Yesterday, 19:00" in texts(brief_card({**FACTS, "timeZone": "Asia/Tokyo"}, late))
    assert "Today, 19:00" in texts(brief_card({**FACTS, "timeZone": "UTC", "meeting": {
        **FACTS["meeting"], "start": "2026-03-02T19:00:00Z", "end": "2026-03-02T20:00:00Z"}}, late))
    for c in (tokyo, variants()["teams"]):
        assert "{{DATE(" not in json.dumps(c) and " UTC" not in texts(c) and "2026" not in texts(c)


def test_actions_refresh_and_originator():
    c = variants()["outlook"]
    assert [a["verb"] for a in c["actions"]] == [VERB_OPEN_IN_OUTLOOK, "snoozeBrief", VERB_REFRESH_BRIEF]
    assert c["refresh"] == {"action": {"type": "Action.Execute", "title": "Refresh", "verb": VERB_REFRESH_BRIEF,
                                       "data": {"meetingId": FACTS["meeting"]["id"]}}, "userIds": ["29:user"]}
    assert c["originator"] == "6f2c4c2a-originator"
    assert "originator" not in variants()["teams"] and "refresh" not in variants()["pane"]


def test_untrusted_text_only_in_text_runs():
    c = variants()["teams"]
    blocks = " ".join(n["text"] for n in nodes(c) if n.get("type") == "TextBlock")
    runs = " ".join(n["text"] for n in nodes(c) if n.get("type") == "TextRun")
    assert "evil.example" not in blocks and "Jane" not in blocks and "Portfolio" not in blocks
    assert "[click me](https://evil.example)" in runs
    dumped = json.dumps(c, ensure_ascii=False)
    assert "\u202e" not in dumped and "\u200b" not in dumped


def test_card_shows_the_facts():
    runs = " ".join(n["text"] for n in nodes(variants()["teams"]) if n.get("type") in ("TextRun", "TextBlock"))
    for fact in ("Head of IP", "Acme GmbH", "strong", "Carl Roy", "(private)", "Known to ", "Ben Ode",
                 "ask for an introduction", "Not yet known to the firm", "Jane moved from Beta AG",
                 "Global filing programme", "ACME word mark", "Renewals planning", "drafted, awaiting your approval",
                 "Check instructions on the renewal", "Updated brief: ", "the meeting moved from today, 10:30.", "With you, Carl Roy",
                 "Fri 20 Mar", "Sun 1 Feb", "yesterday"):
        assert fact in runs, fact
    link_runs = " ".join(n["text"] for n in nodes(variants()["open-in-outlook"]) if n.get("type") == "TextRun")
    assert FACTS["meeting"]["webLink"] in link_runs


# --- the Adaptive Cards JS renderer in Chromium ---------------------------------------------------

RENDER = """
(cards) => {
  AdaptiveCards.AdaptiveCard.onProcessMarkdown = (text, result) => { result.didProcess = false; };
  const out = {};
  for (const [name, json] of Object.entries(cards)) {
    const card = new AdaptiveCards.AdaptiveCard();
    card.hostConfig = new AdaptiveCards.HostConfig({ supportsInteractivity: true });
    const context = new AdaptiveCards.SerializationContext();
    card.parse(json, context);
    const events = [];
    for (let i = 0; i < context.eventCount; i++) {
      const e = context.getEventAt(i);
      events.push({ phase: e.phase, event: e.event, message: e.message });
    }
    const validation = card.validateProperties();
    const failures = validation.validationEvents.map((e) => e.message);
    const host = document.createElement("div");
    host.id = "card-" + name;
    const el = card.render();
    if (el) host.appendChild(el);
    document.body.appendChild(host);
    out[name] = { events, failures, text: host.innerText, buttons: host.querySelectorAll("button").length,
                  images: host.querySelectorAll("img").length, links: host.querySelectorAll("a").length };
  }
  return out;
}
"""


@pytest.mark.browser
async def test_cards_render_in_the_adaptive_cards_renderer_without_warnings(page):
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await page.set_content("<!doctype html><html><head><meta charset='utf-8'></head><body></body></html>")
    await page.add_script_tag(content=RENDERER.read_text(encoding="utf-8"))
    result = await page.evaluate(RENDER, variants())
    # Control: the same harness does report a card the renderer cannot fully parse.
    bad = await page.evaluate(RENDER, {"bad": {"type": "AdaptiveCard", "version": "1.5", "body": [
        {"type": "Unheard.Of"}, {"type": "TextBlock", "text": "x", "size": "Huge"}],
        "actions": [{"type": "Action.Execute", "title": "x", "verb": "v"}, {"type": "Action.Nope", "title": "y"}]}})
    assert bad["bad"]["events"] or bad["bad"]["failures"]
    for name, r in result.items():
        assert r["events"] == [], (name, r["events"])
        assert r["failures"] == [], (name, r["failures"])
        assert r["images"] == 0 and r["links"] == 0, name  # the evil markdown/HTML stayed text
    teams = result["teams"]
    assert teams["buttons"] == 3
    assert "Portfolio review [click me](https://evil.example) **bold** <img src=x onerror=alert(1)>" in teams["text"]
    assert "Known to Ben Ode: ask for an introduction." in teams["text"]
    assert "Today, 11:00\u201312:00" in teams["text"]  # 10:00 UTC in Berlin, the partner's zone
    assert "{{DATE(" not in teams["text"] and "{{TIME(" not in teams["text"]  # the renderer formatted the times
    assert dialogs == [] and page.external_requests == []
