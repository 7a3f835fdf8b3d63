"""Follow-up drafts: one per external meeting and organising partner, made after the meeting ends.

- The timer pass (function_app `followups_timer`) finds meetings with external attendees that ended
  in the last day and queues one "draft-followup" work item per (meeting, organising partner); the
  bot's "follow up <name>" queues the same item on demand (`request_followup`). The draft id is
  derived from (meeting, partner), so a rerun, a crash or a duplicate request never makes a second
  draft (docs/reliability.md, section 6, Exactly once). The pass also brings back snoozed drafts whose
  time has come.
- Recipients are chosen here, by code: the meeting's outside attendees, the organiser included (a client
  who sent the invitation is the first to write to); the drafting service
  (rapport.drafting) only writes subject and body, from a context read through the partner's
  ScopedStore (walls and privacy applied), with mail excerpts passed as untrusted data.
- One company's facts to that company only: a draft names a matter, enquiry or opportunity (and
  carries recent subjects and mail excerpts) only when every recipient belongs to that company (the
  contact's account, else the domain's; free mail is a company of its own). With outsiders from
  several companies the draft is neutral, and its card offers "One draft per company" (approval's
  `split`): the neutral draft is superseded by one draft per company ("draft-company-followup"
  work), each to that company's people with that company's items, ids derived from (meeting,
  partner, company).
- A new draft queues its card (rapport.followups.cards).

Imports from rapport: records, store, work, runtime (the drafter of the process), capture (free-mail domains), identity.membership,
drafting and cards.followup; from this package only rapport.followups.cards (never approval or
sending, which import this module).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rapport import runtime, work
from rapport.capture.names import is_free_mail, is_internal
from rapport.cards.followup import BODY_MAX, SUBJECT_MAX, companies_flag
from rapport.drafting import (
    DraftingRefused,
    ExternalAttendee,
    FollowupContext,
    OpenItem,
    make_drafter,
)
from rapport.followups.cards import queue_card
from rapport.identity.membership import is_member
from rapport.identity.membership import partners as firm_partners
from rapport.records import (
    Account,
    Contact,
    Draft,
    Enquiry,
    Meeting,
    Opportunity,
    Person,
    Tenant,
    account_id,
    aware,
    contact_id,
    email_domain,
    normalize_email,
    stable_id,
    utcnow,
)
from rapport.store import AlreadyExists, Store
from rapport.store.scope import ScopedStore

log = logging.getLogger("rapport.followups")

DRAFT_WORK = "draft-followup"
COMPANY_DRAFT_WORK = "draft-company-followup"  # one company's draft after "One draft per company"
LOOKBACK = timedelta(hours=24)  # meetings that ended within this window get a follow-up
MAX_MEETING = timedelta(hours=12)  # meetings are found by start; longest meeting we look back over
DEADLINE_WINDOW = timedelta(days=180)


def draft_id_for(meeting_id: str, owner_oid: str) -> str:
    return stable_id("df", meeting_id, owner_oid)


# --- the drafter of this process -----------------------------------------------------------------

def _current_drafter() -> tuple[Any, bool]:
    """(drafter, made here): the process's drafter (runtime.services().drafter), else one made from
    the settings for this draft, which the caller closes."""
    drafter = runtime.services().drafter
    if drafter is not None:
        return drafter, False
    return make_drafter(runtime.settings()), True


# --- recipients and context ------------------------------------------------------------------------

def recipients_for(meeting: Meeting, tenant: Tenant, owner: Person) -> list[str]:
    """The meeting's outside attendees, chosen by code: the organiser first when outside the firm (the
    client who sent the invitation is the first person to write to), then every other outside attendee.
    Never the partner, never the firm's own addresses (`is_internal`, the one rule), never rooms, no
    duplicates.

    With no firm domains on record, "outside" means an address the capture matched to a contact."""
    rooms = set()
    for a in meeting.attendees:
        if a.type == "resource":
            with contextlib.suppress(ValueError):
                rooms.add(normalize_email(a.email))
    out: list[str] = []
    for email in (meeting.organizerEmail, *(a.email for a in meeting.attendees if a.type != "resource")):
        try:
            address = normalize_email(email)
        except ValueError:
            continue  # no organiser on record (""), or not an address
        if address == owner.upn.lower() or address in rooms or address in out:
            continue
        outside = (not is_internal(address.rpartition("@")[2], tenant) if tenant.domains
                   else contact_id(address) in meeting.contactIds)
        if outside:
            out.append(address)
    return out


# --- companies: one company's facts to that company only -------------------------------------------

@dataclass(frozen=True)
class Company:
    """The recipients of one company. `key` is the company's account id (the contact's account, else
    the account of the address's domain, whether or not the firm has that account on record), or
    "address:<address>" for someone writing from free mail, which says nothing about an employer."""

    key: str
    recipients: tuple[str, ...]
    account: Account | None = None  # the account record as the partner may see it (None: none, or walled)


def company_key(address: str, contact: Contact | None) -> str:
    """Which company a recipient belongs to. Conservative: an address the records tie to no account
    is a company of its own (its domain's, or its own for free mail)."""
    if contact is not None and contact.accountId:
        return contact.accountId
    domain = email_domain(address)
    return f"address:{address}" if is_free_mail(domain) else account_id(domain)


async def companies_of(scope: ScopedStore, recipients: list[str],
                       contacts: dict[str, Contact | None] | None = None) -> list[Company]:
    """The recipients grouped by company, in the order they come. `contacts`: the recipients'
    contacts as the partner sees them (None: restricted or unknown), when already read."""
    groups: dict[str, list[str]] = {}
    for address in recipients:
        if contacts is not None and address in contacts:
            contact = contacts[address]
        else:
            view = await scope.contact_by_email(address)
            contact = view.contact if view is not None else None
        groups.setdefault(company_key(address, contact), []).append(address)
    out: list[Company] = []
    for key, members in groups.items():
        account = None if key.startswith("address:") else await scope.account(key)
        out.append(Company(key, tuple(members), account))
    return out


def company_draft_id(meeting_id: str, owner_oid: str, key: str) -> str:
    """The draft of one company after a split: once per (meeting, partner, company)."""
    return stable_id("df", meeting_id, owner_oid, "company", key)


async def _open_items(scope: ScopedStore, acct_id: str) -> list[OpenItem]:
    """The account's open enquiries and opportunities and its matter dates in the coming months."""
    items: list[OpenItem] = []
    now = utcnow()
    for p in await scope.open_pipeline(acct_id):
        if isinstance(p, Enquiry):
            items.append(OpenItem("enquiry", p.subject))
        elif isinstance(p, Opportunity):
            items.append(OpenItem("opportunity", p.title, detail=p.stage))
    for m in await scope.matters_of_account(acct_id):
        for kind, due in (("renewal", m.renewalDate), ("opposition", m.oppositionDeadline)):
            if due is not None and now <= aware(due) <= now + DEADLINE_WINDOW:
                items.append(OpenItem(kind, m.title, due=due, reference=m.reference))  # type: ignore[arg-type]
    return items


async def _history(scope: ScopedStore, contacts: list[Contact]) -> tuple[list[str], list[str]]:
    """(recent subjects, mail excerpts) of the partner's mail with these contacts."""
    subjects: list[str] = []
    excerpts: list[str] = []
    for c in contacts[:5]:
        page = await scope.interactions_for_contact(c.id, limit=5)
        for i in page.items:
            if i.subject and i.subject not in subjects:
                subjects.append(i.subject)
            if i.excerpt:  # kept only where the firm turned excerpts on; untrusted, whoever wrote it
                excerpts.append(i.excerpt)
    return subjects, excerpts


async def build_context(store: Store, meeting: Meeting, owner: Person, recipients: list[str]
                        ) -> tuple[FollowupContext, list[Company]]:
    """What the drafter may see, read as the partner sees it (walls, privacy), and the recipients'
    companies. A company's items, subjects and excerpts go in only when every recipient belongs to
    that company: with outsiders from several companies the context is neutral (none of them, and
    not which of the attendees' companies are the firm's clients)."""
    scope = ScopedStore(store, meeting.tenantId, owner.oid)
    contacts: dict[str, Contact | None] = {}
    for address in recipients:
        view = await scope.contact_by_email(address)
        contacts[address] = view.contact if view is not None else None
    companies = await companies_of(scope, recipients, contacts)
    shared = companies[0] if len(companies) == 1 else None  # the company every recipient belongs to
    account_of = {a: c.account for c in companies for a in c.recipients}
    names = {a.email.lower(): a.name for a in meeting.attendees}
    attendees: list[ExternalAttendee] = []
    for address in recipients:
        c, account = contacts[address], account_of[address]
        attendees.append(ExternalAttendee(
            name=(c.name if c and c.name else names.get(address, "")), email=address,
            account=account.name if account else "", role=c.title if c else "",
            account_kind=account.kind if account and shared else ""))
    items: list[OpenItem] = []
    subjects: list[str] = []
    excerpts: list[str] = []
    if shared is not None:
        if shared.account is not None:
            items = await _open_items(scope, shared.account.id)
        subjects, excerpts = await _history(scope, [c for c in contacts.values() if c is not None])
    ctx = FollowupContext(
        partner_name=owner.name, meeting_subject=meeting.subject, meeting_start=meeting.start,
        meeting_end=meeting.end, attendees=tuple(attendees), recent_subjects=tuple(subjects[:10]),
        open_items=tuple(items[:10]), email_excerpts=tuple(excerpts[:5]), partner_email=owner.upn,
    )
    return ctx, companies


# --- drafting ------------------------------------------------------------------------------------

async def draft_for_meeting(store: Store, tenant_id: str, meeting_id: str, owner_oid: str) -> Draft | None:
    """Make the follow-up draft for one (meeting, partner), once. Returns it (new or existing).

    One draft to all the meeting's outsiders; when they come from several companies it is neutral
    (build_context leaves every company's items out) and its card offers one draft per company."""
    return await _draft_once(store, tenant_id, draft_id_for(meeting_id, owner_oid), meeting_id, owner_oid,
                             lambda everyone: everyone)


async def draft_for_company(store: Store, tenant_id: str, meeting_id: str, owner_oid: str, key: str,
                            to: list[str]) -> Draft | None:
    """One company's draft after a split: to `to` (that company's people among the meeting's
    outsiders), with that company's items. Once per (meeting, partner, company)."""
    # Never anyone the meeting's own draft would not reach.
    return await _draft_once(store, tenant_id, company_draft_id(meeting_id, owner_oid, key), meeting_id, owner_oid,
                             lambda everyone: [a for a in to if a in set(everyone)])


async def _draft_once(store: Store, tenant_id: str, did: str, meeting_id: str, owner_oid: str,
                      choose: Callable[[list[str]], list[str]]) -> Draft | None:
    """The draft `did` if it exists, else made once for the meeting's recipients `choose` keeps."""
    existing = await store.get(Draft, tenant_id, did)
    if existing is not None:
        return existing
    found = await _meeting_and_owner(store, tenant_id, meeting_id, owner_oid)
    if found is None:
        return None
    meeting, owner, tenant = found
    return await _make_draft(store, did, meeting, owner, choose(recipients_for(meeting, tenant, owner)))


async def _meeting_and_owner(store: Store, tenant_id: str, meeting_id: str, owner_oid: str
                             ) -> tuple[Meeting, Person, Tenant] | None:
    meeting = await store.get(Meeting, tenant_id, meeting_id)
    owner = await store.get_person(tenant_id, owner_oid)
    tenant = await store.get_tenant(tenant_id)
    if meeting is None or owner is None or tenant is None or meeting.isCancelled:
        return None
    if not is_member(owner, tenant_id):
        return None  # removed from the firm (rapport.firm.people) after the meeting was queued: no draft
    if await ScopedStore(store, tenant_id, owner_oid).get(Meeting, meeting_id) is None:
        return None  # the partner is walled from this meeting's account: no draft at all
    return meeting, owner, tenant


async def _make_draft(store: Store, did: str, meeting: Meeting, owner: Person, to: list[str]) -> Draft | None:
    if not to:
        return None
    tenant_id = meeting.tenantId
    ctx, companies = await build_context(store, meeting, owner, to)
    drafter, made = _current_drafter()
    try:
        text = await drafter.draft_followup(ctx)
    except DraftingRefused:
        log.error("ALERT follow-up drafting refused: forbidden data in the context", extra={"tenant_id": tenant_id})
        return None
    finally:
        if made:
            await drafter.aclose()
    account_ids = [c.account.id for c in companies if c.account is not None]
    flags = list(text.flags) + ([companies_flag(len(companies))] if len(companies) > 1 else [])
    draft = Draft(id=did, tenantId=tenant_id, kind="followup", ownerOid=owner.oid, meetingId=meeting.id,
                  accountIds=account_ids or list(meeting.accountIds), to=to, subject=text.subject[:SUBJECT_MAX],
                  body=text.body[:BODY_MAX], drafter=text.drafter, flags=flags)
    try:
        await store.put(draft, create_only=True)
    except AlreadyExists:
        return await store.get(Draft, tenant_id, did)
    log.info("follow-up drafted (%s, %d chars)", text.drafter, len(draft.body), extra={"tenant_id": tenant_id})
    await queue_card(store, draft)
    return draft


@work.handler(DRAFT_WORK)
async def _draft_work(store: Store, item: Any) -> None:
    await draft_for_meeting(store, item.tenantId, item.payload["meetingId"], item.payload["ownerOid"])


@work.handler(COMPANY_DRAFT_WORK)
async def _company_draft_work(store: Store, item: Any) -> None:
    p = item.payload
    await draft_for_company(store, item.tenantId, p["meetingId"], p["ownerOid"], p["company"], list(p["to"]))


# --- the timer pass and "follow up <name>" --------------------------------------------------------

@dataclass
class PassReport:
    queued: int = 0
    unsnoozed: int = 0
    tenants: list[str] = field(default_factory=list)


async def timer_pass(store: Store, now: datetime | None = None, *, lookback: timedelta = LOOKBACK,
                     past_due: bool = False, kick: bool = True) -> PassReport:
    """Queue a draft for every external meeting that ended in the last `lookback`, and bring back
    snoozed drafts whose time has come. Idempotent: run it as often as you like."""
    now = aware(now or utcnow())
    report = PassReport()
    for tenant in await store.list_tenants():
        if not tenant.allowed:
            continue
        tid = tenant.id
        people = {p.oid: p for p in firm_partners(tenant, await store.people(tid))}  # drafts only for partners
        delay = timedelta(minutes=tenant.settings.followUpDelayMinutes)  # the firm's pause after a meeting
        meetings = await store.meetings_between(tid, now - lookback - MAX_MEETING - delay, now)
        for m in meetings:
            if m.isCancelled or not m.external or not (now - lookback < aware(m.end) + delay <= now):
                continue
            if m.organizerOid not in people:
                continue
            item, _ = await work.enqueue(store, tid, DRAFT_WORK, draft_id_for(m.id, m.organizerOid),
                                         {"meetingId": m.id, "ownerOid": m.organizerOid})
            if item.state == "queued" and item.attempts == 0:
                report.queued += 1  # new (or not yet run); a meeting already drafted is not counted
        for d in await store.drafts_by_state(tid, "snoozed"):
            if d.snoozedUntil is not None and aware(d.snoozedUntil) <= now:
                if not is_member(await store.get_person(tid, d.ownerOid), tid):
                    # its owner left meanwhile: it expires, handed to no one (rapport.firm.people)
                    await store.update(Draft, tid, d.id, lambda x: _expire(x, now))
                    continue
                woken = await store.update(Draft, tid, d.id, lambda x: _wake(x, now))
                if woken is not None:
                    await queue_card(store, woken)
                    report.unsnoozed += 1
        report.tenants.append(tid)
        if kick:
            work.kick_coalesced(store, tid)  # after the answer, one drain per tenant at a time
    if past_due or report.queued or report.unsnoozed:
        log.info("follow-up pass%s: %d meetings queued, %d snoozed drafts back", " (past due)" if past_due else "",
                 report.queued, report.unsnoozed)
    return report


def _expire(d: Draft, now: datetime) -> Draft | None:
    if d.state != "snoozed":
        return None
    d.state, d.snoozedUntil, d.updatedAt = "expired", None, now
    return d


def _wake(d: Draft, now: datetime) -> Draft | None:
    if d.state != "snoozed":
        return None
    d.state = "drafted"
    d.snoozedUntil = None
    d.updatedAt = now
    return d


async def request_followup(store: Store, tenant_id: str, owner_oid: str, name: str, *, now: datetime | None = None,
                           window: timedelta = timedelta(days=14)) -> Meeting | None:
    """"follow up <name>": the partner's latest ended external meeting with someone matching `name`
    (attendee name or address); queues its draft. Returns the meeting, or None if there is none."""
    now = aware(now or utcnow())
    wanted = " ".join(name.casefold().split())
    if len(wanted) < 2:
        return None
    scope = ScopedStore(store, tenant_id, owner_oid)
    meetings = await scope.meetings_between(now - window, now, mine=True)
    for m in sorted(meetings, key=lambda x: x.end, reverse=True):
        if m.isCancelled or aware(m.end) > now or not m.external:
            continue
        if any(wanted in " ".join(a.name.casefold().split()) or wanted in a.email.lower() for a in m.attendees):
            await work.enqueue(store, tenant_id, DRAFT_WORK, draft_id_for(m.id, owner_oid),
                               {"meetingId": m.id, "ownerOid": owner_oid})
            work.kick_coalesced(store, tenant_id)
            return m
    return None


__all__ = [
    "COMPANY_DRAFT_WORK", "DRAFT_WORK", "LOOKBACK", "Company", "PassReport", "build_context", "companies_of",
    "company_draft_id", "company_key", "draft_for_company", "draft_for_meeting", "draft_id_for",
    "recipients_for", "request_followup", "timer_pass",
]
