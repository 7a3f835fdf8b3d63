"""Counsel moves from a signature and from a bounce, mail through the Graph stand-in to the partners' cards.

Capture reads the mailboxes (real GraphClient, msgraph-sdk over HTTP to the stand-in); a round plans
single-message reads (rapport.capture.reads) that the drain does (rapport.capture.readers): a known
person's signature once a period, a non-delivery report's text. The relationships timer pass then
raises the moves (rapport.relationships.moves). Checked here: a signature naming another company is a
move (card and congratulations note); another title is a title change the sidebar shows (no card); a
bounce is a card without a note; "Not a move" holds when the same change is read again; a walled
partner gets nothing; the mail's text is kept nowhere (store, logs); the delta never asks for bodies.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

from rapport import followups, runtime, work
from rapport.capture import sync
from rapport.capture.reads import MAX_SIGNATURES
from rapport.cards.contact import known_contact_card
from rapport.graph import MESSAGE_SELECT
from rapport.records import (
    Contact,
    Draft,
    MoveAlert,
    OutboxItem,
    Signal,
    Tenant,
    Wall,
    WorkItem,
    account_id,
    contact_id,
    utcnow,
)
from rapport.relationships import audit, moves, timer_pass
from rapport.settings import load_settings
from rapport.sidebar import compose
from rapport.store import ScopedStore
from tests.doubles.graph_server import ndr_text
from tests.test_forget import everything

T = "dddddddd-1111-4000-8000-00000000000d"
BODY_CANARY = "BODYCANARY-7f3a"  # in every mail's text: must never be stored or logged
DISCLAIMER = ("This e-mail and any attachments are confidential and may be privileged. If you are not the "
              f"intended recipient, please delete it. Ref {BODY_CANARY}.")


def signature_mail(name: str, title: str, company: str) -> str:
    return (f"Hi,\n\nThanks for the draft; comments by Friday ({BODY_CANARY}).\n\nBest regards,\n{name}\n{title}\n"
            f"{company}\nT: +44 20 7946 0000\nwww.{company.split()[0].lower()}.example\n\n{DISCLAIMER}")


@pytest.fixture
async def firm(capture_store, graph, graph_standin, graph_firm, tmp_path):
    """ann, al and walt all know Jane Doe at Oldco; ann knows Rita Roe at Acme and Carl Kent at Oldco; Bob
    at newco-therapeutics.example gives the firm a "Newco Therapeutics" account. walt is walled from
    Oldco, al from Newco Therapeutics. Jane's and Rita's first signatures are read (the baseline)."""
    f = await graph_firm(T, "firm.test", ["ann", "al", "walt"])
    ann, al, walt = f.partners
    now = utcnow()
    put = graph_standin.put_message
    for p, days in ((ann, 20), (al, 19), (walt, 18)):
        put(p.mailbox, "inbox", sender="jane@oldco.example", sender_name="Jane Doe", to=[p.mailbox.upn],
            subject="Renewals", at=now - timedelta(days=days),
            body=signature_mail("Jane Doe", "Head of IP", "Oldco Ltd"))
    put(ann.mailbox, "inbox", sender="rita@acme.example", sender_name="Rita Roe", to=[ann.mailbox.upn],
        subject="Portfolio", at=now - timedelta(days=15), body=signature_mail("Rita Roe", "Senior Counsel", "Acme Ltd"))
    put(ann.mailbox, "inbox", sender="carl@oldco.example", sender_name="Carl Kent", to=[ann.mailbox.upn],
        subject="Hello", at=now - timedelta(days=60), body="Hello\n\nCarl")
    put(ann.mailbox, "inbox", sender="bob@newco-therapeutics.example", sender_name="Bob Stone", to=[ann.mailbox.upn],
        subject="Hi", at=now - timedelta(days=50), body="Hi\n\nBob")
    await capture_store.put(Wall(id="w-old", tenantId=T, accountIds=[account_id("oldco.example")],
                                 screenedOids=[walt.person.oid]))
    await capture_store.put(Wall(id="w-new", tenantId=T, accountIds=[account_id("newco-therapeutics.example")],
                                 screenedOids=[al.person.oid]))
    settings = load_settings({"RAPPORT_SQLITE_PATH": str(tmp_path / "unused.db")})
    work.load_handlers()
    with runtime.override(settings=settings, store=capture_store):
        await sync.sync_tenant(capture_store, graph, T)
        await work.drain(capture_store)
        yield capture_store, f, now


async def a_month_later(store, email: str) -> None:
    """Time passes for one person's signature rule: their last check is a month and a day old."""
    def age(c: Contact) -> Contact:
        c.signature.checkedAt -= timedelta(days=31)
        return c

    await store.update(Contact, T, contact_id(email), age)


async def capture_and_read(store, graph) -> None:
    await sync.sync_tenant(store, graph, T)
    await work.drain(store)


async def test_the_first_read_is_a_baseline_one_get_of_the_new_part_and_nothing_of_the_text_is_kept(
        firm, graph, graph_standin, caplog):
    store, f, now = firm
    jane = await store.get(Contact, T, contact_id("jane@oldco.example"))
    assert (jane.signature.title, jane.signature.company) == ("Head of IP", "Oldco Ltd")
    assert jane.title == "Head of IP"  # nobody set a title: the signature's shows in the sidebar
    assert not [s for s in await store.find_all(Signal, T) if s.via != "domain"]  # a baseline, no change
    # Jane wrote to three partners: one read of one mail of hers, not three (the work key is hers).
    jane_reads = [r for r in graph_standin.message_reads if r["id"] in {
        m["id"] for p in f.partners for m in graph_standin.truth(p.mailbox, "inbox").values()
        if m["from"]["emailAddress"]["address"] == "jane@oldco.example"}]
    assert len(jane_reads) == 1
    read = jane_reads[0]
    assert sorted(read["select"]) == ["from", "receivedDateTime", "uniqueBody"]
    assert 'outlook.body-content-type="text"' in read["prefer"]
    # Carl (60 days ago) and Bob (50) wrote too long ago: an old signature is old news, not read.
    assert len(graph_standin.message_reads) == 2  # Jane's and Rita's
    assert "uniqueBody" not in MESSAGE_SELECT and "body" not in MESSAGE_SELECT  # the delta reads metadata
    # Another round with nothing new reads nothing more.
    with caplog.at_level(logging.DEBUG):
        await a_month_later(store, "rita@acme.example")
        graph_standin.put_message(f.partners[0].mailbox, "inbox", sender="rita@acme.example", sender_name="Rita Roe",
                                  to=[f.partners[0].mailbox.upn], subject="Again", at=now - timedelta(hours=3),
                                  body=signature_mail("Rita Roe", "Senior Counsel", "Acme Ltd"))
        await capture_and_read(store, graph)
        await capture_and_read(store, graph)
    assert len(graph_standin.message_reads) == 3  # Rita's new mail once, then nothing
    assert BODY_CANARY not in await everything(store, T)
    assert BODY_CANARY not in caplog.text and "comments by Friday" not in caplog.text


async def test_a_signature_naming_another_company_is_a_move_with_a_card_and_a_note_walled_partners_get_nothing(
        firm, graph, graph_standin):
    store, f, now = firm
    ann, al, walt = f.partners
    await a_month_later(store, "jane@oldco.example")
    for p in (ann, al, walt):
        graph_standin.put_message(p.mailbox, "inbox", sender="jane@oldco.example", sender_name="Jane Doe",
                                  to=[p.mailbox.upn], subject="News", at=now - timedelta(hours=5),
                                  body=signature_mail("Jane Doe", "General Counsel", "Newco Therapeutics"))
    await capture_and_read(store, graph)
    [signal] = [s for s in await store.find_all(Signal, T) if s.via == "signature"]
    assert signal.kind == "counsel_move" and signal.contactId == contact_id("jane@oldco.example")
    assert (signal.fromValue, signal.toValue) == ("Oldco Ltd", "Newco Therapeutics")
    # The new company is an account the firm has (by its name): a wall on it applies to the move.
    assert set(signal.accountIds) == {account_id("oldco.example"), account_id("newco-therapeutics.example")}

    assert (await timer_pass(store, now, kick=False))["moves"] == 1
    await work.drain(store)
    alert = await store.get(MoveAlert, T, MoveAlert.id_for(signal.id))
    assert alert.partnerOids == [ann.person.oid]  # al is walled from the new company, walt from the old
    [draft] = [await store.get(Draft, T, d) for d in alert.draftIds]
    assert draft.ownerOid == ann.person.oid and draft.to == ["jane@oldco.example"]
    assert draft.subject == "Congratulations on your move to Newco Therapeutics"
    assert draft.accountIds == [account_id("newco-therapeutics.example")]
    assert "oldco" not in (draft.subject + draft.body).lower() and BODY_CANARY not in draft.body
    items = await store.find_all(OutboxItem, T)
    assert not [i for i in items if al.person.upn in i.to or walt.person.upn in i.to]
    card = next(i.card for i in items if ann.person.upn in i.to and i.subject == "A contact of yours moved")
    text = json.dumps(card)
    assert "Oldco Ltd" in text and "Newco Therapeutics" in text and "signature" in text
    # The sidebar shows the move to ann, and nothing of it to walt (walled: Jane does not exist for him).
    facts = await compose(ScopedStore(store, T, ann.person.oid), "jane@oldco.example", now)
    assert [s["kind"] for s in facts["signals"]] == ["counsel_move"]
    assert (await compose(ScopedStore(store, T, walt.person.oid), "jane@oldco.example", now))["status"] == "unknown"
    t = await audit.move_tracking(store, T, now)
    assert (t.raised, t.waiting, t.bounced) == (1, 1, 0)
    # Approved, the note leaves once, to the address she writes from; the move is then contacted.
    assert (await followups.approve(store, T, ann.person.oid, draft.id, 1)).status == "ok"
    for _ in range(3):
        await work.drain(store)
    mails = [i for i in await store.find_all(OutboxItem, T) if i.channel == "mail"]
    assert [m.to for m in mails] == [["jane@oldco.example"]]
    await timer_pass(store, now + timedelta(minutes=15), kick=False)
    assert (await store.get(MoveAlert, T, alert.id)).contactedAt is not None


async def test_another_title_at_the_same_company_is_a_title_change_the_sidebar_shows_without_a_card(
        firm, graph, graph_standin):
    store, f, now = firm
    ann = f.partners[0]
    await a_month_later(store, "rita@acme.example")
    graph_standin.put_message(ann.mailbox, "inbox", sender="rita@acme.example", sender_name="Rita Roe",
                              to=[ann.mailbox.upn], subject="Update", at=now - timedelta(hours=2),
                              body=signature_mail("Rita Roe", "General Counsel", "ACME Limited"))
    await capture_and_read(store, graph)
    [signal] = [s for s in await store.find_all(Signal, T) if s.via == "signature"]
    assert signal.kind == "title_change" and (signal.fromValue, signal.toValue) == ("Senior Counsel", "General Counsel")
    rita = await store.get(Contact, T, contact_id("rita@acme.example"))
    assert rita.title == "General Counsel"
    assert (await timer_pass(store, now, kick=False))["moves"] == 0  # the lighter notice: no card, no note
    await work.drain(store)
    assert not await store.find_all(MoveAlert, T) and not await store.find_all(Draft, T)
    facts = await compose(ScopedStore(store, T, ann.person.oid), "rita@acme.example", now)
    assert facts["contact"]["title"] == "General Counsel"
    assert [(s["kind"], s["summary"]) for s in facts["signals"]] == [
        ("title_change", "Rita Roe is now General Counsel at ACME Limited (previously Senior Counsel)")]
    assert "New title: " in json.dumps(known_contact_card(facts, now))


async def test_a_bounce_from_a_known_address_is_a_card_without_a_note_and_others_give_nothing(
        firm, graph, graph_standin):
    store, f, now = firm
    ann = f.partners[0]
    put = graph_standin.put_message
    # Exchange Online's report: the preview names the address and the reason.
    put(ann.mailbox, "inbox", sender="postmaster@firm.test", sender_name="Microsoft Outlook", to=[ann.mailbox.upn],
        subject="Undeliverable: Renewals", at=now - timedelta(hours=1), body=ndr_text("exchange", "carl@oldco.example"))
    # Nothing for: an address that is no contact, a full mailbox, a report someone else forged.
    put(ann.mailbox, "inbox", sender="postmaster@firm.test", to=[ann.mailbox.upn], subject="Undeliverable: Hi",
        at=now - timedelta(hours=1), body=ndr_text("exchange", "nobody@elsewhere.example"))
    put(ann.mailbox, "inbox", sender="postmaster@firm.test", to=[ann.mailbox.upn], subject="Undeliverable: Hi",
        at=now - timedelta(hours=1), body=ndr_text("exchange", "rita@acme.example", reason="full"))
    put(ann.mailbox, "inbox", sender="mailer-daemon@forger.example", to=[ann.mailbox.upn],
        subject="Mail delivery failed: returning message to sender", at=now - timedelta(hours=1),
        body=ndr_text("exim", "bob@newco-therapeutics.example"))
    await capture_and_read(store, graph)
    [signal] = [s for s in await store.find_all(Signal, T) if s.via == "bounce"]
    assert signal.contactId == contact_id("carl@oldco.example") and signal.kind == "counsel_move"
    assert signal.fromValue == "carl@oldco.example" and signal.toValue == ""
    assert (await store.get(Contact, T, contact_id("carl@oldco.example"))).bouncedAt is not None
    assert (await store.get(Contact, T, contact_id("rita@acme.example"))).bouncedAt is None
    assert (await store.get(Contact, T, contact_id("bob@newco-therapeutics.example"))).bouncedAt is None
    assert await store.get(Contact, T, contact_id("nobody@elsewhere.example")) is None

    assert (await timer_pass(store, now, kick=False))["moves"] == 1
    await work.drain(store)
    [alert] = await store.find_all(MoveAlert, T)
    assert alert.via == "bounce" and alert.partnerOids == [ann.person.oid] and alert.draftIds == []
    assert not await store.find_all(Draft, T)  # nowhere to write to: no note
    [item] = [i for i in await store.find_all(OutboxItem, T) if i.subject == "A contact's address bounced"]
    text = json.dumps(item.card)
    assert "Carl Kent" in text and "may have left" in text and "Oldco" in text and "not known yet" in text
    assert "Not a move" in text and "congratulations note is drafted" not in text
    t = await audit.move_tracking(store, T, now)
    assert (t.raised, t.waiting, t.bounced) == (0, 0, 1)  # nothing to contact them at: not "waiting"
    facts = await compose(ScopedStore(store, T, ann.person.oid), "carl@oldco.example", now)
    assert [s["via"] for s in facts["signals"]] == ["bounce"]
    assert "Bounced: " in json.dumps(known_contact_card(facts, now))


async def test_a_report_whose_preview_does_not_say_is_read_once_more_for_its_text(firm, graph, graph_standin):
    store, f, now = firm
    ann = f.partners[0]
    before = len(graph_standin.message_reads)
    ndr = graph_standin.put_message(
        ann.mailbox, "inbox", sender="mailer-daemon@firm.test", to=[ann.mailbox.upn],
        subject="Mail delivery failed: returning message to sender", at=now - timedelta(hours=1),
        body=ndr_text("postfix", "carl@oldco.example"))
    assert "carl@oldco.example" not in ndr["bodyPreview"]  # the address is further down
    await capture_and_read(store, graph)
    reads = [r for r in graph_standin.message_reads[before:] if r["id"] == ndr["id"]]
    assert [sorted(r["select"]) for r in reads] == [["bodyPreview", "from", "receivedDateTime", "subject"],
                                                    ["uniqueBody"]]
    assert [s.contactId for s in await store.find_all(Signal, T) if s.via == "bounce"] == [
        contact_id("carl@oldco.example")]


async def test_not_a_move_holds_when_the_same_signature_or_bounce_is_read_again(firm, graph, graph_standin):
    store, f, now = firm
    ann = f.partners[0]
    put = graph_standin.put_message

    async def jane_signs(company: str, hours: int) -> None:
        await a_month_later(store, "jane@oldco.example")
        put(ann.mailbox, "inbox", sender="jane@oldco.example", sender_name="Jane Doe", to=[ann.mailbox.upn],
            subject="Note", at=now - timedelta(hours=hours), body=signature_mail("Jane Doe", "Head of IP", company))
        await capture_and_read(store, graph)

    async def carl_bounces(hours: int) -> None:
        put(ann.mailbox, "inbox", sender="postmaster@firm.test", to=[ann.mailbox.upn], subject="Undeliverable: x",
            at=now - timedelta(hours=hours), body=ndr_text("exchange-classic", "carl@oldco.example"))
        await capture_and_read(store, graph)

    await jane_signs("Newco Therapeutics", 10)  # a misreading, say: the partner knows she did not move
    await carl_bounces(9)
    assert (await timer_pass(store, now, kick=False))["moves"] == 2
    for alert in await store.find_all(MoveAlert, T):
        assert (await moves.dismiss(store, T, ann.person.oid, alert.id)).status == "ok"
    # Read again: back to Oldco, then Newco once more (flapping), and another bounce of Carl's address.
    await jane_signs("Oldco Ltd", 8)
    await jane_signs("Newco Therapeutics", 7)
    await carl_bounces(6)
    assert (await timer_pass(store, now + timedelta(minutes=15), kick=False))["moves"] == 0
    assert {a.state for a in await store.find_all(MoveAlert, T)} == {"dismissed"}
    assert len([s for s in await store.find_all(Signal, T) if s.via != "domain"]) == 2


async def test_a_move_seen_from_a_new_domain_makes_a_later_bounce_of_the_old_address_no_news(
        firm, graph, graph_standin):
    store, f, now = firm
    ann = f.partners[0]
    put = graph_standin.put_message
    put(ann.mailbox, "inbox", sender="carl@newco-therapeutics.example", sender_name="Carl Kent", to=[ann.mailbox.upn],
        subject="New role", at=now - timedelta(hours=6), body="Hello\n\nCarl")
    put(ann.mailbox, "inbox", sender="postmaster@firm.test", to=[ann.mailbox.upn], subject="Undeliverable: x",
        at=now - timedelta(hours=1), body=ndr_text("exchange", "carl@oldco.example"))
    await capture_and_read(store, graph)
    kinds = sorted(s.via for s in await store.find_all(Signal, T) if s.contactId in {
        contact_id("carl@oldco.example"), contact_id("carl@newco-therapeutics.example")})
    assert kinds == ["domain"]  # the bounce is marked on the contact, but the move is known already
    assert (await store.get(Contact, T, contact_id("carl@oldco.example"))).bouncedAt is not None


async def test_signature_scan_off_reads_nothing_and_reads_are_capped_per_round(firm, graph, graph_standin):
    store, f, now = firm
    ann = f.partners[0]

    def off(t: Tenant) -> Tenant:
        t.settings.signatureScan = False
        return t

    await store.update(Tenant, T, T, off)
    await a_month_later(store, "rita@acme.example")
    before = len(graph_standin.message_reads)
    graph_standin.put_message(ann.mailbox, "inbox", sender="rita@acme.example", sender_name="Rita Roe",
                              to=[ann.mailbox.upn], subject="x", at=now - timedelta(hours=1),
                              body=signature_mail("Rita Roe", "General Counsel", "Acme Ltd"))
    await capture_and_read(store, graph)
    assert len(graph_standin.message_reads) == before

    def on(t: Tenant) -> Tenant:
        t.settings.signatureScan = True
        return t

    await store.update(Tenant, T, T, on)
    for k in range(MAX_SIGNATURES + 5):
        graph_standin.put_message(ann.mailbox, "inbox", sender=f"person{k}@client{k}.example",
                                  sender_name=f"Person Number{k}", to=[ann.mailbox.upn], subject="x",
                                  at=now - timedelta(minutes=k), body="Hi")
    await sync.sync_tenant(store, graph, T)
    planned = [w for w in await store.find_all(WorkItem, T) if w.kind == "read-signature" and w.state == "queued"]
    assert len(planned) == MAX_SIGNATURES
    # The most recent mail first: person0 .. person19 (and Rita, whose newest mail is older, waits).
    assert {w.payload["contact"] for w in planned} == {contact_id(f"person{k}@client{k}.example")
                                                       for k in range(MAX_SIGNATURES)}
