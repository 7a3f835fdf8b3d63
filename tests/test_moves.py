"""Counsel moves, from mail in the Graph stand-in to the partners' cards (rapport.relationships.moves).

Capture reads the mailboxes (real GraphClient, msgraph-sdk over HTTP to the stand-in) and writes the
counsel-move Signal of a domain change; the relationships timer pass raises it once: a move card and a
congratulations note through the follow-up approval card to each partner who knows the person, none
to a partner walled from either company, nothing of the old company's matters in anything; "Not a
move" dismisses it for good; an approved note is sent once and the move is tracked as contacted.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from rapport import followups, runtime, work
from rapport.capture import sync
from rapport.records import (
    AuditEvent,
    Draft,
    Enquiry,
    Matter,
    MoveAlert,
    OutboxItem,
    Signal,
    Wall,
    account_id,
    utcnow,
)
from rapport.relationships import audit, moves, timer_pass
from rapport.settings import load_settings

T = "cccccccc-1111-4000-8000-00000000000c"
CANARIES = ("OLDMATTER-CANARY", "OLDREF-CANARY", "OLDENQ-CANARY")


@pytest.fixture
async def moved(capture_store, graph, graph_standin, graph_firm, tmp_path):
    """ann and al know Jane Doe at oldco; Jane now writes to ann and walt from newco; walt is walled
    from newco; al also knows Bob at oldco. Synced from the stand-in."""
    firm = await graph_firm(T, "firm.test", ["ann", "al", "walt"])
    ann, al, walt = firm.partners
    now = utcnow()
    put = graph_standin.put_message
    put(ann.mailbox, "inbox", sender="jane@oldco.test", sender_name="Jane Doe", to=[ann.mailbox.upn],
        subject="Renewals", at=now - timedelta(days=90))
    put(al.mailbox, "inbox", sender="jane@oldco.test", sender_name="Jane Doe", to=[al.mailbox.upn],
        subject="Oppositions", at=now - timedelta(days=80))
    put(al.mailbox, "inbox", sender="bob@oldco.test", sender_name="Bob Stone", to=[al.mailbox.upn],
        subject="Hello", at=now - timedelta(days=70))
    put(ann.mailbox, "inbox", sender="jane@newco.test", sender_name="Jane Doe", to=[ann.mailbox.upn],
        subject="My new role", at=now - timedelta(days=1))
    put(walt.mailbox, "inbox", sender="jane@newco.test", sender_name="Jane Doe", to=[walt.mailbox.upn],
        subject="Hello from newco", at=now - timedelta(hours=20))
    await sync.sync_tenant(capture_store, graph, T)
    old = account_id("oldco.test")
    await capture_store.put(Matter(id="m-old", tenantId=T, accountId=old, title="OLDMATTER-CANARY mark",
                                   reference="OLDREF-CANARY", renewalDate=now + timedelta(days=20)))
    await capture_store.put(Enquiry(id="e-old", tenantId=T, accountId=old, subject="OLDENQ-CANARY filing"))
    await capture_store.put(Wall(id="w-new", tenantId=T, accountIds=[account_id("newco.test")],
                                 screenedOids=[walt.person.oid]))
    settings = load_settings({"RAPPORT_SQLITE_PATH": str(tmp_path / "unused.db")})
    work.load_handlers()  # as the drain timer does: every kind has its handler
    with runtime.override(settings=settings, store=capture_store):
        yield capture_store, firm, now


async def settle() -> None:
    import asyncio

    while work.kicks():
        await asyncio.gather(*work.kicks(), return_exceptions=True)


async def outbox(store) -> list[OutboxItem]:
    return await store.find_all(OutboxItem, T)


async def test_domain_change_raised_once_conflict_safe_walled_get_nothing_and_not_a_move_sticks(moved):
    store, firm, now = moved
    ann, al, walt = (p.person for p in firm.partners)
    [signal] = [s for s in await store.find_all(Signal, T) if s.kind == "counsel_move"]
    assert signal.fromValue == "jane@oldco.test" and signal.toValue == "jane@newco.test"

    assert (await timer_pass(store, now, kick=False))["moves"] == 1
    await work.drain(store)
    alert = await store.get(MoveAlert, T, MoveAlert.id_for(signal.id))
    assert sorted(alert.partnerOids) == sorted([ann.oid, al.oid])  # walt knows Jane too, but is walled from newco
    drafts = [await store.get(Draft, T, d) for d in alert.draftIds]
    assert {d.ownerOid for d in drafts} == {ann.oid, al.oid}
    for d in drafts:
        assert d.purpose == "counsel_move" and d.to == ["jane@newco.test"] and d.state == "drafted"
        assert d.body.startswith("Dear Jane,") and "Newco" in d.subject
        assert "oldco" not in (d.subject + d.body).lower()
    items = await outbox(store)
    everything = json.dumps([i.model_dump(mode="json") for i in items]) + json.dumps(
        [d.model_dump(mode="json") for d in drafts])
    assert not [c for c in CANARIES if c in everything]  # nothing of the old employer's matters
    assert not [i for i in items if walt.upn in i.to]  # the walled partner got nothing
    to_ann = [i for i in items if ann.upn in i.to]
    assert sorted(i.subject for i in to_ann) == ["A contact of yours moved", "Follow-up to approve: " + drafts[0].subject
                                                 if drafts[0].ownerOid == ann.oid else
                                                 "Follow-up to approve: " + drafts[1].subject]
    move_card = next(i.card for i in to_ann if i.subject == "A contact of yours moved")
    text = json.dumps(move_card)
    assert "Jane Doe" in text and "Oldco" in text and "Newco" in text
    assert "Who replaces them?" in text and "knows 1 other there" in text  # al knows Bob there (at Oldco)
    # the next passes raise nothing more
    assert (await timer_pass(store, now + timedelta(minutes=15), kick=False))["moves"] == 0
    await work.drain(store)
    assert len(await outbox(store)) == len(items)

    # "Not a move" (a false detection): dismissed, the notes skipped, never raised again
    assert (await moves.dismiss(store, T, walt.oid, alert.id)).status == "not_found"
    out = await moves.dismiss(store, T, ann.oid, alert.id)
    assert out.status == "ok" and out.alert.state == "dismissed"
    assert {(await store.get(Draft, T, d)).state for d in alert.draftIds} == {"dismissed"}
    card = await moves.card_for(store, out.alert, ann.oid)
    assert "Not a move" in json.dumps(card) and "move.dismiss" not in json.dumps(card)
    await store.delete(Signal, T, signal.id)  # capture re-derives the signal: same id, still dismissed
    await store.put(signal)
    assert (await timer_pass(store, now + timedelta(hours=1), kick=False))["moves"] == 0
    assert {e.action for e in await store.find_all(AuditEvent, T)} >= {"move.raised", "move.dismissed"}


async def test_the_approved_note_is_sent_once_and_the_move_is_tracked_as_contacted(moved):
    store, firm, now = moved
    ann = firm.partners[0].person
    await timer_pass(store, now, kick=False)
    await work.drain(store)
    [alert] = await store.find_all(MoveAlert, T)
    did = moves.draft_id(alert.signalId, ann.oid)
    out = await followups.approve(store, T, ann.oid, did, 1)
    assert out.status == "ok"
    out = await followups.approve(store, T, ann.oid, did, 1)  # a double click
    assert out.status == "already"
    for _ in range(3):
        await settle()  # the approval kicked a drain after its answer
        await work.drain(store)
    mails = [i for i in await outbox(store) if i.channel == "mail"]
    assert len(mails) == 1 and mails[0].to == ["jane@newco.test"]
    assert (await store.get(Draft, T, did)).state == "sent"
    await timer_pass(store, now + timedelta(minutes=5), kick=False)
    alert = await store.get(MoveAlert, T, alert.id)
    assert alert.contactedAt is not None
    t = await audit.move_tracking(store, T, now + timedelta(days=1))
    assert (t.raised, t.contacted_7, t.contacted_30, t.dismissed) == (1, 1, 1, 0)
