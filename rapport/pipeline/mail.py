"""What captured mail means for the pipeline: new enquiries, stopped clocks, paused cadences.

Called by capture (rapport.capture.ingest) once per batch, before the batch's interactions are
written (nothing here reads one back), with the batch's external mails as (Graph message,
Interaction) pairs and the people and companies the round saw for the first time. Never on a folder's first delta round (a mailbox being onboarded: its history is not a
stream of new enquiries), and only for mail received within INTAKE_WINDOW of now.

- A new enquiry: an inbound mail that `intake.classify` accepts, from a person the firm had never
  seen (the contact was created by this round), or any new thread to the firm's enquiries mailbox
  (TenantSettings.enquiriesMailbox). Not from a company the firm files as a foreign associate or
  "other" (vendors). One open enquiry per person: someone who writes again keeps theirs; the id
  is derived from (person, thread), created once, so a replayed delta page creates nothing twice.
- Routing: the sender's company already known (other contacts with owners) is the escalation case:
  the owner is the partner who knows that company best, and the card says who knows it; otherwise
  the partner who received it; otherwise the firm's intake rota (TenantSettings.intakeRota).
- The clock stops at the first mail to the enquirer from anyone at the firm seen in a captured
  mailbox (sent items), credited to that mailbox's partner. A forward inside the firm has no
  outside recipient, so it neither opens nor stops anything.
- A mail from the prospect while the cadence runs pauses it and tells the owner.
Costs capture at most two indexed reads per batch (the unanswered and the cadence sets), and for a
batch with candidates one batched read and two batched writes whatever their number; per mail only
set tests, so capture keeps its throughput (bench/capture.py).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from rapport.capture.names import is_free_mail
from rapport.identity.membership import is_partner
from rapport.pipeline import notify
from rapport.pipeline.intake import classify
from rapport.pipeline.response import pause_cadence, stop_clock
from rapport.records import (
    Account,
    Contact,
    Enquiry,
    Interaction,
    Person,
    StageChange,
    Tenant,
    account_id,
    aware,
    contact_id,
    stable_id,
)
from rapport.store.base import Read, Store

log = logging.getLogger("rapport.pipeline")

INTAKE_WINDOW = timedelta(days=2)
NOT_PROSPECTS = ("foreign_associate", "other")  # routine correspondents, never an enquiry by mail


def enquiry_id(tenant_id: str, cid: str, thread: str) -> str:
    return stable_id("eq", tenant_id, cid, thread)


async def after_batch(store: Store, firm: Tenant, mailbox: Person, folder: str, pairs: list[tuple[dict, Interaction]],
                      *, fresh_contacts: set[str], fresh_accounts: set[str], now: datetime) -> int:
    """Apply one batch of captured mail to the pipeline. Returns how many enquiries it opened."""
    sent = folder.lower() in ("sentitems", "sent", "sent items")
    outbound = [(m, ix) for m, ix in pairs if ix.direction == "outbound"]
    inbound = [] if sent else [(m, ix) for m, ix in pairs if ix.direction == "inbound"]
    if outbound:
        await _replies(store, firm, mailbox, outbound)
    if not inbound:
        return 0
    await _prospect_replies(store, firm, inbound)
    return await _intake(store, firm, mailbox, inbound, fresh_contacts, fresh_accounts, now)


async def _replies(store: Store, firm: Tenant, mailbox: Person, outbound: list[tuple[dict, Interaction]]) -> None:
    running: dict[str, list[Enquiry]] = {}
    for e in await store.find_all(Enquiry, firm.id, key="clock:running"):
        if e.contactId:
            running.setdefault(e.contactId, []).append(e)
    if not running:
        return
    for _, ix in sorted(outbound, key=lambda p: p[1].at):
        for cid in ix.contactIds:
            for e in running.get(cid, ()):
                if aware(ix.at) >= aware(e.receivedAt):
                    await stop_clock(store, firm, e.id, ix.at, mailbox.oid)


async def _prospect_replies(store: Store, firm: Tenant, inbound: list[tuple[dict, Interaction]]) -> None:
    active: dict[str, list[Enquiry]] = {}
    for e in await store.find_all(Enquiry, firm.id, key="cadence:active"):
        if e.contactId:
            active.setdefault(e.contactId, []).append(e)
    if not active:
        return
    for m, ix in inbound:
        # The sender, when a person, is among the contacts capture keyed: a set test spares hashing
        # the sender's address for every mail from someone without an active cadence.
        if active.keys().isdisjoint(ix.contactIds):
            continue
        for e in active.get(_sender_id(m) or "", ()):
            await pause_cadence(store, firm.id, e, ix.at)


def _sender_id(msg: dict) -> str | None:
    ea = (msg.get("from") or {}).get("emailAddress") if isinstance(msg.get("from"), dict) else None
    try:
        return contact_id(str(ea.get("address") or "")) if isinstance(ea, dict) else None
    except ValueError:
        return None


def _account_of(sender: str) -> str | None:
    domain = sender.rpartition("@")[2]
    return None if is_free_mail(domain) else account_id(domain)


async def _intake(store: Store, firm: Tenant, mailbox: Person, inbound: list[tuple[dict, Interaction]],
                  fresh_contacts: set[str], fresh_accounts: set[str], now: datetime) -> int:
    shared = bool(firm.settings.enquiriesMailbox) and mailbox.upn.lower() == firm.settings.enquiriesMailbox.lower()
    if not shared and not fresh_contacts:
        return 0  # nobody new to the firm this round: no candidate (most incremental batches)
    since = now - INTAKE_WINDOW
    first: dict[str, tuple[dict, Interaction, Any]] = {}
    for m, ix in inbound:
        # Capture lists the sender first among the participants: someone the firm already knows is
        # correspondence, not an enquiry. Checked first, as most mail is from known people, and as a
        # set test on the contacts capture keyed (the sender, when a person, is among them) before
        # the exact test on the sender's address.
        if not shared and (fresh_contacts.isdisjoint(ix.contactIds) or not ix.participants
                           or contact_id(ix.participants[0]) not in fresh_contacts):
            continue
        if aware(ix.at) < since:
            continue
        verdict = classify(m, firm, mailbox.upn)
        if not verdict.enquiry:
            continue
        cid = contact_id(verdict.sender)
        if cid not in fresh_contacts and not shared:
            continue
        if cid not in first or aware(ix.at) < aware(first[cid][1].at):
            first[cid] = (m, ix, verdict)
    if not first:
        return 0
    return await _open(store, firm, mailbox, first, shared, fresh_accounts)


async def _open(store: Store, firm: Tenant, mailbox: Person, first: dict[str, tuple[dict, Interaction, Any]],
                shared: bool, fresh_accounts: set[str]) -> int:
    """Open the batch's candidates: what each needs is read in one batch (the partners, each person's
    open enquiries, their companies and the known companies' contacts), the enquiries are written in
    one checked batch (create-only: a replayed page makes nothing twice) and their cards queued in one."""
    cids = sorted(first)
    accts = {cid: _account_of(first[cid][2].sender) for cid in cids}
    every_acct = sorted({a for a in accts.values() if a})
    known_accts = [a for a in every_acct if a not in fresh_accounts]  # a company the round created has no one else
    got = await store.read_many(firm.id, [
        Read(Person, every=True), *(Read(Enquiry, key=f"ct:{cid}:open", every=True) for cid in cids),
        *(Read(Account, record_id=a) for a in every_acct),
        *(Read(Contact, key=f"acct:{a}", newest_first=True, limit=200) for a in known_accts)])
    people = {p.oid: p for p in got[0] if is_partner(p, firm)}
    open_of = dict(zip(cids, got[1:1 + len(cids)], strict=True))
    account_of = dict(zip(every_acct, got[1 + len(cids):1 + len(cids) + len(every_acct)], strict=True))
    contacts_of = dict(zip(known_accts, got[1 + len(cids) + len(every_acct):], strict=True))
    made: list[Enquiry] = []
    for cid in cids:
        m, ix, verdict = first[cid]
        if any(e.mergedInto is None for e in open_of[cid]):
            continue  # writing again before anyone answered: the same enquiry
        acct = accts[cid]
        account = account_of.get(acct) if acct else None
        if account is not None and account.kind in NOT_PROSPECTS:
            continue
        known = _known_by(contacts_of.get(acct) or [], cid, people) if acct else []
        made.append(_enquiry(firm, mailbox, cid, m, ix, verdict, acct, shared, known, people))
    refused = {e.id for e in await store.put_checked([(e, None, True) for e in made])}  # replayed: made before
    opened = [e for e in made if e.id not in refused]
    await notify.queue_many(store, firm.id, [(e.id, "new", e.ownerOid) for e in opened if e.ownerOid])
    for e in opened:
        if not e.ownerOid:
            log.warning("ALERT enquiry %s has no owner: set TenantSettings.intakeRota", e.id,
                        extra={"tenant_id": firm.id})
    return len(opened)


def _known_by(contacts: list[Contact], cid: str, people: dict[str, Person]) -> list[str]:
    """Partners who know this company (owners of its other contacts), best known first."""
    counts: Counter[str] = Counter()
    for c in contacts:
        if c.id == cid:
            continue
        for o in c.owners:
            if o.oid in people:
                counts[o.oid] += 1
    return [oid for oid, _ in counts.most_common()]


def _enquiry(firm: Tenant, mailbox: Person, cid: str, m: dict, ix: Interaction, verdict: Any, acct: str | None,
             shared: bool, known: list[str], people: dict[str, Person]) -> Enquiry:
    """The new enquiry, routed: the partner who knows the company best, else the partner who
    received it, else the intake rota."""
    reasons = ["new thread to the enquiries mailbox" if shared else "new sender", *verdict.reasons]
    if known:
        owner = known[0]
        reasons.append("known company")
    elif not shared and mailbox.oid in people:
        owner = mailbox.oid
    else:
        rota = [oid for oid in firm.settings.intakeRota if oid in people]
        thread = str(m.get("conversationId") or m.get("id"))
        owner = rota[int(stable_id("r", thread)[2:10], 16) % len(rota)] if rota else None
    thread = str(m.get("conversationId") or m.get("internetMessageId") or m.get("id"))
    return Enquiry(id=enquiry_id(firm.id, cid, thread), tenantId=firm.id, accountId=acct, contactId=cid,
                   ownerOid=owner, subject=ix.subject, receivedAt=ix.at, source="mailbox" if shared else "mail",
                   reason=", ".join(reasons), receivedBy=mailbox.oid, knownBy=known[:5],
                   sourceMessageId=str(m.get("id") or "")[:200], conversationId=thread[:200],
                   stageChanges=[StageChange(stage="enquiry", byOid="", at=ix.at)])


__all__ = ["INTAKE_WINDOW", "after_batch", "enquiry_id"]
