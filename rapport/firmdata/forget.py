"""Erase one outside person from a firm (`rapport contact forget EMAIL`), and keep them erased.

First a Suppression (keyed by the hash of the firm and the normalized address, holding neither) is
written, so capture drops the address from every later sync (rapport.capture.names.is_suppressed).
Then, what the store holds of them:
- their contact record: deleted;
- interactions and meetings they took part in (found by their contact id): deleted when no one else
  outside the firm took part; otherwise they are taken out (contact ids, participants, attendees,
  organizer) and their name and address are scrubbed from the subject and texts;
- drafts addressed to them (to or cc): deleted; other drafts: their name and address scrubbed;
- signals about them or naming their address: deleted; enquiries and campaigns: unlinked, scrubbed;
- local outbox deliveries and queued work naming them: deleted.
One AuditEvent ("contact.forgotten") records the suppression id and the counts, never the address.

Not reached: a mention of their name in the subject of a mail they did not take part in (that
would take a full read of every interaction of the firm).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from rapport.capture.names import is_internal
from rapport.firmdata import Refused
from rapport.firmdata.portability import _valid_tenant
from rapport.records import (
    AuditEvent,
    Campaign,
    Contact,
    Draft,
    Enquiry,
    Interaction,
    Meeting,
    OutboxItem,
    Signal,
    Suppression,
    WorkItem,
    contact_id,
    normalize_email,
    person_name_key,
    stable_id,
    utcnow,
)
from rapport.store.base import Store

ACTION = "contact.forgotten"
REMOVED = "[removed]"
PAGE = 200


@dataclass
class ForgetReport:
    suppression_id: str
    counts: Counter = field(default_factory=Counter)


class _Scrubber:
    """Replaces the person's address and full names in a text (case-insensitive)."""

    def __init__(self, email: str, names: set[str]) -> None:
        needles = {email} | {n for n in names if person_name_key(n)}  # one-word names would hit strangers
        self._re = re.compile("|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True)), re.IGNORECASE)

    def __call__(self, text: str | None) -> str | None:
        return self._re.sub(REMOVED, text) if text else text

    def mentions(self, text: str) -> bool:
        return bool(self._re.search(text))


async def forget_contact(store: Store, tenant_id: str, email: str, *, actor: str = "cli") -> ForgetReport:
    tenant_id = _valid_tenant(tenant_id)
    try:
        address = normalize_email(email)
    except ValueError:
        raise Refused("not an email address") from None
    firm = await store.get_tenant(tenant_id)
    if firm is None:
        raise Refused(f"no tenant {tenant_id} in this store")
    if is_internal(address.rpartition("@")[2], firm) or await store.person_by_upn(tenant_id, address):
        raise Refused("that address is the firm's own: forget erases people outside the firm")
    sup = Suppression(id=Suppression.id_for(tenant_id, address), tenantId=tenant_id)
    await store.put(sup)  # first: a sync from now on no longer captures them
    report = ForgetReport(sup.id)
    counts = report.counts
    cid = contact_id(address)
    contact = await store.get(Contact, tenant_id, cid)
    names = {contact.name} if contact and contact.name else set()

    # Meetings first: their attendee entries give the names the person went by.
    while True:
        page = await store.find(Meeting, tenant_id, key=f"ct:{cid}", limit=PAGE)
        if not page.items:
            break
        for m in page.items:
            names |= {a.name for a in m.attendees if a.email == address and a.name}
        scrub = _Scrubber(address, names)
        for m in page.items:
            m.attendees = [a for a in m.attendees if a.email != address]
            m.contactIds = [c for c in m.contactIds if c != cid]
            if m.organizerEmail == address:
                m.organizerEmail = ""
            if not m.contactIds:
                await store.delete(Meeting, tenant_id, m.id)
                counts["meetings deleted"] += 1
            else:
                m.subject = scrub(m.subject) or ""
                await store.put(m)
                counts["meetings scrubbed"] += 1
    scrub = _Scrubber(address, names)

    while True:  # each pass deletes the page or takes the person out of it (and so out of the index)
        page = await store.find(Interaction, tenant_id, key=f"ct:{cid}", limit=PAGE)
        if not page.items:
            break
        for ix in page.items:
            ix.contactIds = [c for c in ix.contactIds if c != cid]
            if not ix.contactIds:
                await store.delete(Interaction, tenant_id, ix.id)
                counts["interactions deleted"] += 1
                continue
            ix.participants = [p for p in ix.participants if p != address]
            ix.subject = scrub(ix.subject) or ""
            ix.excerpt, ix.text = scrub(ix.excerpt), scrub(ix.text)
            await store.put(ix)
            counts["interactions scrubbed"] += 1

    # The rest by a scan of each family (bounded ones; keyset paging by id is safe while the scan
    # deletes and rewrites what it has passed).
    async for r in store.scan_records(tenant_id, "drafts"):
        if not isinstance(r, Draft):
            continue
        if address in r.to or address in r.cc:
            await store.delete(Draft, tenant_id, r.id)
            counts["drafts deleted"] += 1
        elif scrub.mentions(r.subject) or scrub.mentions(r.body):
            r.subject, r.body = scrub(r.subject) or "", scrub(r.body) or ""
            await store.put(r)
            counts["drafts scrubbed"] += 1
    async for r in store.scan_records(tenant_id, "signals"):
        if isinstance(r, Signal) and (r.contactId == cid or address in (r.fromValue, r.toValue)
                                      or scrub.mentions(r.summary)):
            await store.delete(Signal, tenant_id, r.id)
            counts["signals deleted"] += 1
    async for r in store.scan_records(tenant_id, "pipeline"):
        if isinstance(r, Enquiry) and (r.contactId == cid or scrub.mentions(r.subject)):
            r.contactId = None if r.contactId == cid else r.contactId
            r.subject = scrub(r.subject) or ""
            await store.put(r)
            counts["enquiries unlinked"] += 1
        elif isinstance(r, Campaign) and cid in r.contactIds:
            r.contactIds = [c for c in r.contactIds if c != cid]
            await store.put(r)
            counts["campaigns unlinked"] += 1
    for family, cls in (("outbox", OutboxItem), ("work", WorkItem)):
        async for r in store.scan_records(tenant_id, family):  # type: ignore[assignment]
            text = r.model_dump_json()
            if isinstance(r, cls) and (cid in text or scrub.mentions(text)):
                await store.delete(cls, tenant_id, r.id)
                counts[f"{family} deleted"] += 1
    if contact is not None:
        await store.delete(Contact, tenant_id, cid)
        counts["contacts deleted"] += 1
    at = utcnow()
    await store.audit(AuditEvent(id=stable_id("au", ACTION, sup.id, at.isoformat()), tenantId=tenant_id, at=at,
                                 actorOid=actor, action=ACTION, targetId=sup.id, details=dict(counts)))
    return report
