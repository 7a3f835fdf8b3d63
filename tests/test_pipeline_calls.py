"""A recorded phone call stops the enquiry's clock (issue 16, "... or at a recorded phone call"), and
two enquiries of one person merge into the older. Mail through the Graph stand-in (the real
GraphClient, delta sync and capture), an injected clock for the sync and the pipeline's timer, the
real work drain and the local outbox; the call logged through rapport.pipeline.calls, the one path
the card, the sidebar and the bot share (their HTTP and bot tests: test_pipeline_sidebar.py,
test_pipeline_bot.py).

- a new enquiry's clock stopped by a call, credited to the caller (not the owner), its response
  time recorded, the pending acknowledgement dismissed, and a later reply by mail changes nothing;
- a double click logs one call; someone who may not act on the enquiry logs nothing;
- a call with the prospect after the proposal pauses the cadence (no more "I have not heard back"
  touches) and tells the owner when a colleague logged it; a call before the proposal does not;
- the call is an Interaction owned by the caller, seen under the usual rules (here: a partner the
  caller keeps the contact private from does not see it).
"""

from __future__ import annotations

from datetime import timedelta

from rapport.pipeline import calls, stages
from rapport.pipeline.drafts import draft_id
from rapport.pipeline.timer import timer_pass
from rapport.records import AuditEvent, Contact, Draft, Enquiry, Interaction, contact_id
from rapport.store.scope import ScopedStore
from tests.test_pipeline import T0, TID, cards_to, drain, enquiries, onboard, sync, world  # noqa: F401 - `world`: fixture


async def _new_enquiry(store, graph, graph_standin, firm, sender: str, at):
    anna = firm.partners[0]
    graph_standin.put_message(anna.mailbox, "inbox", sender=sender, to=[anna.person.upn], subject="Design filing",
                              at=at, conversation=f"conv-{sender}")
    await sync(store, graph, firm, 0, at + timedelta(minutes=1))
    return next(e for e in await enquiries(store) if e.contactId == contact_id(sender))


async def test_a_call_stops_the_clock_credited_to_the_caller(capture_store, graph, graph_standin, world):  # noqa: F811
    store, firm = capture_store, world
    anna, ben, bd = (p.person for p in firm.partners)
    await onboard(store, graph, firm)
    e = await _new_enquiry(store, graph, graph_standin, firm, "dora@newco.example", T0 + timedelta(minutes=5))
    assert e.ownerOid == anna.oid and e.clock_running
    # At 2 working hours the acknowledgement waits on Anna's approval card.
    assert (await timer_pass(store, T0 + timedelta(hours=2, minutes=10), kick=False)).acknowledgements == 1
    ack = await store.get(Draft, TID, draft_id(e.id, "ack"))
    assert ack.state == "drafted"

    # Business development phoned them: the call stops the clock, credited to them.
    at = T0 + timedelta(hours=2, minutes=30)
    out = await calls.log_call(store, TID, bd.oid, e.id, note="Spoke about the filing", now=at)
    assert out.status == "ok" and "clock stopped" in out.message and "2 h 25 min" in out.message
    e = await store.get(Enquiry, TID, e.id)
    assert (e.firstResponseAt, e.firstResponderOid, e.firstResponseChannel) == (at, bd.oid, "call")
    assert e.responseSeconds == 2 * 3600 + 25 * 60 and not e.clock_running and e.ownerOid == anna.oid
    [call] = [ix for ix in await store.find_all(Interaction, TID, key=f"ct:{e.contactId}") if ix.channel == "call"]
    assert (call.ownerOid, call.direction, call.at, call.text, call.accountIds) == (
        bd.oid, "outbound", at, "Spoke about the filing", [e.accountId])
    # The acknowledgement is no longer needed: dismissed, and its card says so.
    assert (await store.get(Draft, TID, ack.id)).state == "dismissed"
    assert any(a.action == "enquiry.call" and a.actorOid == bd.oid for a in await store.find_all(AuditEvent, TID))

    # A double click (the same minute) logs one call; a later call or reply does not move the clock.
    again = await calls.log_call(store, TID, bd.oid, e.id, now=at + timedelta(seconds=20))
    assert again.status == "already"
    later = await calls.log_call(store, TID, anna.oid, e.id, now=at + timedelta(hours=1))
    assert later.status == "ok" and "clock" not in later.message
    # Ben is a partner, neither the owner nor her delegate: he may not change the enquiry, but a call
    # he made is his to log (as his reply by mail would count), and it moves nothing of the clock.
    assert (await stages.change_stage(store, TID, ben.oid, e.id, "proposal")).status == "refused"
    bens = await calls.log_call(store, TID, ben.oid, e.id, now=at + timedelta(hours=1, minutes=5))
    assert bens.status == "ok" and "clock" not in bens.message
    graph_standin.put_message(firm.partners[0].mailbox, "sentitems", sender=anna.upn, to=["dora@newco.example"],
                              subject="RE: Design filing", at=at + timedelta(hours=2), reply=True)
    await sync(store, graph, firm, 0, at + timedelta(hours=2, minutes=5))
    e = await store.get(Enquiry, TID, e.id)
    assert (e.firstResponseAt, e.firstResponderOid) == (at, bd.oid)
    assert len([ix for ix in await store.find_all(Interaction, TID, key=f"ct:{e.contactId}")
                if ix.channel == "call"]) == 3
    r = await timer_pass(store, T0 + timedelta(hours=6), kick=False)
    assert (r.acknowledgements, r.overdue) == (0, 0)

    # Bad input: no id, a bad id, a bad note: nothing written.
    assert (await calls.log_call(store, TID, anna.oid, "")).status == "invalid"
    assert (await calls.log_call(store, TID, anna.oid, None)).status == "invalid"
    assert (await calls.log_call(store, TID, anna.oid, "eq_nope")).status == "not_found"
    assert (await calls.log_call(store, TID, anna.oid, e.id, note=["x"])).status == "invalid"
    assert (await calls.log_call(store, TID, anna.oid, e.id, note="x" * 2001)).status == "invalid"


async def test_a_call_after_the_proposal_pauses_the_cadence(capture_store, graph, graph_standin, world):  # noqa: F811
    store, firm = capture_store, world
    anna, _, bd = (p.person for p in firm.partners)
    await onboard(store, graph, firm)
    e = await _new_enquiry(store, graph, graph_standin, firm, "finn@prospect.example", T0 + timedelta(minutes=5))
    # A call before the proposal: the clock stops, the cadence has not started and is not paused.
    out = await calls.log_call(store, TID, anna.oid, e.id, now=T0 + timedelta(minutes=30))
    assert out.status == "ok" and "paused" not in out.message
    p0 = T0 + timedelta(days=1)
    moved = await stages.change_stage(store, TID, anna.oid, e.id, "proposal", now=p0)
    assert moved.enquiry.cadence_active
    assert (await timer_pass(store, p0 + timedelta(days=3, minutes=1), kick=False)).touches == 1
    # Business development rings the prospect: the cadence pauses and Anna is told.
    out = await calls.log_call(store, TID, bd.oid, e.id, now=p0 + timedelta(days=4))
    assert out.status == "ok" and "paused" in out.message
    e = await store.get(Enquiry, TID, e.id)
    assert e.cadencePausedAt == p0 + timedelta(days=4) and not e.cadence_active
    assert e.firstResponseAt == T0 + timedelta(minutes=30)  # the clock was stopped by the first call
    assert (await timer_pass(store, p0 + timedelta(days=8), kick=False)).touches == 0
    await drain(store)
    assert any("Call logged" in (c.subject or "") for c in await cards_to(store, anna.upn))
    assert not any("Call logged" in (c.subject or "") for c in await cards_to(store, bd.upn))


async def test_the_call_is_seen_under_the_usual_rules(capture_store, graph, graph_standin, world):  # noqa: F811
    store, firm = capture_store, world
    anna, ben, _ = (p.person for p in firm.partners)
    await onboard(store, graph, firm)
    e = await _new_enquiry(store, graph, graph_standin, firm, "gail@quiet.example", T0 + timedelta(minutes=5))
    await calls.log_call(store, TID, anna.oid, e.id, note="PRIVATECALLNOTE", now=T0 + timedelta(minutes=20))

    def keep_private(c: Contact) -> Contact:
        for o in c.owners:
            if o.oid == anna.oid:
                o.visibility = "private"
        return c

    await store.update(Contact, TID, e.contactId, keep_private)
    mine = await ScopedStore(store, TID, anna.oid).interactions_for_contact(e.contactId)
    assert any(ix.text == "PRIVATECALLNOTE" for ix in mine.items)
    theirs = await ScopedStore(store, TID, ben.oid).interactions_for_contact(e.contactId)
    assert not any(ix.channel == "call" for ix in theirs.items)


async def test_a_reopened_enquiry_beside_a_new_one_merges_into_the_older(capture_store, graph, graph_standin,
                                                                          world):  # noqa: F811
    """How two open enquiries of one person come about: the first was marked lost, a colleague logged
    a new one by hand, then the first came back. The card says so; merging keeps the older."""
    from rapport.pipeline import notify
    from tests.test_followups import card_texts

    store, firm = capture_store, world
    anna, ben, bd = (p.person for p in firm.partners)
    await onboard(store, graph, firm)
    first = await _new_enquiry(store, graph, graph_standin, firm, "hugo@twice.example", T0 + timedelta(minutes=5))
    await calls.log_call(store, TID, anna.oid, first.id, now=T0 + timedelta(minutes=50))
    await stages.change_stage(store, TID, anna.oid, first.id, "lost", reason="went quiet", now=T0 + timedelta(days=1))
    second = (await stages.log_by_hand(store, TID, ben.oid, "hugo@twice.example", "Hugo",
                                       subject="Hugo again", now=T0 + timedelta(days=2))).enquiry
    assert second.id != first.id and second.ownerOid == ben.oid
    await stages.change_stage(store, TID, anna.oid, first.id, "needs_analysis", now=T0 + timedelta(days=3))
    assert [e.id for e in await stages.open_enquiries_of(store, TID, bd.oid, first.contactId)] == [first.id, second.id]

    # Ben's card for his enquiry says the person has another open one and offers the merge.
    card = await notify.card_for(store, await store.get_tenant(TID), await store.get(Enquiry, TID, second.id), ben,
                                 now=T0 + timedelta(days=3))
    assert "Also open for this person" in " ".join(card_texts(card))
    [merge] = [a for a in _actions(card) if a.get("verb") == "enquiry.merge"]
    assert merge["data"] == {"enquiryId": second.id, "otherId": first.id}
    # Ben may not act on Anna's enquiry: refused, nothing changed.
    out = await stages.merge_duplicate(store, TID, ben.oid, **_ids(merge))
    assert out.status == "refused" and len(await stages.open_enquiries_of(store, TID, bd.oid, first.contactId)) == 2
    # Business development merges (either way round): the older is kept, with the further stage.
    out = await stages.merge_duplicate(store, TID, bd.oid, first.id, second.id, now=T0 + timedelta(days=3, hours=1))
    assert out.status == "ok" and out.enquiry.id == first.id
    kept, gone = await store.get(Enquiry, TID, first.id), await store.get(Enquiry, TID, second.id)
    assert gone.mergedInto == first.id and not gone.is_open
    assert kept.stage == "needs_analysis" and kept.firstResponseChannel == "call" and kept.ownerOid == anna.oid
    assert [c.stage for c in kept.stageChanges] == ["enquiry", "lost", "enquiry", "needs_analysis"]
    assert [e.id for e in await stages.open_enquiries_of(store, TID, bd.oid, first.contactId)] == [first.id]
    assert (await stages.merge_duplicate(store, TID, bd.oid, first.id, second.id)).status == "not_found"
    assert (await stages.merge_duplicate(store, TID, bd.oid, first.id, "")).status == "invalid"
    card = await notify.card_for(store, await store.get_tenant(TID), kept, anna, now=T0 + timedelta(days=3))
    assert "Also open" not in " ".join(card_texts(card))


def _actions(card):
    from tests.test_cards import nodes

    return [n for n in nodes(card) if n.get("type") == "Action.Execute"]


def _ids(action):
    return {"one_id": action["data"]["enquiryId"], "other_id": action["data"]["otherId"]}
