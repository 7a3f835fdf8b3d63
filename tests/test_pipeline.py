"""The enquiry pipeline end to end: mail through the Graph stand-in (real GraphClient, real delta sync,
real capture), an injected clock for the sync and the pipeline's timer, the real work drain, the
follow-up approval and its exactly-once send to the local outbox.

Scenarios (issue 16): new sender -> enquiry -> card at once -> acknowledgement draft at 2 h ->
approved -> sent once -> clock stopped, response time recorded; a colleague's reply in sent items
stops the clock and is credited to them; known-account escalation; an internal forward, an
auto-reply and a newsletter open nothing; the enquirer writing again keeps one enquiry; a replayed
delta round creates nothing twice; the cadence after a proposal, paused by the prospect's reply;
the fifth touch asks the owner; walls: a walled partner is never told.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from rapport import followups, runtime, work
from rapport.capture.sync import sync_mailbox
from rapport.followups import sending
from rapport.pipeline import stages
from rapport.pipeline.clock import Hours, working_seconds
from rapport.pipeline.drafts import UNSAFE_WORDS, draft_id
from rapport.pipeline.timer import timer_pass
from rapport.records import (
    Account,
    AuditEvent,
    Draft,
    Enquiry,
    OutboxItem,
    Wall,
    account_id,
    contact_id,
    stable_id,
)
from rapport.settings import load_settings
from tests.test_followups import card_texts

# Monday 30 November 2026, 09:00 UTC; the firm works 09:00-18:00 UTC, Monday to Friday.
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
TID = "t-pipe"


@pytest.fixture
async def world(capture_store, graph, graph_standin, graph_firm, tmp_path):
    settings = load_settings({"RAPPORT_SQLITE_PATH": str(tmp_path / "x.db")})
    with runtime.override(settings=settings, store=capture_store, mail_transport=sending.LocalOutboxTransport(),
                          send_limiter=sending.RateLimiter()):
        firm = await graph_firm(TID, "firm.example", ["anna", "ben", "bd"])
        bd = firm.partners[2].person
        await capture_store.put(bd.model_copy(update={"role": "bd"}))
        yield firm
        while work.kicks():
            await asyncio.gather(*work.kicks(), return_exceptions=True)


async def drain(store) -> None:
    """The drain, after every background drain the code kicked has finished (kick() only schedules)."""
    while work.kicks():
        await asyncio.gather(*work.kicks(), return_exceptions=True)
    await work.drain(store)
    while work.kicks():
        await asyncio.gather(*work.kicks(), return_exceptions=True)


async def sync(store, graph, firm, who: int, now: datetime):
    f = await store.get_tenant(firm.id)
    p = await store.get_person(firm.id, firm.partners[who].person.oid)
    return await sync_mailbox(store, graph, f, p, kinds=("messages",), now=now)


async def onboard(store, graph, firm, now=T0 - timedelta(days=1)):
    """Every mailbox's first round (history: never enquiries)."""
    for i in range(len(firm.partners)):
        await sync(store, graph, firm, i, now)


async def enquiries(store) -> list[Enquiry]:
    return await store.find_all(Enquiry, TID)


async def cards_to(store, upn: str) -> list[OutboxItem]:
    items = await store.find_all(OutboxItem, TID)
    return [i for i in items if i.channel == "teams" and upn in i.to]


async def mails(store) -> list[OutboxItem]:
    return [i for i in await store.find_all(OutboxItem, TID) if i.channel == "mail"]


async def test_new_sender_to_acknowledgement_sent_once_and_clock_stopped(capture_store, graph, graph_standin, world):
    store, firm = capture_store, world
    anna, ben = firm.partners[0], firm.partners[1]
    graph_standin.put_message(anna.mailbox, "inbox", sender="old.client@known.example", to=[anna.person.upn],
                              subject="Renewal", at=T0 - timedelta(days=5))
    await onboard(store, graph, firm)
    assert await enquiries(store) == []  # history is not a stream of enquiries

    graph_standin.put_message(anna.mailbox, "inbox", sender="carla@newco.example", sender_name="Carla Nuevo",
                              to=[anna.person.upn], subject="Trade mark clearance for a new brand",
                              at=T0 + timedelta(minutes=5), conversation="conv-carla")
    report = await sync(store, graph, firm, 0, T0 + timedelta(minutes=10))
    assert report.ingested.enquiries == 1
    [e] = await enquiries(store)
    assert (e.ownerOid, e.stage, e.contactId, e.source) == (anna.person.oid, "enquiry", contact_id("carla@newco.example"),
                                                           "mail")
    assert e.reason.startswith("new sender") and "first thread" in e.reason
    assert e.receivedAt == T0 + timedelta(minutes=5) and e.firstResponseAt is None

    # The owner's card at once (the drain after capture), saying why.
    await drain(store)
    [card] = await cards_to(store, anna.person.upn)
    texts = " ".join(card_texts(card.card))
    assert "New enquiry" in texts and "Carla Nuevo" in texts and "new sender" in texts and "Reply " in texts  # due, or overdue by the real clock

    # The enquirer writes again before anyone answered: still one enquiry.
    graph_standin.put_message(anna.mailbox, "inbox", sender="carla@newco.example", to=[anna.person.upn],
                              subject="Trade mark clearance (more details)", at=T0 + timedelta(minutes=40),
                              conversation="conv-carla-2")
    await sync(store, graph, firm, 0, T0 + timedelta(minutes=45))
    assert len(await enquiries(store)) == 1

    # Before 2 working hours: nothing; at 2 h: the conflict-safe acknowledgement on the approval card.
    assert (await timer_pass(store, T0 + timedelta(hours=1, minutes=50), kick=False)).acknowledgements == 0
    report = await timer_pass(store, T0 + timedelta(hours=2, minutes=10), kick=False)
    assert report.acknowledgements == 1
    ack = await store.get(Draft, TID, draft_id(e.id, "ack"))
    assert ack is not None and (ack.kind, ack.purpose, ack.enquiryId, ack.state) == ("enquiry_reply", "ack", e.id, "drafted")
    assert ack.to == ["carla@newco.example"] and "conflict_safe" in ack.flags
    assert not any(w in ack.body.lower() for w in UNSAFE_WORDS), ack.body
    assert "conflict checks" in ack.body and anna.person.name in ack.body
    # Running the pass again makes nothing twice.
    assert (await timer_pass(store, T0 + timedelta(hours=2, minutes=15), kick=False)).acknowledgements == 0
    await drain(store)
    approval_cards = [c for c in await cards_to(store, anna.person.upn) if "Acknowledgement" in (c.subject or "")]
    assert len(approval_cards) == 1

    # Approved on the card's verb (twice: a double click), sent exactly once, the clock stopped.
    out = await followups.approve(store, TID, anna.person.oid, ack.id, ack.version)
    assert out.status == "ok"
    again = await followups.approve(store, TID, anna.person.oid, ack.id, ack.version)
    assert again.status == "already"
    await drain(store)
    await drain(store)
    sent = await mails(store)
    assert len(sent) == 1 and sent[0].to == ["carla@newco.example"]
    ack = await store.get(Draft, TID, ack.id)
    e = await store.get(Enquiry, TID, e.id)
    assert ack.state == "sent" and e.firstResponseAt == ack.sentAt and e.firstResponderOid == anna.person.oid
    assert e.responseSeconds == int(working_seconds(Hours.of((await store.get_tenant(TID)).settings), e.receivedAt,
                                                    ack.sentAt))
    assert not e.clock_running
    # The clock stopped: no deadline alert later.
    assert (await timer_pass(store, T0 + timedelta(hours=5), kick=False)).overdue == 0
    del ben


async def test_a_colleagues_reply_stops_the_clock_and_is_credited_to_them(capture_store, graph, graph_standin, world):
    store, firm = capture_store, world
    anna, ben = firm.partners[0], firm.partners[1]
    await onboard(store, graph, firm)
    graph_standin.put_message(anna.mailbox, "inbox", sender="dan@startup.example", to=[anna.person.upn],
                              subject="Patent question", at=T0 + timedelta(minutes=1), conversation="conv-dan")
    await sync(store, graph, firm, 0, T0 + timedelta(minutes=2))
    [e] = await enquiries(store)
    # Anna forwards it inside the firm: no outside recipient, so the clock neither stops nor restarts.
    graph_standin.put_message(anna.mailbox, "sentitems", sender=anna.person.upn, to=[ben.person.upn],
                              subject="FW: Patent question", at=T0 + timedelta(minutes=20))
    graph_standin.put_message(ben.mailbox, "inbox", sender=anna.person.upn, to=[ben.person.upn],
                              subject="FW: Patent question", at=T0 + timedelta(minutes=20))
    await sync(store, graph, firm, 0, T0 + timedelta(minutes=25))
    await sync(store, graph, firm, 1, T0 + timedelta(minutes=25))
    e = await store.get(Enquiry, TID, e.id)
    assert e.firstResponseAt is None and e.receivedAt == T0 + timedelta(minutes=1) and len(await enquiries(store)) == 1
    # Ben answers from his own mailbox: the clock stops, credited to Ben.
    graph_standin.put_message(ben.mailbox, "sentitems", sender=ben.person.upn, to=["dan@startup.example"],
                              subject="RE: Patent question", at=T0 + timedelta(hours=1, minutes=1), reply=True,
                              conversation="conv-dan")
    await sync(store, graph, firm, 1, T0 + timedelta(hours=1, minutes=5))
    e = await store.get(Enquiry, TID, e.id)
    assert e.firstResponseAt == T0 + timedelta(hours=1, minutes=1) and e.firstResponderOid == ben.person.oid
    assert e.responseSeconds == 3600 and e.ownerOid == anna.person.oid
    # Nothing more: no acknowledgement, no deadline alert.
    r = await timer_pass(store, T0 + timedelta(hours=6), kick=False)
    assert (r.acknowledgements, r.overdue) == (0, 0)


async def test_known_account_escalates_to_the_partner_who_knows_it(capture_store, graph, graph_standin, world):
    store, firm = capture_store, world
    anna, ben = firm.partners[0], firm.partners[1]
    for k in range(3):  # Ben has corresponded with Acme for a while
        graph_standin.put_message(ben.mailbox, "inbox", sender=f"p{k}@acme.example", to=[ben.person.upn],
                                  subject=f"Matter {k}", at=T0 - timedelta(days=10 + k))
    await onboard(store, graph, firm)
    graph_standin.put_message(anna.mailbox, "inbox", sender="newperson@acme.example", sender_name="Nadia New",
                              to=[anna.person.upn], subject="New design filing", at=T0 + timedelta(minutes=3))
    await sync(store, graph, firm, 0, T0 + timedelta(minutes=4))
    [e] = await enquiries(store)
    assert e.ownerOid == ben.person.oid and e.knownBy == [ben.person.oid] and "known company" in e.reason
    assert e.receivedBy == anna.person.oid and e.accountId == account_id("acme.example")
    await drain(store)
    [card] = await cards_to(store, ben.person.upn)
    assert "already know" in " ".join(card_texts(card.card))
    assert await cards_to(store, anna.person.upn) == []


async def test_auto_replies_newsletters_loops_vendors_and_replays_open_nothing(capture_store, graph, graph_standin,
                                                                               world):
    store, firm = capture_store, world
    anna = firm.partners[0]
    await store.put(Account.new(TID, "associates.example", name="Foreign Associates", kind="foreign_associate"))
    await onboard(store, graph, firm)
    at = T0 + timedelta(minutes=5)
    box = anna.mailbox
    graph_standin.put_message(box, "inbox", sender="noreply@shop.example", to=[anna.person.upn], subject="Your order", at=at)
    graph_standin.put_message(box, "inbox", sender="x@away.example", to=[anna.person.upn],
                              subject="Automatic reply: Renewal", at=at)
    graph_standin.put_message(box, "inbox", sender="news@letter.example", to=[anna.person.upn],
                              subject="IP weekly", at=at, inference="other")
    graph_standin.put_message(box, "inbox", sender="loop@loop.example", to=[anna.person.upn],
                              subject="RE: RE: your message", at=at, reply=True)
    graph_standin.put_message(box, "inbox", sender="colleague@associates.example", to=[anna.person.upn],
                              subject="Filing receipt", at=at)
    graph_standin.put_message(box, "inbox", sender="bcc@else.example", to=["someone@else.example"],
                              subject="Press release", at=at)
    await sync(store, graph, firm, 0, T0 + timedelta(minutes=10))
    assert await enquiries(store) == []
    # A real one, then the same delta round replayed (the delta link of before it): nothing twice.
    from rapport.records import SyncState

    state = await store.get(SyncState, TID, SyncState.id_for(anna.person.oid, "inbox"))
    graph_standin.put_message(box, "inbox", sender="eve@real.example", to=[anna.person.upn], subject="Help with a filing",
                              at=at)
    await sync(store, graph, firm, 0, T0 + timedelta(minutes=11))
    assert len(await enquiries(store)) == 1
    await store.put(state)  # replay the page from the old delta link
    await sync(store, graph, firm, 0, T0 + timedelta(minutes=12))
    assert len(await enquiries(store)) == 1


async def test_cadence_touches_pause_on_reply_and_the_fifth_asks(capture_store, graph, graph_standin, world):
    store, firm = capture_store, world
    anna = firm.partners[0]
    await onboard(store, graph, firm)
    graph_standin.put_message(anna.mailbox, "inbox", sender="fay@prospect.example", to=[anna.person.upn],
                              subject="Portfolio transfer", at=T0 + timedelta(minutes=5))
    await sync(store, graph, firm, 0, T0 + timedelta(minutes=6))
    [e] = await enquiries(store)
    # Stages: skip straight to proposal (recorded with who and when).
    out = await stages.change_stage(store, TID, anna.person.oid, e.id, "proposal", now=T0 + timedelta(days=1))
    assert out.status == "ok" and out.enquiry.proposalAt == T0 + timedelta(days=1)
    assert [(c.stage, c.byOid) for c in out.enquiry.stageChanges][-1] == ("proposal", anna.person.oid)
    assert await store.find_all(AuditEvent, TID, key="action:enquiry.stage")
    base = T0 + timedelta(days=1)
    assert (await timer_pass(store, base + timedelta(days=2), kick=False)).touches == 0
    assert (await timer_pass(store, base + timedelta(days=3, minutes=1), kick=False)).touches == 1
    assert (await timer_pass(store, base + timedelta(days=3, minutes=2), kick=False)).touches == 0  # once
    t1 = await store.get(Draft, TID, draft_id(e.id, "touch:1"))
    assert t1 is not None and t1.kind == "enquiry_reply" and t1.to == ["fay@prospect.example"]
    # Fay replies: the cadence pauses and Anna is told.
    graph_standin.put_message(anna.mailbox, "inbox", sender="fay@prospect.example", to=[anna.person.upn],
                              subject="RE: Portfolio transfer", at=base + timedelta(days=4), reply=True)
    await sync(store, graph, firm, 0, base + timedelta(days=4, minutes=1))
    e = await store.get(Enquiry, TID, e.id)
    assert e.cadencePausedAt == base + timedelta(days=4) and not e.cadence_active
    assert (await timer_pass(store, base + timedelta(days=8), kick=False)).touches == 0
    await drain(store)
    assert any("replied" in (c.subject or "") for c in await cards_to(store, anna.person.upn))

    # Another enquiry whose prospect never answers: five touches, then the owner is asked.
    graph_standin.put_message(anna.mailbox, "inbox", sender="gus@silent.example", to=[anna.person.upn],
                              subject="Brand audit", at=base + timedelta(days=4, hours=1))
    await sync(store, graph, firm, 0, base + timedelta(days=4, hours=2))
    g = next(x for x in await enquiries(store) if x.contactId == contact_id("gus@silent.example"))
    p0 = base + timedelta(days=5)
    await stages.change_stage(store, TID, anna.person.oid, g.id, "proposal", now=p0)
    for d in (3, 7, 14, 30, 60):
        await timer_pass(store, p0 + timedelta(days=d, minutes=1), kick=False)
    g = await store.get(Enquiry, TID, g.id)
    assert [t.n for t in g.touches] == [1, 2, 3, 4, 5]
    assert (await timer_pass(store, p0 + timedelta(days=66), kick=False)).asked == 0
    assert (await timer_pass(store, p0 + timedelta(days=68), kick=False)).asked == 1
    assert (await timer_pass(store, p0 + timedelta(days=69), kick=False)).asked == 0
    await drain(store)
    assert any("Five follow-ups" in (c.subject or "") for c in await cards_to(store, anna.person.upn))
    lost = await stages.change_stage(store, TID, anna.person.oid, g.id, "lost", reason="no answer")
    assert lost.status == "ok" and lost.enquiry.lostReason == "no answer" and not lost.enquiry.is_open


async def test_deadline_tells_owner_and_bd_but_never_the_walled(capture_store, graph, graph_standin, world):
    store, firm = capture_store, world
    anna, ben, bd = (p.person for p in firm.partners)
    await onboard(store, graph, firm)
    graph_standin.put_message(firm.partners[0].mailbox, "inbox", sender="hal@secret.example", to=[anna.upn],
                              subject="Urgent opposition", at=T0 + timedelta(hours=7))  # 16:00: 2 h left today
    await sync(store, graph, firm, 0, T0 + timedelta(hours=7, minutes=1))
    [e] = await enquiries(store)
    await store.put(Wall(id=stable_id("wall", "x"), tenantId=TID, accountIds=[account_id("secret.example")],
                         screenedOids=[bd.oid]))
    # 16:00 Monday + 4 working hours = 11:00 Tuesday (the clock sleeps overnight).
    assert (await timer_pass(store, T0 + timedelta(days=1, hours=1, minutes=59), kick=False)).overdue == 0
    assert (await timer_pass(store, T0 + timedelta(days=1, hours=2, minutes=1), kick=False)).overdue == 1
    assert (await timer_pass(store, T0 + timedelta(days=1, hours=3), kick=False)).overdue == 0
    # An unanswered enquiry from before the clock existed (migrated, seeded) pings nobody.
    await store.put(Enquiry(id="eq_old", tenantId=TID, contactId=contact_id("old@past.example"), ownerOid=anna.oid,
                            receivedAt=T0 - timedelta(days=30), stage="new"))
    r = await timer_pass(store, T0 + timedelta(days=1, hours=4), kick=False)
    assert (r.acknowledgements, r.overdue) == (0, 0)
    await drain(store)
    assert any("not answered in time" in (c.subject or "") for c in await cards_to(store, anna.upn))
    assert await cards_to(store, bd.upn) == []  # walled from the company: the enquiry does not exist for them
    # Through the scoped store too: nothing to change, the same answer as a bad id.
    assert (await stages.change_stage(store, TID, bd.oid, e.id, "instructed")).status == "not_found"
    assert (await stages.change_stage(store, TID, bd.oid, "eq_nope", "instructed")).status == "not_found"
    del ben


async def test_two_enquiries_of_one_person_merge_into_one(capture_store, world):
    store, firm = capture_store, world
    anna, ben = firm.partners[0].person, firm.partners[1].person
    cid = contact_id("ivy@twice.example")
    first = Enquiry(id="eq_a", tenantId=TID, contactId=cid, ownerOid=anna.oid, subject="first", receivedAt=T0,
                    stageChanges=[])
    second = Enquiry(id="eq_b", tenantId=TID, contactId=cid, ownerOid=anna.oid, subject="second",
                     receivedAt=T0 - timedelta(hours=3), firstResponseAt=T0 - timedelta(hours=1),
                     firstResponderOid=ben.oid, conflictsCleared=True)
    other = Enquiry(id="eq_c", tenantId=TID, contactId=contact_id("someone@else.example"), ownerOid=anna.oid)
    for e in (first, second, other):
        await store.put(e)
    assert (await stages.merge(store, TID, anna.oid, "eq_a", "eq_c")).status == "invalid"
    assert (await stages.merge(store, TID, anna.oid, "eq_a", "eq_nope")).status == "not_found"
    out = await stages.merge(store, TID, anna.oid, "eq_a", "eq_b")
    assert out.status == "ok"
    kept, gone = await store.get(Enquiry, TID, "eq_a"), await store.get(Enquiry, TID, "eq_b")
    assert kept.receivedAt == T0 - timedelta(hours=3) and kept.firstResponderOid == ben.oid and kept.conflictsCleared
    assert gone.mergedInto == "eq_a" and not gone.is_open
    assert [e.id for e in await store.find_all(Enquiry, TID, key=f"ct:{cid}:open")] == ["eq_a"]
    assert await stages.visible_enquiry(store, TID, anna.oid, "eq_b") is None
