"""What captured mail means for the pipeline: new enquiries, stopped clocks, paused cadences.

Called by capture (rapport.capture.ingest) once per batch it writes, with the batch's external
mails as (Graph message, Interaction) pairs and the people and companies the round saw for the
first time. Never on a folder's first delta round (a mailbox being onboarded: its history is not a
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
Costs at most two indexed reads per batch (the unanswered and the cadence sets) plus a few reads per
candidate, so capture keeps its throughput (bench/capture.py).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from rapport.capture.names import is_free_mail
from rapport.identity.membership import is_partner
from rapport.pipeline import drafts, notify
from rapport.pipeline.intake import classify
from rapport.records import (
    Account,
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
from rapport.store.base import AlreadyExists, Store

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
                    await drafts.stop_clock(store, firm, e.id, ix.at, mailbox.oid)


async def _prospect_replies(store: Store, firm: Tenant, inbound: list[tuple[dict, Interaction]]) -> None:
    active: dict[str, list[Enquiry]] = {}
    for e in await store.find_all(Enquiry, firm.id, key="cadence:active"):
        if e.contactId:
            active.setdefault(e.contactId, []).append(e)
    if not active:
        return
    for m, ix in inbound:
        cid = _sender_id(m)
        for e in active.get(cid or "", ()):
            if e.proposalAt is None or aware(ix.at) <= aware(e.proposalAt):
                continue

            def pause(x: Enquiry, at: datetime = ix.at) -> Enquiry | None:
                if x.cadencePausedAt is not None:
                    return None
                x.cadencePausedAt = at
                return x

            if await store.update(Enquiry, firm.id, e.id, pause) is not None and e.ownerOid:
                await notify.queue(store, firm.id, e.id, "replied", e.ownerOid)


def _sender_id(msg: dict) -> str | None:
    ea = (msg.get("from") or {}).get("emailAddress") if isinstance(msg.get("from"), dict) else None
    try:
        return contact_id(str(ea.get("address") or "")) if isinstance(ea, dict) else None
    except ValueError:
        return None


async def _intake(store: Store, firm: Tenant, mailbox: Person, inbound: list[tuple[dict, Interaction]],
                  fresh_contacts: set[str], fresh_accounts: set[str], now: datetime) -> int:
    shared = bool(firm.settings.enquiriesMailbox) and mailbox.upn.lower() == firm.settings.enquiriesMailbox.lower()
    first: dict[str, tuple[dict, Interaction, Any]] = {}
    for m, ix in inbound:
        if aware(ix.at) < now - INTAKE_WINDOW:
            continue
        # Capture lists the sender first among the participants: someone the firm already knows is
        # correspondence, not an enquiry (checked before the rest, as most mail is from known people).
        if not shared and (not ix.participants or contact_id(ix.participants[0]) not in fresh_contacts):
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
    people = {p.oid: p for p in await store.people(firm.id) if is_partner(p, firm)}
    opened = 0
    for cid in sorted(first):
        m, ix, verdict = first[cid]
        if await _open(store, firm, mailbox, cid, m, ix, verdict, shared, fresh_accounts, people):
            opened += 1
    return opened


async def _known_by(store: Store, firm: Tenant, acct: str, cid: str, people: dict[str, Person]) -> list[str]:
    """Partners who know this company (owners of its other contacts), best known first."""
    counts: Counter[str] = Counter()
    for c in await store.contacts_of_account(firm.id, acct, limit=200):
        if c.id == cid:
            continue
        for o in c.owners:
            if o.oid in people:
                counts[o.oid] += 1
    return [oid for oid, _ in counts.most_common()]


async def _open(store: Store, firm: Tenant, mailbox: Person, cid: str, m: dict, ix: Interaction, verdict: Any,
                shared: bool, fresh_accounts: set[str], people: dict[str, Person]) -> bool:
    for e in await store.find_all(Enquiry, firm.id, key=f"ct:{cid}:open"):
        if e.mergedInto is None:
            return False  # writing again before anyone answered: the same enquiry
    domain = verdict.sender.rpartition("@")[2]
    acct = None if is_free_mail(domain) else account_id(domain)
    account = await store.get(Account, firm.id, acct) if acct else None
    if account is not None and account.kind in NOT_PROSPECTS:
        return False
    known = await _known_by(store, firm, acct, cid, people) if acct and acct not in fresh_accounts else []
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
    e = Enquiry(id=enquiry_id(firm.id, cid, thread), tenantId=firm.id, accountId=acct, contactId=cid, ownerOid=owner,
                subject=ix.subject, receivedAt=ix.at, source="mailbox" if shared else "mail", reason=", ".join(reasons),
                receivedBy=mailbox.oid, knownBy=known[:5], sourceMessageId=str(m.get("id") or "")[:200],
                conversationId=thread[:200], stageChanges=[StageChange(stage="enquiry", byOid="", at=ix.at)])
    try:
        await store.put(e, create_only=True)
    except AlreadyExists:
        return False  # a replayed page: made the first time
    if owner:
        await notify.queue(store, firm.id, e.id, "new", owner)
    else:
        log.warning("ALERT enquiry %s has no owner: set TenantSettings.intakeRota", e.id, extra={"tenant_id": firm.id})
    return True


__all__ = ["INTAKE_WINDOW", "after_batch", "enquiry_id"]
