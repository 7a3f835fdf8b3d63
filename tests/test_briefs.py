"""Brief composition (rapport.briefs) on the demo firm: the facts, visibility, walls, canaries.

The demo firm is seeded once (at a fixed `now`) with a second tenant holding canaries under an
address the demo firm also knows; each test works on its own copy. Meetings the tests need are
added as records in the partner's calendar, the way capture writes them.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from local.demo import DEMO_FIRM_DOMAIN, DEMO_PARTNERS, DEMO_TENANT_ID, build_demo, seed_demo
from rapport import briefs
from rapport.cards.brief import brief_card
from rapport.drafting import make_drafter
from rapport.records import Attendee, Draft, Meeting, account_id, contact_id, iso
from rapport.settings import load_settings
from rapport.store import ScopedStore, Store, make_store
from tests.doubles.openai_server import OpenAIStandIn
from tests.plugins.browser import OTHER_CANARY, SHARED_EMAIL, seed_other_tenant

NOW = datetime(2026, 11, 25, 21, 30, tzinfo=UTC)
ELEANOR, TOMASZ, PRIYA, DANIEL = (p[0] for p in DEMO_PARTNERS)  # Daniel is walled from Halcyra
PRIVATE_TO_PRIYA = "theo.castellano@brackenridge.example"
_template: dict[str, Path] = {}


def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo firm (+ the canary firm) seeded once per test process at NOW."""
    if "path" not in _template:
        path = tmp_path_factory.mktemp("brief-demo") / "rapport.db"

        async def seed() -> None:
            store = make_store(load_settings({"RAPPORT_SQLITE_PATH": str(path)}))
            await store.open()
            try:
                await seed_demo(store, now=NOW)
                await seed_other_tenant(store)
            finally:
                await store.close()

        asyncio.run(seed())
        _template["path"] = path
    return _template["path"]


async def open_copy(template: Path, tmp_path: Path) -> Store:
    db = tmp_path / "rapport.db"
    shutil.copyfile(template, db)
    store = make_store(load_settings({"RAPPORT_SQLITE_PATH": str(db)}))
    return await store.open()


def demo() -> object:
    return build_demo(7, NOW)


def first_contact(slug: str) -> str:
    return next(c.email for c in demo().contacts if c.domain == f"{slug}.example")


def meeting(owner: str, event: str, emails: list[str], *, start: datetime, minutes: int = 60,
            subject: str = "Portfolio review", internal: list[str] = (), cancelled: bool = False,
            series: str | None = None) -> Meeting:
    """A calendar item as capture stores it: contacts/accounts are the outside attendees."""
    return Meeting(
        id=Meeting.id_for(owner, event), tenantId=DEMO_TENANT_ID, eventId=event, organizerOid=owner,
        subject=subject, start=start, end=start + timedelta(minutes=minutes),
        attendees=[Attendee(email=e, name=e.split("@")[0].replace(".", " ").title()) for e in [*emails, *internal]],
        contactIds=[contact_id(e) for e in emails],
        accountIds=list(dict.fromkeys(account_id(e.rpartition("@")[2]) for e in emails
                                      if not e.endswith(("gmail.com", "outlook.com")))),
        isCancelled=cancelled, seriesMasterId=series,
        webLink=f"https://outlook.office365.com/owa/?itemid={event}&exvsurl=1",
    )


@pytest.fixture(scope="session")
def brief_demo_db(tmp_path_factory) -> Path:
    return demo_template(tmp_path_factory)  # sync: seeding runs its own event loop, once


@pytest.fixture
async def store(brief_demo_db, tmp_path) -> AsyncIterator[Store]:
    s = await open_copy(brief_demo_db, tmp_path)
    yield s
    await s.close()


CORVINA = first_contact("corvina")  # a client with matter dates and an open opportunity
COLLEAGUE = f"tomasz.wieczorek@{DEMO_FIRM_DOMAIN}"


async def _main_meeting(store: Store) -> Meeting:
    m = meeting(ELEANOR, "AAMkEVmain", [CORVINA, SHARED_EMAIL, PRIVATE_TO_PRIYA],
                start=NOW + timedelta(minutes=40), internal=[COLLEAGUE])
    past = meeting(ELEANOR, "AAMkEVpast", [CORVINA], start=NOW - timedelta(minutes=90), subject="Renewals planning")
    draft = Draft(id="dr_past", tenantId=DEMO_TENANT_ID, ownerOid=ELEANOR, meetingId=past.id, state="drafted",
                  accountIds=past.accountIds, subject="Following our meeting")
    await store.put_many([m, past, draft])
    return m


# --- the facts ---------------------------------------------------------------------------------

async def test_brief_facts_match_the_records(store):
    m = await _main_meeting(store)
    facts = await briefs.build(ScopedStore(store, DEMO_TENANT_ID, ELEANOR), m.id, NOW)
    assert facts is not None
    d = demo()
    people = {a["email"]: a for a in facts["attendees"]}
    assert set(people) == {CORVINA, SHARED_EMAIL, PRIVATE_TO_PRIYA}  # the colleague is no outsider

    corvina = people[CORVINA]
    record = next(c for c in d.contacts if c.email == CORVINA)
    assert corvina["status"] == "known" and corvina["name"] == record.name and corvina["title"] == record.title
    assert corvina["account"]["domain"] == "corvina.example" and corvina["account"]["kind"] == "client"
    stored = await store.contact_by_email(DEMO_TENANT_ID, CORVINA)
    assert sorted(k["name"] for k in corvina["knownBy"]) == sorted(o.name for o in stored.owners)
    assert all(k["strength"] is not None for k in corvina["knownBy"])  # firm-visible owners: strength shown
    assert all(i["at"] <= iso(NOW) for i in corvina["lastInteractions"])  # no coming meeting as "last"

    # Helena moved firms: the counsel-move signal is in her brief.
    helena = people[SHARED_EMAIL]
    assert helena["status"] == "known" and helena["signals"] and helena["signals"][0]["kind"] == "counsel_move"

    # Kept private by Priya: who to ask, nothing else.
    theo = people[PRIVATE_TO_PRIYA]
    assert theo["status"] == "restricted" and theo["knownTo"] == ["Priya Raman"]
    assert "title" not in theo and "account" not in theo and "lastInteractions" not in theo

    # Matters with renewal/opposition dates in the next 12 months, and the open pipeline, per account.
    acct = account_id("corvina.example")
    expected_dates = sorted(
        (iso(when), kind) for mt in d.matters if mt.accountId == acct
        for kind, when in (("renewal", mt.renewalDate), ("opposition", mt.oppositionDeadline))
        if when is not None and NOW <= when < NOW + timedelta(days=365))
    corvina_acct = next(a for a in facts["accounts"] if a["domain"] == "corvina.example")
    assert sorted((k["date"], k["kind"]) for k in corvina_acct["keyDates"]) == expected_dates[:briefs.SHOWN_DATES]
    assert expected_dates  # the demo gives Corvina dates this year: the check above is not vacuous
    open_opps = sorted(o.title for o in d.opportunities if o.accountId == acct and o.is_open)
    assert sorted(p["title"] for p in corvina_acct["pipeline"] if p["kind"] == "opportunity") == open_opps
    cobaltine = next(a for a in facts["accounts"] if a["domain"] == "cobaltine.example")
    open_enq = sorted(e.subject for e in d.enquiries if e.accountId == account_id("cobaltine.example") and e.is_open)
    assert sorted(p["title"] for p in cobaltine["pipeline"] if p["kind"] == "enquiry") == open_enq

    # The last meeting with them, and its follow-up draft's state.
    assert facts["lastMeeting"]["subject"] == "Renewals planning"
    assert facts["lastMeeting"]["followUp"] == "drafted"
    assert 2 <= len(facts["talkingPoints"]) <= 3 and facts["drafter"] == "template"


async def test_followup_state_none_when_no_draft(store):
    m = meeting(ELEANOR, "AAMkEVsolo", [CORVINA], start=NOW + timedelta(minutes=30))
    past = meeting(ELEANOR, "AAMkEVpast2", [CORVINA], start=NOW - timedelta(minutes=80), subject="Catch-up")
    await store.put_many([m, past])
    facts = await briefs.build(ScopedStore(store, DEMO_TENANT_ID, ELEANOR), m.id, NOW)
    assert facts["lastMeeting"]["subject"] == "Catch-up" and facts["lastMeeting"]["followUp"] == "none"


async def test_compose_is_pure(store):
    m = await _main_meeting(store)
    g = await briefs.gather(ScopedStore(store, DEMO_TENANT_ID, ELEANOR), m.id, NOW)
    before = json.dumps(briefs.compose(g, NOW), sort_keys=True)
    await store.close()  # no store behind it any more: compose needs none
    assert json.dumps(briefs.compose(g, NOW), sort_keys=True) == before
    moved = briefs.compose(g, NOW, previous_start=NOW + timedelta(hours=3))
    assert moved["updated"] == {"previousStart": iso(NOW + timedelta(hours=3))}
    await store.open()


# --- visibility and walls ----------------------------------------------------------------------

async def test_another_partners_meeting_is_not_found(store):
    m = await _main_meeting(store)
    assert await briefs.build(ScopedStore(store, DEMO_TENANT_ID, TOMASZ), m.id, NOW) is None
    # Nor by naming Eleanor's event id as his own (the id is derived from the caller).
    assert await briefs.build(ScopedStore(store, DEMO_TENANT_ID, TOMASZ), Meeting.id_for(TOMASZ, m.eventId), NOW) is None


async def test_walled_meeting_is_not_found_and_walled_data_never_shown(store):
    halcyra = first_contact("halcyra")
    walled = meeting(DANIEL, "AAMkEVwalled", [halcyra], start=NOW + timedelta(minutes=20))
    mixed = meeting(DANIEL, "AAMkEVmixed", [CORVINA, halcyra], start=NOW + timedelta(minutes=25))
    clean = meeting(DANIEL, "AAMkEVclean", [CORVINA], start=NOW + timedelta(minutes=30))
    await store.put_many([walled, mixed, clean])
    daniel = ScopedStore(store, DEMO_TENANT_ID, DANIEL)
    assert await briefs.build(daniel, walled.id, NOW) is None
    assert await briefs.build(daniel, mixed.id, NOW) is None
    assert all(m.id not in (walled.id, mixed.id) for m in await briefs.next_meetings(daniel, NOW))
    facts = await briefs.build(ScopedStore(store, DEMO_TENANT_ID, DANIEL), clean.id, NOW)
    assert facts is not None
    shown = json.dumps([facts, brief_card(facts, NOW)], ensure_ascii=False)
    halcyra_matters = [mt for mt in demo().matters if mt.accountId == account_id("halcyra.example")]
    assert halcyra_matters
    for mt in halcyra_matters:
        assert mt.reference not in shown and mt.title not in shown
    assert "Halcyra" not in shown
    # The same meeting for a partner who is not walled shows Halcyra's facts: the check can fail.
    await store.put(meeting(ELEANOR, "AAMkEVhal", [halcyra], start=NOW + timedelta(minutes=20)))
    open_facts = await briefs.build(ScopedStore(store, DEMO_TENANT_ID, ELEANOR), Meeting.id_for(ELEANOR, "AAMkEVhal"), NOW)
    assert "Halcyra" in json.dumps(open_facts)


async def test_other_tenant_canary_absent_from_card_and_prompt(store):
    m = await _main_meeting(store)
    async with OpenAIStandIn() as server:
        drafter = make_drafter(load_settings(server.settings_env("openai")), timeout=5.0)
        try:
            facts = await briefs.build(ScopedStore(store, DEMO_TENANT_ID, ELEANOR), m.id, NOW, drafter=drafter,
                                       forbidden=frozenset({OTHER_CANARY}))
        finally:
            await drafter.aclose()
        assert len(server.requests) == 1  # the model was asked
        prompt = server.prompts[0]
    assert facts["drafter"] == "llm" and facts["talkingPoints"]
    assert "Helena Northcott" in prompt  # the demo firm's own record of the shared address went in
    card = brief_card(facts, NOW)
    for text in (prompt, json.dumps(facts), json.dumps(card)):
        assert OTHER_CANARY not in text


async def test_a_forbidden_value_reaching_the_context_refuses_the_prompt(store):
    """The drafter's backstop: if scoping let a marked value through, no prompt is sent at all."""
    m = await _main_meeting(store)
    async with OpenAIStandIn() as server:
        drafter = make_drafter(load_settings(server.settings_env("openai")), timeout=5.0)
        try:
            facts = await briefs.build(ScopedStore(store, DEMO_TENANT_ID, ELEANOR), m.id, NOW, drafter=drafter,
                                       forbidden=frozenset({"Helena Northcott"}))
        finally:
            await drafter.aclose()
        assert server.requests == []
    assert facts["talkingPoints"] == [] and "refused" in facts["flags"]


async def test_next_meetings_skip_internal_and_cancelled(store):
    internal = meeting(ELEANOR, "AAMkEVint", [], start=NOW + timedelta(minutes=10), internal=[COLLEAGUE])
    cancelled = meeting(ELEANOR, "AAMkEVcan", [CORVINA], start=NOW + timedelta(minutes=11), cancelled=True)
    await store.put_many([internal, cancelled])
    ids = {m.id for m in await briefs.next_meetings(ScopedStore(store, DEMO_TENANT_ID, ELEANOR), NOW)}
    assert internal.id not in ids and cancelled.id not in ids and ids


# --- what the brief shows (issue 14) -------------------------------------------------------------

async def test_last_meeting_is_the_firms_and_says_who_met_them(store):
    m = await _main_meeting(store)  # Eleanor met Corvina 90 minutes ago ("Renewals planning")
    colleague = meeting(PRIYA, "AAMkEVpriya", [CORVINA], start=NOW - timedelta(minutes=70), subject="Priya's lunch")
    # More recent still, but it involves a contact Priya keeps private: Eleanor may not see it.
    private = meeting(PRIYA, "AAMkEVprivate", [CORVINA, PRIVATE_TO_PRIYA], start=NOW - timedelta(minutes=65),
                      subject="PRIVATE-CANARY lunch")
    await store.put_many([colleague, private])
    facts = await briefs.build(ScopedStore(store, DEMO_TENANT_ID, ELEANOR), m.id, NOW)
    last = facts["lastMeeting"]
    assert last["subject"] == "Priya's lunch" and last["metBy"][0] == "Priya Raman" and not last["yours"]
    assert "followUp" not in last  # a colleague's follow-up is theirs to see
    assert "PRIVATE-CANARY" not in json.dumps([facts, brief_card(facts, NOW)])
    # Priya herself sees her own, more recent one: the check above can fail.
    mine = meeting(PRIYA, "AAMkEVmain", [CORVINA], start=NOW + timedelta(minutes=40))
    await store.put(mine)
    theirs = await briefs.build(ScopedStore(store, DEMO_TENANT_ID, PRIYA), mine.id, NOW)
    assert theirs["lastMeeting"]["subject"] == "PRIVATE-CANARY lunch" and theirs["lastMeeting"]["metBy"][0] == "you"


async def test_mail_is_grouped_by_thread_once_for_the_meeting(store):
    m = await _main_meeting(store)
    facts = await briefs.build(ScopedStore(store, DEMO_TENANT_ID, ELEANOR), m.id, NOW)
    keys = [(t["channel"], briefs.thread_key(t["subject"] or t["text"] or "")) for t in facts["threads"]]
    assert facts["threads"] and len(keys) == len(set(keys)) and len(keys) <= briefs.SHOWN_THREADS
    assert [t["at"] for t in facts["threads"]] == sorted((t["at"] for t in facts["threads"]), reverse=True)
    assert all(not t["subject"].lower().startswith(("re:", "fw:")) for t in facts["threads"])
    assert all(t["channel"] != "meeting" for t in facts["threads"])  # meetings: "Last meeting"


def test_threads_merge_replies_across_attendees():
    people = [{"name": n, "lastInteractions": [
        {"at": f"2026-11-2{k}T10:00:00Z", "channel": "email", "direction": "inbound", "subject": s, "by": "you"}
        for k, s in enumerate(subjects)]} for n, subjects in
        (("Ann", ["RE: Filing plan", "Invoice"]), ("Bob", ["Re: re: filing  plan", "FW: Invoice"]), ("Cy", ["Filing plan"]))]
    t = briefs.threads(people)
    assert [x["subject"] for x in t] == ["Invoice", "Filing plan"] and t[1]["with"] == ["Ann", "Bob", "Cy"]


async def test_cancelled_meeting_gets_no_talking_points(store):
    m = meeting(ELEANOR, "AAMkEVcancel", [CORVINA], start=NOW + timedelta(hours=2), cancelled=True)
    await store.put(m)
    facts = await briefs.build(ScopedStore(store, DEMO_TENANT_ID, ELEANOR), m.id, NOW)
    assert facts["meeting"]["isCancelled"] and facts["talkingPoints"] == []
    card = json.dumps(brief_card(facts, NOW))
    assert "Cancelled" in card and "snoozeBrief" not in card


async def test_internal_meeting_has_no_brief(store):
    m = meeting(ELEANOR, "AAMkEVinternal", [], start=NOW + timedelta(hours=1), internal=[COLLEAGUE])
    await store.put(m)
    scoped = ScopedStore(store, DEMO_TENANT_ID, ELEANOR)
    facts = await briefs.build(scoped, m.id, NOW)
    assert facts["internal"] and facts["attendees"] == [] and facts["talkingPoints"] == []
    assert scoped.calls <= 3  # the meeting (and its walls), the viewer's zone: nothing else
    card = json.dumps(brief_card(facts, NOW))
    assert "no brief to prepare" in card and "priorities" not in card and "To raise" not in card
