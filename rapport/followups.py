"""Follow-ups: drafted after each external meeting, approved on one card, sent exactly once.

Drafting
- The timer pass (function_app `followups_timer`) finds meetings with external attendees that ended
  in the last day and queues one "draft-followup" work item per (meeting, organising partner); the
  bot's "follow up <name>" queues the same item on demand. The draft id is derived from (meeting,
  partner), so a rerun, a crash or a duplicate request never makes a second draft (E7).
- Recipients are chosen here, by code, from the meeting's external attendees; the drafting service
  (rapport.drafting) only writes subject and body, from a context read through the partner's
  ScopedStore (walls and privacy applied), with mail excerpts passed as untrusted data.
- One company's facts to that company only: a draft names a matter, enquiry or opportunity (and
  carries recent subjects and mail excerpts) only when every recipient belongs to that company (the
  contact's account, else the domain's; free mail is a company of its own). With outsiders from
  several companies the draft is neutral, and its card offers "One draft per company" (`split`):
  the neutral draft is superseded by one draft per company, each to that company's people with that
  company's items, ids derived from (meeting, partner, company).
- A new or changed draft queues a "followup-card" item: the card goes to the partner (Teams through
  the delivery bot/ installs; on the embedded default, the local outbox).

Approval (the card's verbs, bot/verbs.py)
- Only the owning partner or a delegate the partner named may act; anyone else is refused and
  nothing changes. A draft on an account the actor is walled from does not exist for them.
- Approval is bound to the version on the card: an older version is refused with the current one.
  The transition is an ETag-bound update, so of two concurrent approvals exactly one wins; the
  other sees "already approved". The send is a work item keyed draftId:version: one send.
- Edit saves a new version (recipients unchanged: code owns them); snooze hides the draft until
  later today or tomorrow morning; skip dismisses it; split (a neutral draft only) replaces it.
- Each approval writes one AuditEvent (who, when, draft kind, meeting end -> approval and, once sent,
  -> send seconds, body hash and recipients; never the body).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from rapport import work
from rapport.capture import is_free_mail
from rapport.cards.followup import (
    BODY_MAX,
    MAX_SPLIT,
    SUBJECT_MAX,
    companies_flag,
    companies_in,
    followup_card,
)
from rapport.drafting import (
    DraftingRefused,
    ExternalAttendee,
    FollowupContext,
    OpenItem,
    make_drafter,
)
from rapport.identity.membership import partners as firm_partners
from rapport.records import (
    Account,
    AuditEvent,
    Contact,
    Draft,
    Enquiry,
    Meeting,
    Opportunity,
    Person,
    Tenant,
    account_id,
    aware,
    email_domain,
    normalize_email,
    stable_id,
    utcnow,
)
from rapport.store.base import AlreadyExists, Store
from rapport.store.scope import ScopedStore
from rapport.text import clean, cut

log = logging.getLogger("rapport.followups")

DRAFT_WORK = "draft-followup"
COMPANY_DRAFT_WORK = "draft-company-followup"  # one company's draft after "One draft per company"
CARD_WORK = "followup-card"
LOOKBACK = timedelta(hours=24)  # meetings that ended within this window get a follow-up
MAX_MEETING = timedelta(hours=12)  # meetings are found by start; longest meeting we look back over
SNOOZE_LATER = timedelta(hours=3)
TOMORROW_HOUR = 8  # UTC; the partner's own time zone is not in the records yet
PENDING_STATES = ("drafted", "snoozed", "failed")
DEADLINE_WINDOW = timedelta(days=180)

Status = Literal["ok", "already", "stale", "refused", "not_found", "bad_state", "invalid"]
Clock = Callable[[], datetime]


kick_drain = work.kick_coalesced  # drain after the answer, one drain per tenant at a time


def draft_id_for(meeting_id: str, owner_oid: str) -> str:
    return stable_id("df", meeting_id, owner_oid)


def body_hash(draft: Draft) -> str:
    """What the audit keeps instead of the text: a hash of exactly what was approved."""
    return hashlib.sha256(f"{draft.subject}\x1f{draft.body}".encode()).hexdigest()



# --- the drafter and the card delivery of this process -----------------------------------------

_drafter: Any = None


def install_drafter(drafter: Any) -> None:
    """Use this drafter (tests: an LLM drafter with a short timeout; None: from the settings)."""
    global _drafter
    _drafter = drafter


def _current_drafter() -> tuple[Any, bool]:
    if _drafter is not None:
        return _drafter, False
    from rapport import runtime

    return make_drafter(runtime.settings()), True


class CardDelivery(Protocol):
    """Puts a card in front of the partner. Returns the delivered message's id (for updates)."""

    async def deliver(self, store: Store, person: Person, draft: Draft, card: dict[str, Any]) -> str | None: ...


class LocalCardDelivery:
    """The embedded default: the card lands in the local outbox (/dev/outbox), one per state."""

    async def deliver(self, store: Store, person: Person, draft: Draft, card: dict[str, Any]) -> str | None:
        from rapport import outbox_local

        key = f"card:{draft.id}:v{draft.version}:{draft.state}:{draft.updatedAt.isoformat()}"
        item, _ = await outbox_local.deliver(store, draft.tenantId, "teams", key, fromOid="", to=[person.upn],
                                             subject=f"Follow-up to approve: {draft.subject}"[:200], card=card)
        return draft.cardActivityId or item.id


_delivery: CardDelivery | None = None
_delivery_factory: Callable[[], CardDelivery | None] | None = None


def install_card_delivery(delivery: CardDelivery | None) -> None:
    global _delivery
    _delivery = delivery


def install_card_delivery_factory(factory: Callable[[], CardDelivery | None] | None) -> None:
    """bot/ registers how to reach Teams; the factory returns None when the bot is not configured."""
    global _delivery_factory
    _delivery_factory = factory


def card_delivery() -> CardDelivery:
    if _delivery is not None:
        return _delivery
    if _delivery_factory is not None:
        made = _delivery_factory()
        if made is not None:
            return made
    return LocalCardDelivery()


# --- recipients and context ------------------------------------------------------------------------

def _internal(address: str, tenant: Tenant) -> bool:
    domain = address.rpartition("@")[2]
    return any(domain == d or domain.endswith("." + d) for d in (x.lower() for x in tenant.domains))


def recipients_for(meeting: Meeting, tenant: Tenant, owner: Person) -> list[str]:
    """The meeting's external attendees, chosen by code: no rooms, no firm addresses, no duplicates.

    With no firm domains on record, "external" means an attendee the capture matched to a contact."""
    from rapport.records import contact_id

    out: list[str] = []
    for a in meeting.attendees:
        if a.type == "resource":
            continue
        try:
            address = normalize_email(a.email)
        except ValueError:
            continue
        if address in (owner.upn.lower(), meeting.organizerEmail.lower()):
            continue
        external = not _internal(address, tenant) if tenant.domains else contact_id(address) in meeting.contactIds
        if external and address not in out:
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
    scope = store.scope(meeting.tenantId, owner.oid)
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
    did = draft_id_for(meeting_id, owner_oid)
    existing = await store.get(Draft, tenant_id, did)
    if existing is not None:
        return existing
    found = await _meeting_and_owner(store, tenant_id, meeting_id, owner_oid)
    if found is None:
        return None
    meeting, owner, tenant = found
    return await _make_draft(store, did, meeting, owner, recipients_for(meeting, tenant, owner))


async def draft_for_company(store: Store, tenant_id: str, meeting_id: str, owner_oid: str, key: str,
                            to: list[str]) -> Draft | None:
    """One company's draft after a split: to `to` (that company's people among the meeting's
    outsiders), with that company's items. Once per (meeting, partner, company)."""
    did = company_draft_id(meeting_id, owner_oid, key)
    existing = await store.get(Draft, tenant_id, did)
    if existing is not None:
        return existing
    found = await _meeting_and_owner(store, tenant_id, meeting_id, owner_oid)
    if found is None:
        return None
    meeting, owner, tenant = found
    allowed = set(recipients_for(meeting, tenant, owner))  # never anyone the meeting's draft would not reach
    return await _make_draft(store, did, meeting, owner, [a for a in to if a in allowed])


async def _meeting_and_owner(store: Store, tenant_id: str, meeting_id: str, owner_oid: str
                             ) -> tuple[Meeting, Person, Tenant] | None:
    meeting = await store.get(Meeting, tenant_id, meeting_id)
    owner = await store.get_person(tenant_id, owner_oid)
    tenant = await store.get_tenant(tenant_id)
    if meeting is None or owner is None or tenant is None or meeting.isCancelled:
        return None
    if await store.scope(tenant_id, owner_oid).get(Meeting, meeting_id) is None:
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


async def queue_card(store: Store, draft: Draft) -> None:
    """Put the draft's current card in front of the partner (after the answer, exactly once per state)."""
    stamp = draft.updatedAt.isoformat() if draft.state == "drafted" else ""
    key = f"{draft.id}:v{draft.version}:{draft.state}:{stamp}"
    await store.enqueue(draft.tenantId, CARD_WORK, key, {"draftId": draft.id})


@work.handler(DRAFT_WORK)
async def _draft_work(store: Store, item: Any) -> None:
    await draft_for_meeting(store, item.tenantId, item.payload["meetingId"], item.payload["ownerOid"])


@work.handler(COMPANY_DRAFT_WORK)
async def _company_draft_work(store: Store, item: Any) -> None:
    p = item.payload
    await draft_for_company(store, item.tenantId, p["meetingId"], p["ownerOid"], p["company"], list(p["to"]))


@work.handler(CARD_WORK)
async def _card_work(store: Store, item: Any) -> None:
    draft = await store.get(Draft, item.tenantId, item.payload["draftId"])
    if draft is None:
        return
    owner = await store.get_person(item.tenantId, draft.ownerOid)
    if owner is None:
        return
    card = await card_for(store, draft)
    activity_id = await card_delivery().deliver(store, owner, draft, card)
    if activity_id and activity_id != draft.cardActivityId:
        def remember(d: Draft) -> Draft | None:
            if d.cardActivityId == activity_id:
                return None
            d.cardActivityId = activity_id
            return d

        await store.update(Draft, draft.tenantId, draft.id, remember)


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
        meetings = await store.meetings_between(tid, now - lookback - MAX_MEETING, now)
        for m in meetings:
            if m.isCancelled or not m.external or not (now - lookback < aware(m.end) <= now):
                continue
            if m.organizerOid not in people:
                continue
            item = await store.enqueue(tid, DRAFT_WORK, draft_id_for(m.id, m.organizerOid),
                                       {"meetingId": m.id, "ownerOid": m.organizerOid})
            if item.state == "queued" and item.attempts == 0:
                report.queued += 1  # new (or not yet run); a meeting already drafted is not counted
        for d in await store.drafts_by_state(tid, "snoozed"):
            if d.snoozedUntil is not None and aware(d.snoozedUntil) <= now:
                woken = await _transition(store, d, lambda x: _wake(x, now))
                if woken is not None:
                    await queue_card(store, woken)
                    report.unsnoozed += 1
        report.tenants.append(tid)
        if kick:
            kick_drain(store, tid)
    if past_due or report.queued or report.unsnoozed:
        log.info("follow-up pass%s: %d meetings queued, %d snoozed drafts back", " (past due)" if past_due else "",
                 report.queued, report.unsnoozed)
    return report


def _wake(d: Draft, now: datetime) -> Draft | None:
    if d.state != "snoozed":
        return None
    d.state = "drafted"
    d.snoozedUntil = None
    d.updatedAt = now
    return d


async def _transition(store: Store, draft: Draft, change: Callable[[Draft], Draft | None]) -> Draft | None:
    return await store.update(Draft, draft.tenantId, draft.id, change)


async def request_followup(store: Store, tenant_id: str, owner_oid: str, name: str, *, now: datetime | None = None,
                           window: timedelta = timedelta(days=14)) -> Meeting | None:
    """"follow up <name>": the partner's latest ended external meeting with someone matching `name`
    (attendee name or address); queues its draft. Returns the meeting, or None if there is none."""
    now = aware(now or utcnow())
    wanted = " ".join(name.casefold().split())
    if len(wanted) < 2:
        return None
    scope = store.scope(tenant_id, owner_oid)
    meetings = await scope.meetings_between(now - window, now, mine=True)
    for m in sorted(meetings, key=lambda x: x.end, reverse=True):
        if m.isCancelled or aware(m.end) > now or not m.external:
            continue
        if any(wanted in " ".join(a.name.casefold().split()) or wanted in a.email.lower() for a in m.attendees):
            await store.enqueue(tenant_id, DRAFT_WORK, draft_id_for(m.id, owner_oid),
                                {"meetingId": m.id, "ownerOid": owner_oid})
            kick_drain(store, tenant_id)
            return m
    return None


# --- the approval state machine --------------------------------------------------------------------

@dataclass
class Outcome:
    status: Status
    draft: Draft | None = None
    message: str = ""
    editing: bool = False


async def _actor_draft(store: Store, tenant_id: str, viewer_oid: str, draft_id: Any) -> tuple[Draft | None, Status]:
    """The draft if this viewer may act on it, else ("not_found"): other tenants, walls, bad ids and
    a colleague who is neither the owner nor one of the owner's delegates (the scope shows a draft
    to those only) all get the same answer, so a draft's existence is not revealed either."""
    if not isinstance(draft_id, str) or not draft_id or len(draft_id) > 100:
        return None, "not_found"
    draft = await store.scope(tenant_id, viewer_oid).draft(draft_id)
    if draft is None or draft.tenantId != tenant_id:
        return None, "not_found"
    return draft, "ok"


def _version(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 9:
        return int(value)
    return None


async def approve(store: Store, tenant_id: str, viewer_oid: str, draft_id: Any, version: Any, *,
                  now: datetime | None = None) -> Outcome:
    """Approve exactly the version on the card. Writes the audit event and queues the send; never sends."""
    now = aware(now or utcnow())

    def apply(d: Draft) -> Status:
        if d.state in ("approved", "sending", "sent"):
            return "already"
        if d.state not in ("drafted", "snoozed"):
            return "bad_state"
        d.state, d.approvedBy, d.approvedAt = "approved", viewer_oid, now
        d.snoozedUntil, d.failureReason, d.updatedAt = None, None, now
        return "ok"

    out = await _simple(store, tenant_id, viewer_oid, draft_id, version, apply, "This draft can no longer be approved.")
    if out.status == "already":
        await _queue_send(store, out.draft)  # idempotent: re-queues nothing if the send is already queued
    elif out.status == "ok":
        await _audit_approval(store, out.draft, viewer_oid, now)
        await _queue_send(store, out.draft)
        kick_drain(store, tenant_id)
    return out


async def _queue_send(store: Store, draft: Draft, suffix: str = "") -> None:
    from rapport.sender import SEND_WORK

    await store.enqueue(draft.tenantId, SEND_WORK, f"{draft.id}:v{draft.version}{suffix}",
                        {"draftId": draft.id, "version": draft.version})


def audit_id(draft: Draft) -> str:
    return stable_id("au", "followup.approved", draft.id, str(draft.version))


async def _audit_approval(store: Store, draft: Draft, viewer_oid: str, now: datetime) -> None:
    meeting = await store.get(Meeting, draft.tenantId, draft.meetingId) if draft.meetingId else None
    details: dict[str, Any] = {
        "kind": draft.kind, "version": draft.version, "bodySha256": body_hash(draft), "bodyChars": len(draft.body),
        "recipients": list(draft.to) + list(draft.cc), "ownerOid": draft.ownerOid, "drafter": draft.drafter,
        "onBehalf": viewer_oid != draft.ownerOid,
    }
    if meeting is not None:
        details["meetingEnd"] = aware(meeting.end).isoformat()
        details["meetingEndToApprovalSeconds"] = round((now - aware(meeting.end)).total_seconds())
    event = AuditEvent(id=audit_id(draft), tenantId=draft.tenantId, at=now, actorOid=viewer_oid,
                       action="followup.approved", targetId=draft.id, details=details)
    try:
        await store.audit(event)
    except AlreadyExists:
        pass


async def record_send_time(store: Store, draft: Draft, sent_at: datetime) -> None:
    """Complete the approval's audit event with the send time (meeting end -> send)."""
    def change(e: AuditEvent) -> AuditEvent | None:
        if "sentAt" in e.details:
            return None
        e.details["sentAt"] = sent_at.isoformat()
        end = e.details.get("meetingEnd")
        if end:
            e.details["meetingEndToSendSeconds"] = round((sent_at - datetime.fromisoformat(end)).total_seconds())
        if draft.approvedAt:
            e.details["approvalToSendSeconds"] = round((sent_at - aware(draft.approvedAt)).total_seconds())
        return e

    await store.update(AuditEvent, draft.tenantId, audit_id(draft), change)


async def edit(store: Store, tenant_id: str, viewer_oid: str, draft_id: Any, version: Any, subject: Any, body: Any,
               *, now: datetime | None = None) -> Outcome:
    """Save the partner's text as a new version. Recipients stay as code chose them."""
    now = aware(now or utcnow())
    draft, status = await _actor_draft(store, tenant_id, viewer_oid, draft_id)
    if draft is None:
        return Outcome(status)
    v = _version(version)
    if v is None or not isinstance(subject, str) or not isinstance(body, str):
        return Outcome("invalid", draft, "Both a subject and a message are needed.", editing=True)
    # Card input enters from outside like any text: Rapport's one text rule (rapport.text.clean).
    new_subject = cut(" ".join(clean(subject, multiline=False).split()), SUBJECT_MAX)
    new_body = cut(clean(body).strip(), BODY_MAX)
    if not new_subject or not new_body:
        return Outcome("invalid", draft, "Both a subject and a message are needed.", editing=True)
    result: dict[str, Status] = {}

    def change(d: Draft) -> Draft | None:
        if d.version != v:
            result["s"] = "stale"
            return None
        if d.state not in PENDING_STATES:
            result["s"] = "bad_state"
            return None
        result["s"] = "ok"
        d.subject, d.body = new_subject, new_body
        d.version += 1
        d.state = "drafted"
        d.snoozedUntil = None
        d.failureReason = None
        d.drafter = f"{d.drafter}+edited" if not d.drafter.endswith("+edited") else d.drafter
        d.flags = [f for f in d.flags if f not in ("llm_unavailable",)]
        d.updatedAt = now
        return d

    updated = await _transition(store, draft, change)
    current = updated or await store.get(Draft, tenant_id, draft.id)
    s = result.get("s", "not_found")
    if s == "stale":
        return Outcome("stale", current, f"This draft changed since that card; this is version {current.version}.")
    if s == "bad_state":
        return Outcome("bad_state", current, "This draft can no longer be edited.")
    return Outcome("ok", current, f"Saved as version {current.version}.")


def snooze_until(choice: str, now: datetime) -> datetime:
    if choice == "tomorrow":
        nxt = (now + timedelta(days=1)).astimezone(UTC)
        return nxt.replace(hour=TOMORROW_HOUR, minute=0, second=0, microsecond=0)
    return now + SNOOZE_LATER


async def _simple(store: Store, tenant_id: str, viewer_oid: str, draft_id: Any, version: Any,
                  apply: Callable[[Draft], bool | Status], refusal: str) -> Outcome:
    """One card verb on one draft version: `apply` changes the draft in place and says "ok" (or True),
    "already" (nothing to do, not an error) or "bad_state" (or False); ETag-bound, re-applied on a race."""
    draft, status = await _actor_draft(store, tenant_id, viewer_oid, draft_id)
    if draft is None:
        return Outcome(status)
    v = _version(version)
    if v is None:
        return Outcome("invalid", draft, "That card is not a valid follow-up action.")
    result: dict[str, Status] = {}

    def change(d: Draft) -> Draft | None:
        if d.version != v:
            result["s"] = "stale"
            return None
        verdict = apply(d)
        result["s"] = "ok" if verdict is True else "bad_state" if verdict is False else verdict
        return d if result["s"] == "ok" else None

    updated = await _transition(store, draft, change)
    current = updated or await store.get(Draft, tenant_id, draft.id)
    s = result.get("s", "not_found")
    if current is None or s == "not_found":
        return Outcome("not_found")
    if s == "stale":
        return Outcome("stale", current, f"This draft changed since that card; this is version {current.version}.")
    if s == "bad_state":
        return Outcome("bad_state", current, refusal)
    return Outcome(s, current)


async def snooze(store: Store, tenant_id: str, viewer_oid: str, draft_id: Any, version: Any, choice: str, *,
                 now: datetime | None = None) -> Outcome:
    now = aware(now or utcnow())
    until = snooze_until(choice, now)

    def apply(d: Draft) -> bool:
        if d.state not in ("drafted", "snoozed"):
            return False
        d.state, d.snoozedUntil, d.updatedAt = "snoozed", until, now
        return True

    return await _simple(store, tenant_id, viewer_oid, draft_id, version, apply, "This draft can no longer be snoozed.")


async def skip(store: Store, tenant_id: str, viewer_oid: str, draft_id: Any, version: Any, *,
               now: datetime | None = None) -> Outcome:
    now = aware(now or utcnow())

    def apply(d: Draft) -> bool:
        if d.state not in PENDING_STATES:
            return False
        d.state, d.snoozedUntil, d.updatedAt = "dismissed", None, now
        return True

    return await _simple(store, tenant_id, viewer_oid, draft_id, version, apply, "This draft can no longer be skipped.")


async def split(store: Store, tenant_id: str, viewer_oid: str, draft_id: Any, version: Any, *,
                now: datetime | None = None) -> Outcome:
    """"One draft per company": the neutral draft to several companies is replaced (state
    "superseded", never sent) by one draft per company, each to that company's people with that
    company's items and its own card. The drafts are work items keyed by (meeting, partner, company),
    so a double click, a retry, or a refresh of the card after a crash between the two steps (see
    `view`) makes each exactly once."""
    now = aware(now or utcnow())

    def apply(d: Draft) -> Status:
        if d.state == "superseded":
            return "already"
        if d.state not in ("drafted", "snoozed") or not 1 < companies_in(d) <= MAX_SPLIT:
            return "bad_state"
        d.state, d.snoozedUntil, d.updatedAt = "superseded", None, now
        return "ok"

    out = await _simple(store, tenant_id, viewer_oid, draft_id, version, apply,
                        "This draft can no longer be split by company.")
    if out.status in ("ok", "already") and out.draft is not None and out.draft.state == "superseded":
        await _queue_company_drafts(store, out.draft)
        kick_drain(store, tenant_id)
    return out


async def _queue_company_drafts(store: Store, draft: Draft) -> None:
    """One draft work item per company of the replaced draft's recipients (idempotent keys)."""
    if draft.meetingId is None:
        return
    scope = store.scope(draft.tenantId, draft.ownerOid)  # grouped as the owner's records say, like the draft
    for company in await companies_of(scope, list(draft.to)):
        did = company_draft_id(draft.meetingId, draft.ownerOid, company.key)
        await store.enqueue(draft.tenantId, COMPANY_DRAFT_WORK, did, {
            "meetingId": draft.meetingId, "ownerOid": draft.ownerOid, "company": company.key,
            "to": list(company.recipients), "replaces": draft.id})


async def retry(store: Store, tenant_id: str, viewer_oid: str, draft_id: Any, version: Any, *,
                now: datetime | None = None) -> Outcome:
    """A failed send, approved again by the partner: the same idempotency key, so never a duplicate."""
    now = aware(now or utcnow())
    failed_at: dict[str, str] = {}

    def apply(d: Draft) -> bool:
        if d.state != "failed":
            return False
        failed_at["at"] = d.updatedAt.isoformat()
        d.state, d.failureReason, d.updatedAt = "approved", None, now
        return True

    out = await _simple(store, tenant_id, viewer_oid, draft_id, version, apply, "Only a failed send can be retried.")
    if out.status == "ok" and out.draft is not None:
        await _queue_send(store, out.draft, f":retry:{failed_at['at']}")
        kick_drain(store, tenant_id)
    return out


async def view(store: Store, tenant_id: str, viewer_oid: str, draft_id: Any) -> Outcome:
    draft, status = await _actor_draft(store, tenant_id, viewer_oid, draft_id)
    if draft is not None and draft.state == "superseded":
        # A split that stopped between its two steps finishes when its card is refreshed (Teams
        # refreshes it as the partner opens the chat): the company drafts' work items are idempotent.
        await _queue_company_drafts(store, draft)
        kick_drain(store, tenant_id)
    return Outcome(status, draft)


async def pending(store: Store, tenant_id: str, viewer_oid: str) -> list[Draft]:
    """The viewer's own drafts awaiting a decision, newest first."""
    scope = store.scope(tenant_id, viewer_oid)
    out: list[Draft] = []
    for state in PENDING_STATES:
        out += await scope.my_drafts(state)
    return sorted(out, key=lambda d: d.updatedAt, reverse=True)


# --- cards ---------------------------------------------------------------------------------------

async def card_for(store: Store, draft: Draft, *, notice: str | None = None, editing: bool = False,
                   now: datetime | None = None) -> dict[str, Any]:
    """The card for a draft, refreshed for the owner and every delegate."""
    owner = await store.get_person(draft.tenantId, draft.ownerOid)
    users: list[str] = []
    names = owner.name if owner else ""
    for oid in [draft.ownerOid, *(owner.delegates if owner else [])]:
        person = owner if owner and oid == owner.oid else await store.get_person(draft.tenantId, oid)
        users.append(_teams_user_id(person) or oid)
    return followup_card(draft, owner_name=names, now=aware(now or utcnow()), refresh_users=users, notice=notice,
                         editing=editing)


def _teams_user_id(person: Person | None) -> str | None:
    """The Teams user id (MRI, "29:...") from the person's conversation reference, when known."""
    ref = person.conversationRef if person else None
    user = ref.get("user") if isinstance(ref, dict) else None
    uid = user.get("id") if isinstance(user, dict) else None
    return uid if isinstance(uid, str) and uid else None



# The send-draft work handler lives in rapport.sender; importing it here registers it wherever
# follow-ups are drafted or approved (function_app, rapport serve, tests).
from rapport import sender as _sender  # noqa: E402, F401
