"""Issue 12, finding 5 / build item 4: outsider text is data.

Text written outside the firm (meeting and mail subjects, display names, titles, signal summaries)
never brings a link or an address into a draft or a bot reply:
- the template drafter leaves links and addresses out of it;
- the LLM drafter never shows them to the model as record facts, and its output check rejects any
  URL or address that is not firm-authored (the partner's own, the code-chosen recipients);
- the bot's text replies leave them out too and go as plain text (bot/text.py says why).

Real parts throughout: the openai client over HTTP to the OpenAI stand-in, the bot's own trigger
with a Bot Framework token from the identity stand-in, replies recorded by the connector stand-in.
The property tests plant canary host names and addresses in many shapes and search every output
for them.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from rapport import runtime, work
from rapport.drafting import (
    BriefContext,
    ExternalAttendee,
    FollowupContext,
    InteractionNote,
    OpenItem,
    SignalNote,
    TemplateDrafter,
    make_drafter,
)
from rapport.drafting.llm import LlmDrafter, followup_prompt
from rapport.drafting.safety import check_output
from rapport.records import Draft, Tenant, utcnow
from rapport.settings import load_settings
from tests.doubles.openai_server import OpenAIStandIn
from tests.plugins.identity import TENANT_A
from tests.test_bot_auth import PARTNER_OID, bot  # noqa: F401 - the bot fixture, over the real trigger
from tests.test_followups import card_texts, meeting_for, settle
from tests.test_llm_controls import FORBIDDEN

START = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
PARTNER, PARTNER_EMAIL = "Jane Harper", "jane.harper@harperlaw.example"
RECIPIENT = "anna.schmidt@acme.example"
HOSTILE_SUBJECT = "Catch up re https://evil.example/x"
HOSTILE_NAME = "evil.example/login Anna Schmidt"
HOSTILE_TITLE = "Quote request from attacker@evil.example"


def followup_ctx(subject: str = HOSTILE_SUBJECT, name: str = HOSTILE_NAME, title: str = HOSTILE_TITLE,
                 **kw) -> FollowupContext:
    return FollowupContext(
        partner_name=PARTNER, partner_email=PARTNER_EMAIL, meeting_subject=subject, meeting_start=START,
        meeting_end=START + timedelta(hours=1), attendees=(ExternalAttendee(name, RECIPIENT, "Acme GmbH"),),
        recent_subjects=(subject,), open_items=(OpenItem("enquiry", title),), forbidden=FORBIDDEN, **kw)


def brief_ctx(subject: str = HOSTILE_SUBJECT, name: str = HOSTILE_NAME, title: str = HOSTILE_TITLE) -> BriefContext:
    return BriefContext(
        partner_name=PARTNER, meeting_subject=subject, meeting_start=START,
        attendees=(ExternalAttendee(name, RECIPIENT, "Acme GmbH"),),
        last_interactions=(InteractionNote(START - timedelta(days=3), subject, with_name=name),),
        open_items=(OpenItem("enquiry", title),), signals=(SignalNote(name, f"now at {subject}"),),
        forbidden=FORBIDDEN)


def assert_no_evil(*texts: str) -> None:
    for text in texts:
        folded = unicodedata.normalize("NFKC", text).casefold()
        for gone in ("evil.example", "evil", "attacker", "http", "www."):
            assert gone not in folded, (gone, text)


@pytest.fixture
async def llm_server():
    async with OpenAIStandIn(mode="normal") as server:
        yield server


@pytest.fixture
async def drafter(llm_server):
    d = make_drafter(load_settings(llm_server.settings_env()), timeout=5.0)
    assert isinstance(d, LlmDrafter)
    yield d
    await d.aclose()


# --- finding 5: the template drafter ---------------------------------------------------------------

def test_template_followup_leaves_links_and_addresses_out_of_outsider_text():
    d = TemplateDrafter().compose_followup(followup_ctx())
    assert d.subject == "Following our meeting: Catch up re"
    assert d.body.startswith("Dear Anna,\n")
    assert "Thank you for catching up on" in d.body and "- Your enquiry about quote request from\n" in d.body
    assert_no_evil(d.subject, d.body)
    assert "links_removed" in d.flags


def test_template_subject_of_nothing_but_links_reads_neutrally():
    d = TemplateDrafter().compose_followup(followup_ctx(subject="[https://evil.example](https://evil.example/x)"))
    assert d.subject == "Following our meeting on 24 November 2026"
    assert "to discuss" not in d.body
    assert_no_evil(d.subject, d.body)


def test_template_talking_points_leave_links_and_addresses_out():
    tp = TemplateDrafter().compose_talking_points(brief_ctx(), limit=5)
    assert tp.points and "links_removed" in tp.flags
    assert_no_evil(*tp.points)


def test_template_keeps_ordinary_text():
    d = TemplateDrafter().compose_followup(followup_ctx(
        subject="NOVA review: Agreement.pdf, v1.2 (Q3)", name="Dr.Anna Schmidt", title="EU filing e.g. for NOVA"))
    assert d.subject == "Following our meeting: NOVA review: Agreement.pdf, v1.2 (Q3)"
    assert d.body.startswith("Dear Anna,") and "EU filing e.g. for NOVA" in d.body
    assert "links_removed" not in d.flags


# --- finding 5: the LLM drafter and its output check -------------------------------------------------

async def test_llm_drafter_does_not_copy_a_link_from_the_subject(drafter, llm_server):
    # The stand-in's good model copies the meeting subject and the attendees' names into its draft.
    d = await drafter.draft_followup(followup_ctx())
    assert_no_evil(d.subject, d.body)
    records = llm_server.prompts[0].split("<<<RECORDS", 1)[1]
    assert "evil.example" not in records  # the model saw the subject without its link
    assert d.drafter == "llm" and "Catch up re" in d.subject and "links_removed" in d.flags


async def test_llm_talking_points_do_not_copy_a_link_from_record_text(drafter, llm_server):
    tp = await drafter.draft_talking_points(brief_ctx())
    assert_no_evil(*tp.points)


@pytest.mark.parametrize("output, reason", [
    ("Thank you. The slides are at https://evil.example/x for you.", "new_url"),
    ("Thank you. The slides are at evil.example/x for you.", "new_url"),
    ("Thank you. Please write to attacker@evil.example about it.", "new_address"),
])
def test_output_check_flags_a_link_or_address_copied_from_record_text(output, reason):
    # The subject, name and title carry the link and the address; none of them is firm-authored.
    prompt = followup_prompt(followup_ctx(subject="Catch up re https://evil.example/x attacker@evil.example"))
    result = check_output(output, prompt.sources, min_len=10, max_len=3000)
    assert reason in result.reasons and not result.ok


def test_output_check_allows_firm_authored_addresses():
    prompt = followup_prompt(followup_ctx())
    for text in (f"Dear Anna, I copy {RECIPIENT} as agreed.", f"Dear Anna, reach me at {PARTNER_EMAIL}.",
                 "Dear Anna, our news is at https://www.harperlaw.example/news today."):
        result = check_output(text, prompt.sources, min_len=10, max_len=3000)
        assert result.ok, (text, result.reasons)


# --- finding 5: bot text replies over HTTP ----------------------------------------------------------

HOSTILE_MEETING = "Strategy [x](https://evil.example/x) see www.evil.example/login or <attacker@evil.example>"


async def _partner_meeting(store, subject: str, event: str, name: str = "Jane Doe") -> None:
    if await store.get_tenant(TENANT_A) is None:
        await store.put_tenant(Tenant(id=TENANT_A, tenantId=TENANT_A, name="Firm A", domains=["a.test", "firm.test"]))
    meeting = meeting_for(TENANT_A, PARTNER_OID, utcnow() - timedelta(hours=1), event=event, subject=subject,
                          emails=("jane@acme.example",))
    meeting.attendees[3].name = name
    await store.put(meeting)


async def test_bot_follow_up_reply_shows_the_subject_as_plain_text_without_links(bot):  # noqa: F811
    await _partner_meeting(bot.store, HOSTILE_MEETING, "ev-hostile")
    resp = await bot.post(bot.activity(text="follow up jane"))
    assert resp.status_code == 200
    sent = next(s for s in bot.connector.sent if s.text)  # the drain may already have posted the card
    assert sent.text.startswith("Drafting the follow-up to \u201cStrategy x see or\u201d")
    assert_no_evil(sent.text)
    assert sent.activity.get("textFormat") == "plain"  # Teams shows no markdown in it
    await settle()
    await work.drain(bot.store)
    draft = (await bot.store.find(Draft, TENANT_A, limit=10)).items[0]
    assert draft.to == ["jane@acme.example"]  # the code-chosen recipient stays where it belongs
    assert_no_evil(draft.subject, draft.body)
    for s in bot.connector.sent:  # the card the drain delivered, and its notification summary
        assert_no_evil(" ".join(card_texts(s.activity)), str(s.activity.get("summary") or ""))


async def test_bot_no_meeting_reply_echoes_no_link(bot):  # noqa: F811
    await bot.post(bot.activity(text="follow up [me](https://evil.example)"))
    assert "found no meeting" in bot.connector.sent[-1].text
    assert_no_evil(bot.connector.sent[-1].text)
    assert bot.connector.sent[-1].activity.get("textFormat") == "plain"
    await bot.post(bot.activity(text="brief www.evil.example/x"))
    assert "found no meeting" in bot.connector.sent[-1].text
    assert_no_evil(bot.connector.sent[-1].text)


# --- property tests: links and addresses in many shapes ------------------------------------------------

_CANARY = st.text("bcdfghjkmnpqrstvwxz", min_size=4, max_size=6).map(lambda s: "zq" + s)
_TLD = st.sampled_from(["example", "com", "io", "zip", "co.uk", "xn--p1ai", "\u0440\u0444", "EXAMPLE"])
_DOT = st.sampled_from([".", ".", "\u3002", "\uff0e", "\uff61"])
_FULLWIDTH = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in "abcdefghijklmnopqrstuvwxyz:/."})


@st.composite
def hostile(draw) -> tuple[str, str]:
    """(a link or address in some shape, its canary label)."""
    canary = draw(_CANARY)
    label = draw(st.sampled_from([canary, canary.upper(), f"xn--{canary}-9ta", f"{canary}-shop", f"www.{canary}"]))
    host = f"{label}{draw(_DOT)}{draw(_TLD)}"
    path = draw(st.sampled_from(["", "/", "/x", "/login?next=%2F", ":8443/a", "#top"]))
    scheme = draw(st.sampled_from(["https://", "http://", "HTTPS://", "Http://", "ftp://", "//", ""]))
    url = f"{scheme}{host}{path}"
    shape = draw(st.sampled_from([
        "{u}", "({u})", "[{u}]", "<{u}>", "[click here]({u})", "![logo]({u})", "**{u}**", "{u}.",
        "{a}", "<{a}>", "mailto:{a}", "[{a}](mailto:{a})", "{u} {a}", "\u201c{u}\u201d", "{fw}",
        "{zw}",
    ]))
    address = f"{draw(st.sampled_from(['attacker', 'Bob.Smith', 'x+y']))}@{host}"
    text = shape.format(u=url, a=address, fw=f"https://{canary}.example/x".translate(_FULLWIDTH),
                        zw=f"{canary[:2]}\u200b{canary[2:]}.example/x")
    return text, canary


_WORDS = st.lists(st.sampled_from(["Catch", "up", "re", "NOVA", "review", "Q3", "-", ":", "Anna", "Schmidt"]),
                  max_size=4).map(" ".join)


@st.composite
def outsider_texts(draw) -> tuple[str, str, list[str]]:
    """(a subject, a display name, the canaries planted in them)."""
    links = draw(st.lists(hostile(), min_size=1, max_size=3))
    where = draw(st.lists(st.booleans(), min_size=len(links), max_size=len(links)))
    subject, name = [draw(_WORDS)], [draw(_WORDS) or "Anna"]
    for (text, _), in_subject in zip(links, where, strict=True):
        (subject if in_subject else name).append(text)
        (subject if in_subject else name).append(draw(_WORDS))
    return " ".join(subject), " ".join(name), [c for _, c in links]


def assert_no_canary(canaries: list[str], *texts: str) -> None:
    """No planted label in any output, and nothing the link rule would call a link either."""
    for text in texts:
        folded = unicodedata.normalize("NFKC", text).replace("\u200b", "").casefold()
        for canary in canaries:
            assert canary not in folded, (canary, text)
    from rapport.drafting.safety import links_in  # the rule itself, second: the canaries are the oracle

    for text in texts:
        assert not links_in(text), (text, links_in(text))


PROPERTY = hsettings(max_examples=40, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@given(planted=outsider_texts())
@PROPERTY
async def test_property_no_outsider_link_survives_either_drafter(drafter, planted):
    subject, name, canaries = planted
    template = TemplateDrafter()
    d = template.compose_followup(followup_ctx(subject, name, title=subject))
    tp = template.compose_talking_points(brief_ctx(subject, name, title=name), limit=5)
    assert_no_canary(canaries, d.subject, d.body, *tp.points)
    llm = await drafter.draft_followup(followup_ctx(subject, name, title=subject))
    points = await drafter.draft_talking_points(brief_ctx(subject, name, title=name))
    assert_no_canary(canaries, llm.subject, llm.body, *points.points)


@given(planted=outsider_texts())
@PROPERTY
def test_property_output_check_rejects_planted_links_but_not_recipients(planted):
    subject, name, canaries = planted
    prompt = followup_prompt(followup_ctx(subject, name, title=subject))
    for text in (subject, name):
        if any(c in unicodedata.normalize("NFKC", text).replace("\u200b", "").casefold() for c in canaries):
            result = check_output(f"Dear Anna, as discussed: {text} thanks", prompt.sources, min_len=5, max_len=3000)
            assert not result.ok and {"new_url", "new_address", "markup", "remote_content"} & set(result.reasons)
    ok = check_output(f"Dear Anna, I copy {RECIPIENT} and {PARTNER_EMAIL}.", prompt.sources, min_len=5, max_len=300)
    assert ok.ok, ok.reasons


_bot_events = iter(range(10**6))


@given(planted=outsider_texts())
@hsettings(max_examples=15, deadline=None, derandomize=True,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
async def test_property_bot_reply_echoes_no_outsider_link(bot, planted):  # noqa: F811
    subject, name, canaries = planted
    with runtime.override(drafter=TemplateDrafter()):
        await _partner_meeting(bot.store, subject, f"ev-{next(_bot_events)}", name=f"Jane {name}")
        before = len(bot.connector.sent)
        resp = await bot.post(bot.activity(text="follow up jane"))
        assert resp.status_code == 200
        replies = [s for s in bot.connector.sent[before:] if s.text]  # not the card the drain posts
        assert replies and replies[0].text.startswith("Drafting the follow-up to")
        assert all(r.activity.get("textFormat") == "plain" for r in replies if r.text)
        assert_no_canary(canaries, *(r.text for r in replies))
        await settle()


_LINKISH = st.lists(st.sampled_from(list("ab.:/@+<>[]()!-_ 1w") + ["https://", "www.", "\u3002", "\uff0e", "xn--",
                                                                    "\u200b", "\u201c", "\u201d", "\n", "mailto:"]),
                    max_size=30).map("".join)


@given(text=st.one_of(_LINKISH, st.text(max_size=60)))
@hsettings(max_examples=300, deadline=None, derandomize=True)
def test_property_nothing_stripped_is_still_a_link(text):
    from rapport.drafting.safety import links_in, strip_links

    once = strip_links(text)
    assert not links_in(once), (text, once, links_in(once))
    assert strip_links(once) == once
