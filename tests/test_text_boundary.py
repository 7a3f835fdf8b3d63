"""Text at the boundary (issue 12, finding 1): one function, rapport.text.clean, cleans every text
that enters Rapport, so one bad character can no longer take a contact, a folder's sync or a
partner's follow-ups down. Each finding over the real path: the add-in API over HTTP on DevHost,
delta sync from the Graph stand-in, the bot's card invoke at POST /api/messages."""

from __future__ import annotations

import json
import sys
import unicodedata
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.demo import DEMO_TENANT_ID
from rapport import followups, work
from rapport.capture import sync
from rapport.records import Draft, Interaction, contact_id, utcnow
from rapport.text import MARKER, clean, clean_json
from tests.plugins.browser import SHARED_EMAIL
from tests.test_followups import OWNER, TENANT, card_texts, meeting_for, settle
from tests.test_followups_e2e import loop  # noqa: F401 - the bot's HTTP loop fixture
from tests.test_sync import NOW

LONE = "\ud800"  # a lone surrogate: json.dumps writes it as the escape "\ud800", json.loads reads it back
BAD = f"a\x00b\tc\r\nd\u202e e\u200b f\u2066{LONE} g\ufeff"
TOMASZ = "tomasz.wieczorek@ashgrovepell.example"


def bad_json(email: str, text: str) -> bytes:
    raw = json.dumps({"email": email, "text": text}).encode()
    assert b"\\ud800" in raw or LONE not in text  # the escape itself travels, as a hostile client would send it
    return raw


async def post_note(http, pane, raw: bytes, upn: str | None = None):
    headers = {**pane.auth(upn), "Content-Type": "application/json"}
    async with http.post(pane.url("/api/addin/notes"), data=raw, headers=headers) as r:
        return r.status, (await r.json() if r.content_type == "application/json" else await r.text())

# --- finding 1, add-in: a note with a lone surrogate ---------------------------------------------


async def test_note_with_a_lone_surrogate_is_cleaned_and_the_contact_still_answers(demo_pane, http):
    status, body = await post_note(http, demo_pane, bad_json(SHARED_EMAIL, f"x{LONE}y"))
    assert status == 201, body
    assert body["note"]["text"] == "xy"
    notes = [i for i in (await demo_pane.store.interactions_for_contact(
        DEMO_TENANT_ID, contact_id(SHARED_EMAIL), limit=200)).items if i.channel == "note"]
    assert [n.text for n in notes] == ["xy"]
    for upn in (None, TOMASZ):  # the writer and a colleague
        async with http.get(demo_pane.url("/api/addin/context"), params={"email": SHARED_EMAIL},
                            headers=demo_pane.auth(upn)) as r:
            assert r.status == 200, await r.text()


async def test_every_bad_character_in_a_note_is_cleaned_before_it_is_stored(demo_pane, http):
    status, body = await post_note(http, demo_pane, bad_json(SHARED_EMAIL, BAD))
    assert status == 201, body
    text = body["note"]["text"]
    assert text == "ab\tc\nd e f g"
    stored = await demo_pane.store.get(Interaction, DEMO_TENANT_ID, body["id"])
    assert stored.text == text


async def test_a_query_string_with_bad_characters_is_cleaned(demo_pane, http):
    # "\u200b" inside the address: cleaned before the handler sees it, so the sender is found.
    email = SHARED_EMAIL.replace("@", "\u200b@")
    async with http.get(demo_pane.url("/api/addin/context"), params={"email": email},
                        headers=demo_pane.auth()) as r:
        assert r.status == 200, await r.text()
        body = await r.json()
    assert body["email"] == SHARED_EMAIL and body["status"] not in ("unknown", "colleague")


async def test_a_meeting_brief_still_answers_after_a_bad_note(demo_pane, http):
    from tests.test_brief_browser import ELEANOR, get_brief, upcoming

    m = await upcoming(demo_pane, ELEANOR)
    attendee = next(a.email for a in m.attendees if not a.email.endswith("ashgrovepell.example"))
    status, body = await post_note(http, demo_pane, bad_json(attendee, f"before{LONE}after"))
    assert status == 201, body
    status, body = await get_brief(http, demo_pane, m.eventId)
    assert status == 200, body


# --- finding 1, capture: a lone surrogate in a subject from a Graph delta page ------------------


async def test_a_lone_surrogate_in_a_subject_does_not_stall_the_folder(capture_store, graph, graph_standin, graph_firm):
    firm = await graph_firm("t-a", "firm-a.test", ["ann"])
    (ann,) = firm.partners
    mb = ann.mailbox
    bad = graph_standin.put_message(mb, "inbox", sender="p1@client.test", to=[mb.upn], subject=f"x{LONE}y\u202e",
                                    sender_name=f"Jane{LONE}\x00 Doe", at=NOW - timedelta(hours=2))
    (report,) = await sync.sync_tenant(capture_store, graph, "t-a")
    assert report.skipped is None
    # later mail in the same folder is captured by the next round
    later = graph_standin.put_message(mb, "inbox", sender="p2@client.test", to=[mb.upn], subject="later",
                                      at=NOW - timedelta(hours=1))
    (report,) = await sync.sync_tenant(capture_store, graph, "t-a")
    assert report.skipped is None
    got = {i.sourceId: i for i in await capture_store.find_all(Interaction, "t-a")}
    assert got[f"{ann.person.oid}:{bad['id']}"].subject == "xy"
    assert got[f"{ann.person.oid}:{later['id']}"].subject == "later"


# --- finding 1, bot: an edited draft with a lone surrogate ---------------------------------------


async def test_an_edited_draft_with_a_lone_surrogate_keeps_my_followups_working(loop):  # noqa: F811
    await loop.post(loop.activity())
    meeting = meeting_for(TENANT, OWNER, utcnow() - timedelta(hours=1), event="bad-edit")
    await loop.store.put(meeting)
    await followups.timer_pass(loop.store, kick=False)
    await work.drain(loop.store)
    did = followups.draft_id_for(meeting.id, OWNER)
    status, body = await loop.post(loop.invoke("followup.save", {
        "draftId": did, "version": 1, "subject": f"Thanks{LONE}\u2066", "body": f"Dear Jane,\x00\n\nThanks{LONE}.\n\nAda"}))
    assert status == 200, body
    assert "Saved as version 2." in card_texts(body["value"])
    d = await loop.store.get(Draft, TENANT, did)
    assert d is not None and d.subject == "Thanks" and d.body == "Dear Jane,\n\nThanks.\n\nAda"
    before = len(loop.connector.sent)
    status, _ = await loop.post(loop.activity(text="my follow-ups"))
    assert status == 200
    replies = loop.connector.sent[before:]
    assert replies and replies[0].text.startswith("1 follow-up waiting")
    await settle()


async def test_a_bot_message_with_bad_characters_is_cleaned(loop):  # noqa: F811
    await loop.post(loop.activity())
    before = len(loop.connector.sent)
    status, _ = await loop.post(loop.activity(text=f"my fol\u200blow{LONE}-ups\x00"))
    assert status == 200
    # understood as the command, not the help text
    assert loop.connector.sent[before].text == "You have no follow-ups waiting for you."


# --- the function --------------------------------------------------------------------------------

_FORBIDDEN_CATEGORIES = {"Cs", "Cf", "Cc"}


def _bad_char(ch: str, multiline: bool) -> bool:
    if ch in ("\t", "\n") and multiline:
        return False
    return unicodedata.category(ch) in _FORBIDDEN_CATEGORIES or ch in "\u2028\u2029"


text_with_trouble = st.text(
    alphabet=st.one_of(
        st.characters(codec=None),  # any code point, lone surrogates included
        st.sampled_from(list("\x00\t\n\r\x0b\x0c\x85\u2028\u2029\u200b\u200d\u202e\u2066\u2069\ufeff\u00ad"
                             "\ufe0f\u034f\U000e0041\ud800\udfff \u00a0…")),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(text_with_trouble, st.none() | st.integers(min_value=0, max_value=40), st.booleans())
def test_clean_properties(value, limit, multiline):
    out = clean(value, limit=limit, multiline=multiline)
    assert clean(out, limit=limit, multiline=multiline) == out  # idempotent
    assert not any(_bad_char(ch, multiline) for ch in out)
    assert "\r" not in out
    out.encode("utf-8")  # no lone surrogate left: this would raise
    assert json.loads(json.dumps(out)) == out and json.loads(json.dumps(out, ensure_ascii=False)) == out
    if limit is not None:
        assert len(out) <= limit
        full = clean(value, multiline=multiline)
        if len(full) > limit:
            assert out.endswith(MARKER) or limit == 0
        else:
            assert out == full
    # printable text without invisibles passes unchanged
    if value.isprintable() and not any(ch in value for ch in "\u034f\ufe0f") and limit is None:
        assert out == value


def test_clean_examples():
    assert clean("Jane Doe") == "Jane Doe"
    assert clean(f"x{LONE}y") == "xy"
    assert clean("a\r\nb\rc\u2028d") == "a\nb\nc\nd"
    assert clean("a\r\nb\tc", multiline=False) == "a  b c"
    assert clean("pay\u202egnp.exe") == "paygnp.exe"
    assert clean("in\u200bvoice\u00ad") == "invoice"
    assert clean("abcdef", limit=4) == "abc" + MARKER and clean("abcd", limit=4) == "abcd"
    assert clean("Jane\u00a0Doe") == "Jane\u00a0Doe"  # a no-break space is a space, not a trick
    assert clean(None) == "" and clean(7) == "" and clean(b"bytes") == ""
    assert clean_json({f"k{LONE}": [1, None, True, "a\x00b", {"n": "\u2066x"}]}) == {"k": [1, None, True, "ab", {"n": "x"}]}


def test_the_format_characters_listed_cover_this_pythons_unicode():
    from rapport.text import INVISIBLE

    cf = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    missing = [f"U+{ord(c):04X}" for c in cf if not INVISIBLE.fullmatch(c)]
    assert missing == []


@settings(max_examples=200, deadline=None, derandomize=True)
@given(text_with_trouble)
def test_every_cleaning_helper_applies_the_one_rule(value):
    from rapport.capture import clean_name, clean_text, excerpt_of
    from rapport.cards.common import plain
    from rapport.drafting.safety import strip_invisible

    one_line = " ".join(clean(value, multiline=False).split())
    assert clean_text(value) == one_line
    assert plain(value, 10_000) == one_line
    if "<" not in value and "&" not in value:  # excerpts also drop markup and decode entities
        assert (excerpt_of(value) or "") == clean(one_line, limit=200)
    assert clean(clean_name(value)) == clean_name(value)
    stripped, found = strip_invisible(value)
    assert stripped == clean(unicodedata.normalize("NFKC", value).replace("\r\n", "\n").replace("\r", "\n"))
    assert found == (stripped != unicodedata.normalize("NFKC", value).replace("\r\n", "\n").replace("\r", "\n"))


def test_an_answer_holding_a_lone_surrogate_still_encodes():
    from rapport.web import Answer

    assert json.loads(Answer(200, {"subject": f"x{LONE}y", "n": [1, f"{LONE}"]}).encoded()) == {"subject": "xy", "n": [1, ""]}


# --- the fast path of rapport.web.parse_json_body gives what the full path gives -----------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | text_with_trouble | st.text(alphabet="[]{}\"\\ ,:ab", max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text_with_trouble, inner, max_size=4),
    max_leaves=40,
)


def _full_path(raw: bytes):
    from rapport.web import MAX_JSON_DEPTH, _depth

    value = json.loads(raw)
    return None if _depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH else clean_json(value)


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(json_values, st.integers(min_value=0, max_value=40), st.sampled_from(["ascii", "utf-8", "utf-16"]))
def test_a_body_parses_to_the_same_clean_value_on_either_path(value, nest, encoding):
    """parse_json_body skips the walk when the raw body is plain ASCII with no escape (rapport.web._plain):
    for any value, nested to any depth around the limit and encoded any way a client may, the answer
    (a clean value, or 400 "nested too deeply") is exactly the full walk's."""
    from rapport.web import ApiError, parse_json_body

    for _ in range(nest):
        value = [value] if nest % 2 else {"k": value}
    text = json.dumps(value, ensure_ascii=encoding == "ascii")
    try:
        raw = text.encode("utf-16" if encoding == "utf-16" else "utf-8")
    except UnicodeEncodeError:  # a lone surrogate cannot be sent unescaped
        return
    expected = _full_path(raw)
    try:
        got = parse_json_body(raw, "application/json", max_bytes=1 << 20)
    except ApiError as exc:
        assert expected is None and exc.status == 400 and "nested" in exc.message, (exc.message, expected)
    else:
        assert got == expected


def test_the_raw_depth_is_the_depth():
    from rapport.web import MAX_JSON_DEPTH, _depth, _raw_depth

    for depth in (1, 2, 5, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 500):
        value: object = "x]}[{"
        for n in range(depth):
            value = [value, {"a": "}"}] if n % 2 else {"k": value, "z": "[["}
        raw = json.dumps(value).encode()
        assert min(_raw_depth(raw), MAX_JSON_DEPTH + 1) == min(_depth(json.loads(raw), 10_000), MAX_JSON_DEPTH + 1)
