"""The targeted reads rapport.capture.reads plans: one GET of one message each, read in memory.

- "read-signature": GET /users/{partner}/messages/{id}?$select=from,receivedDateTime,uniqueBody
  (Prefer: outlook.body-content-type="text"); the new part of the mail is parsed for its signature
  (rapport.capture.signatures) and only {title, company, checkedAt} are stored on the contact
  (Contact.signature; Contact.title follows it unless someone set another). Compared with the last
  read: another company (not only another domain) is a counsel move, Signal kind "counsel_move"
  via "signature", the path rapport.relationships.moves raises; another title at the same company is
  a Signal kind "title_change" (the sidebar, the brief and the partner's Monday card show it; no
  Teams card of its own). The first read only sets the baseline.
- "read-bounce": GET the report's from, subject, receivedDateTime and bodyPreview, and its
  uniqueBody only when the preview does not say which address failed and why
  (rapport.capture.bounces). Each bounced address that is a known contact with an owner, reported
  by a system entitled to say so, is marked (Contact.bouncedAt) and gets a Signal kind
  "counsel_move" via "bounce" ("their address at Oldco bounced; they may have moved"), unless a
  move away from that address is known already. Any other address: nothing.

Bodies never leave this module's locals: not stored, not logged, not in telemetry (the work span
names the kind only). A 404 (the mail is gone) or 403 (the firm granted Mail.ReadBasic, which has no
body) ends the item quietly; throttling retries it (rapport.work). Signal ids are stable, written
create-only: a change read again (or flapping back and forth between two readings) is the same
signal, so a move dismissed once is never raised again (rapport.relationships.moves keys its memory
by the signal id).

Registered in rapport.work.HANDLER_MODULES. Imports rapport's records, store, work, graph, identity,
firm.accounts, drafting.safety, and this package's reads, signatures, bounces, names, mapping and
sync (its Graph client).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from rapport import work
from rapport.capture import bounces
from rapport.capture.mapping import parse_graph_time, sender_address
from rapport.capture.names import account_name_from_domain
from rapport.capture.reads import BOUNCE_WORK, SIGNATURE_WORK, checked_recently
from rapport.capture.signatures import SignatureFacts, company_key, parse_signature, same_company, title_key
from rapport.capture.sync import graph_client, is_consent_error
from rapport.drafting.safety import html_to_text
from rapport.firm.accounts import Accounts
from rapport.graph import GraphClient, GraphError
from rapport.identity.membership import is_partner
from rapport.records import (
    Account,
    Contact,
    Signal,
    SignatureSeen,
    Tenant,
    WorkItem,
    aware,
    contact_id,
    person_name_key,
    stable_id,
    utcnow,
)
from rapport.store.base import AlreadyExists, Store

log = logging.getLogger("rapport.capture")

SIGNATURE_FIELDS = ["from", "receivedDateTime", "uniqueBody"]
REPORT_FIELDS = ["from", "subject", "receivedDateTime", "bodyPreview"]


# --- reading one message --------------------------------------------------------------------------


async def _firm_and_mailbox(store: Store, item: WorkItem) -> tuple[Tenant, str] | None:
    """The firm and the partner's mailbox this item may read, or None (consent, a partner who left)."""
    firm = await store.get_tenant(item.tenantId)
    user = str(item.payload.get("user") or "")
    if firm is None or not firm.allowed or firm.consentState != "ok" or not user:
        return None
    if not is_partner(await store.get_person(firm.id, user), firm):
        return None
    return firm, user


async def _get(graph: GraphClient, tid: str, user: str, mid: str, fields: list[str], *, text: bool) -> dict | None:
    try:
        return await graph.get_message(tid, user, mid, fields, text_body=text)
    except GraphError as exc:
        if exc.status not in (403, 404):
            raise
        # 404: the mail was deleted since; 403: the firm granted Mail.ReadBasic (no body). Not retried.
        log.info("targeted read of a message in tenant %s: graph %s", tid, exc.status, extra={"tenant_id": tid})
        return None
    except Exception as exc:
        if is_consent_error(exc):
            return None  # the mailbox's next sync opens the tenant's circuit (rapport.capture.sync)
        raise


def _text(body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("content"), str):
        return ""
    content = body["content"]
    return html_to_text(content)[0] if str(body.get("contentType", "")).lower() == "html" else content


def _received(msg: dict[str, Any], now: datetime) -> datetime:
    try:
        return parse_graph_time(msg.get("receivedDateTime"))
    except ValueError:
        return now


# --- signatures -----------------------------------------------------------------------------------


@work.handler(SIGNATURE_WORK)
async def read_signature(store: Store, item: WorkItem) -> None:
    found = await _firm_and_mailbox(store, item)
    if found is None:
        return
    firm, user = found
    if not firm.settings.signatureScan:
        return
    now = utcnow()
    contact = await store.get(Contact, firm.id, str(item.payload.get("contact") or ""))
    if contact is None or not contact.owners or checked_recently(contact, now):
        return
    msg = await _get(graph_client(), firm.id, user, str(item.payload.get("message") or ""), SIGNATURE_FIELDS, text=True)
    if msg is None or sender_address(msg) != contact.email:
        return  # gone, unreadable, or not theirs: their next mail is planned again next period
    known = await _known_names(store, contact)
    facts = parse_signature(_text(msg.get("uniqueBody")), contact.name, known)
    await apply_signature(store, firm, contact.id, facts, _received(msg, now), now)


async def _known_names(store: Store, contact: Contact) -> tuple[str, ...]:
    """Company names the contact's own mail domain stands for (a bare "Acme" under acme.example is
    then read as the company)."""
    if not contact.accountId:
        return ()
    account = await store.get(Account, contact.tenantId, contact.accountId)
    domain = contact.email.rpartition("@")[2]
    return tuple(n for n in (account.name if account else "", account_name_from_domain(domain)) if n)


def judge(before: SignatureSeen | None, after: SignatureFacts | None) -> str | None:
    """What two reads of one person's signature say: "move" (another company), "title" (another
    title, the company the same or not read), or None. Nothing before (the first read) is no change."""
    if before is None or after is None:
        return None
    if before.company and after.company and not same_company(before.company, after.company):
        return "move"
    # "General Counsel" and "General Counsel, Europe" are one title: compare what precedes a comma.
    old, new = (title_key(t.partition(",")[0]) for t in (before.title, after.title))
    if old and new and old != new:
        return "title"
    return None


async def apply_signature(store: Store, firm: Tenant, cid: str, facts: SignatureFacts | None, seen_at: datetime,
                          now: datetime) -> list[Signal]:
    """Store what a read found on the contact and write the signal its change implies. Returns the
    signals written now."""
    tid = firm.id
    before: list[SignatureSeen | None] = [None]

    def change(c: Contact) -> Contact:
        prev = before[0] = c.signature
        title = (facts.title if facts else "") or (prev.title if prev else "")
        company = (facts.company if facts else "") or (prev.company if prev else "")
        if not c.title or (prev is not None and c.title == prev.title):
            c.title = title  # the signature's title, unless someone set another
        c.signature = SignatureSeen(title=title, company=company, at=seen_at, checkedAt=now)
        return c

    contact = await store.update(Contact, tid, cid, change)
    if contact is None:
        return []
    verdict = judge(before[0], facts)
    if verdict is None or facts is None or before[0] is None:
        return []
    prev = before[0]
    name = contact.name or contact.email
    if verdict == "move":
        new_account = await _account_named(store, tid, facts.company)
        signal = Signal(
            # The pair of companies, unordered: a parser reading A, then B, then A again is one signal,
            # so "Not a move" on it holds however often the readings flap.
            id=stable_id("sg", "signature", cid, *sorted((company_key(prev.company), company_key(facts.company)))),
            tenantId=tid, kind="counsel_move", via="signature", contactId=cid,
            accountIds=[a for a in dict.fromkeys((contact.accountId, new_account)) if a],
            summary=f"{name}'s signature now names {facts.company} (previously {prev.company})",
            fromValue=prev.company, toValue=facts.company, at=seen_at)
    else:
        where = f" at {facts.company or prev.company}" if (facts.company or prev.company) else ""
        signal = Signal(
            id=stable_id("sg", "title", cid, title_key(facts.title)), tenantId=tid, kind="title_change",
            via="signature", contactId=cid, accountIds=[contact.accountId] if contact.accountId else [],
            summary=f"{name} is now {facts.title}{where} (previously {prev.title})",
            fromValue=prev.title, toValue=facts.title, at=seen_at)
    try:
        return [await store.put(signal, create_only=True)]
    except AlreadyExists:
        return []  # read before: raised (or dismissed) once already


async def _account_named(store: Store, tid: str, company: str) -> str | None:
    """The one account the firm has under this company's name (with or without its legal form), so
    a wall on the new company applies to the move too."""
    accounts = Accounts(store, tid)
    return await accounts.by_name(company) or await accounts.by_name(company_key(company))


# --- bounces --------------------------------------------------------------------------------------


@work.handler(BOUNCE_WORK)
async def read_bounce(store: Store, item: WorkItem) -> None:
    found = await _firm_and_mailbox(store, item)
    if found is None:
        return
    firm, user = found
    now = utcnow()
    graph, mid = graph_client(), str(item.payload.get("message") or "")
    msg = await _get(graph, firm.id, user, mid, REPORT_FIELDS, text=True)
    if msg is None:
        return
    sender = sender_address(msg)
    if not bounces.is_report(msg.get("subject"), sender):
        return
    addresses = bounces.bounced_addresses(msg.get("bodyPreview"))
    if not addresses:  # the preview (255 characters) did not say: the report's own text may
        body = await _get(graph, firm.id, user, mid, ["uniqueBody"], text=True)
        addresses = bounces.bounced_addresses(_text(body.get("uniqueBody")) if body else "")
    await apply_bounce(store, firm, sender, addresses, _received(msg, now))


async def apply_bounce(store: Store, firm: Tenant, sender: str, addresses: list[str], at: datetime) -> list[Signal]:
    """Mark each known contact among `addresses` bounced and write its signal. Returns the signals
    written now."""
    tid, out = firm.id, []
    for address in addresses:
        if not bounces.authoritative(sender, address, tuple(firm.domains)):
            continue
        try:
            cid = contact_id(address)
        except ValueError:
            continue
        contact = await store.get(Contact, tid, cid)
        if contact is None or not contact.owners:
            continue

        def mark(c: Contact) -> Contact | None:
            if c.bouncedAt is not None and aware(c.bouncedAt) >= at:
                return None
            c.bouncedAt = at
            return c

        await store.update(Contact, tid, cid, mark)
        if await _moved_from(store, contact):
            continue  # where they went is known already (their new address wrote): no news
        account = await store.get(Account, tid, contact.accountId) if contact.accountId else None
        where = account.name if account else ""
        name = contact.name or contact.email
        signal = Signal(
            id=stable_id("sg", "bounce", cid), tenantId=tid, kind="counsel_move", via="bounce", contactId=cid,
            accountIds=[contact.accountId] if contact.accountId else [],
            summary=f"Mail to {name}{f' at {where}' if where else ''} bounced: the address no longer exists, "
                    "they may have moved",
            fromValue=contact.email, toValue="", at=at)
        try:
            out.append(await store.put(signal, create_only=True))
        except AlreadyExists:
            pass  # bounced before: one signal per address, raised (or dismissed) once
    return out


async def _moved_from(store: Store, contact: Contact) -> bool:
    """Is a move away from this address known already (the same name writing from another domain)?"""
    key = person_name_key(contact.name)
    if not key:
        return False
    for other in await store.find_all(Contact, contact.tenantId, key=f"name:{key}"):
        if other.id == contact.id:
            continue
        for s in await store.signals_for_contact(contact.tenantId, other.id, limit=20):
            if s.kind == "counsel_move" and s.via == "domain" and s.fromValue == contact.email:
                return True
    return False
