"""Approving a follow-up: the card's verbs as a state machine bound to the draft version on the card.

- Only the owning partner or a delegate the partner named may act; anyone else, another tenant, a
  wall or a bad id all get "not_found" and nothing changes (`actor_draft`: a draft's existence is not
  revealed either).
- Every verb names the version the card showed (`parse_version`): an older version is refused with
  the current one ("stale"). Each transition is an ETag-bound update, so of two concurrent approvals
  exactly one wins; the other sees "already".
- approve writes one AuditEvent (who, when, draft kind, meeting end -> approval; `record_send_time`
  adds the send, never the body: a hash, its length and the recipients) and queues the send, a
  "send-draft" work item (SEND_WORK, run by rapport.followups.sending) keyed draftId:version, so one
  send; edit saves a new version (To only among the meeting's outside attendees, Cc only the firm's
  own people: `_recipients`, a bad address refused with the card's text kept); save_and_approve saves a
  new version and approves exactly it in one transition (a stale card is refused, as for approve);
  snooze hides the draft until later today or tomorrow morning; skip dismisses it; retry re-approves
  a failed send under the same key; split (a neutral draft only) replaces it by one draft per
  company; view shows it (and finishes a split a crash interrupted); pending lists the viewer's
  drafts awaiting a decision.

Imports rapport's records, store and work queue, and rapport.followups.drafting (the companies of a
split); never sending, which imports this module.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Literal

from rapport import timezones, work
from rapport.capture.names import is_internal
from rapport.cards.followup import BODY_MAX, MAX_SPLIT, SUBJECT_MAX, companies_in
from rapport.followups.drafting import COMPANY_DRAFT_WORK, companies_of, company_draft_id, recipients_for
from rapport.records import AuditEvent, Draft, Meeting, Person, aware, normalize_email, stable_id, utcnow
from rapport.store import AlreadyExists, ScopedStore, Store
from rapport.text import clean, cut

SEND_WORK = "send-draft"  # run by rapport.followups.sending
SNOOZE_LATER = timedelta(hours=3)
TOMORROW_HOUR = 8  # in the partner's own time zone (Person.timeZone; UTC when unknown)
PENDING_STATES = ("drafted", "snoozed", "failed")

Status = Literal["ok", "already", "stale", "refused", "not_found", "bad_state", "invalid"]


@dataclass
class Outcome:
    status: Status
    draft: Draft | None = None
    message: str = ""
    editing: bool = False
    # What the partner typed, shown again on a refused save (a bad address) so nothing is lost.
    typed: dict[str, str] | None = None


MAX_CC = 10
_ADDRESS_SPLIT = re.compile(r"[,;\s]+")


async def allowed_recipients(store: Store, draft: Draft) -> list[str]:
    """Whom the partner may put on To: the meeting's outside attendees as code chooses them
    (rapport.followups.drafting.recipients_for). A draft for one company of a multi-company meeting
    keeps to that company's people (it names that company's matters); a neutral draft may go to any
    of them. The draft's current recipients are always among them."""
    current = list(draft.to)
    if draft.meetingId is None:
        return current
    meeting = await store.get(Meeting, draft.tenantId, draft.meetingId)
    tenant = await store.get_tenant(draft.tenantId)
    owner = await store.get_person(draft.tenantId, draft.ownerOid)
    if meeting is None or tenant is None or owner is None:
        return current
    everyone = recipients_for(meeting, tenant, owner)
    allowed = everyone
    if companies_in(draft) <= 1 and current:
        groups = await companies_of(ScopedStore(store, draft.tenantId, draft.ownerOid), everyone)
        if len(groups) > 1:
            allowed = [a for g in groups if set(g.recipients) & set(current) for a in g.recipients]
    return list(dict.fromkeys([*current, *allowed]))


def _addresses(raw: Any) -> list[str] | None:
    """A card input's addresses ("a@x.example,b@y.example"; the ChoiceSet's form), None when one is not
    an address."""
    if isinstance(raw, list):
        raw = ",".join(x for x in raw if isinstance(x, str))
    if not isinstance(raw, str):
        return []
    out: list[str] = []
    for part in _ADDRESS_SPLIT.split(clean(raw, multiline=False)[:2000]):
        if not part:
            continue
        try:
            out.append(normalize_email(part))
        except ValueError:
            return None
    return list(dict.fromkeys(out))


async def _recipients(store: Store, draft: Draft, to: Any, cc: Any) -> tuple[list[str], list[str]] | str:
    """The partner's To and Cc checked against the meeting (To) and the firm's people (Cc), or the
    message to show on the card. Never an outside address the meeting did not have."""
    if to is None and cc is None:
        return list(draft.to), list(draft.cc)  # a card without the recipient inputs: unchanged
    new_to = _addresses(to) if to is not None else list(draft.to)
    if new_to is None:
        return "One of the To addresses is not an email address."
    if not new_to:
        return "Choose at least one person from the meeting to write to."
    allowed = set(await allowed_recipients(store, draft))
    for address in new_to:
        if address not in allowed:
            return (f"{cut(address, 80)} was not at this meeting: a follow-up goes only to the meeting's "
                    "attendees. Add colleagues on Cc.")
    new_cc = _addresses(cc) if cc is not None else list(draft.cc)
    if new_cc is None:
        return "One of the Cc addresses is not an email address."
    if len(new_cc) > MAX_CC:
        return f"At most {MAX_CC} colleagues on Cc."
    if new_cc and new_cc != list(draft.cc):
        tenant = await store.get_tenant(draft.tenantId)
        people = {p.upn.lower() for p in await store.people(draft.tenantId) if p.upn}
        for address in new_cc:
            firm = tenant is not None and is_internal(address.rpartition("@")[2], tenant)
            if address not in draft.cc and (not firm or address not in people):
                return f"{cut(address, 80)} is not a colleague at the firm: Cc is for the firm's own people."
    return new_to, [a for a in new_cc if a not in new_to]


async def actor_draft(store: Store, tenant_id: str, viewer_oid: str, draft_id: Any) -> tuple[Draft | None, Status]:
    """The draft if this viewer may act on it, else ("not_found"): other tenants, walls, bad ids and
    a colleague who is neither the owner nor one of the owner's delegates (the scope shows a draft
    to those only) all get the same answer, so a draft's existence is not revealed either."""
    if not isinstance(draft_id, str) or not draft_id or len(draft_id) > 100:
        return None, "not_found"
    draft = await ScopedStore(store, tenant_id, viewer_oid).draft(draft_id)
    if draft is None or draft.tenantId != tenant_id:
        return None, "not_found"
    return draft, "ok"


def parse_version(value: Any) -> int | None:
    """The draft version a card's data names (an int, or digits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 9:
        return int(value)
    return None


def body_hash(draft: Draft) -> str:
    """What the audit keeps instead of the text: a hash of exactly what was approved."""
    return hashlib.sha256(f"{draft.subject}\x1f{draft.body}".encode()).hexdigest()


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
        work.kick_coalesced(store, tenant_id)  # the send runs after the answer
    return out


async def _queue_send(store: Store, draft: Draft, suffix: str = "") -> None:
    await work.enqueue(store, draft.tenantId, SEND_WORK, f"{draft.id}:v{draft.version}{suffix}",
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


def _edited_text(subject: Any, body: Any) -> tuple[str, str] | None:
    """The partner's subject and message as Rapport keeps them, or None when either is missing."""
    if not isinstance(subject, str) or not isinstance(body, str):
        return None
    # Card input enters from outside like any text: Rapport's one text rule (rapport.text.clean).
    new_subject = cut(" ".join(clean(subject, multiline=False).split()), SUBJECT_MAX)
    new_body = cut(clean(body).strip(), BODY_MAX)
    return (new_subject, new_body) if new_subject and new_body else None


def _save_text(d: Draft, subject: str, body: str, now: datetime) -> None:
    """The partner's text becomes the draft's next version."""
    d.subject, d.body = subject, body
    d.version += 1
    d.state = "drafted"
    d.snoozedUntil = None
    d.failureReason = None
    d.drafter = f"{d.drafter}+edited" if not d.drafter.endswith("+edited") else d.drafter
    d.flags = [f for f in d.flags if f not in ("llm_unavailable",)]
    d.updatedAt = now


async def edit(store: Store, tenant_id: str, viewer_oid: str, draft_id: Any, version: Any, subject: Any, body: Any,
               *, now: datetime | None = None, to: Any = None, cc: Any = None) -> Outcome:
    """Save the partner's text (and recipients: To among the meeting's attendees, Cc among the firm's
    colleagues) as a new version."""
    return await _save(store, tenant_id, viewer_oid, draft_id, version, subject, body, approve=False,
                       now=aware(now or utcnow()), to=to, cc=cc)


async def save_and_approve(store: Store, tenant_id: str, viewer_oid: str, draft_id: Any, version: Any, subject: Any,
                           body: Any, *, now: datetime | None = None, to: Any = None, cc: Any = None) -> Outcome:
    """"Save and approve" in one click: the partner's text becomes a new version and exactly that
    version is approved, in one ETag-bound transition (no other edit can come between the save and
    the approval). A card showing an older version is refused ("stale") and nothing is sent; the
    approval then follows `approve`'s path: one audit event, one send queued under draftId:version."""
    now = aware(now or utcnow())
    out = await _save(store, tenant_id, viewer_oid, draft_id, version, subject, body, approve=True, now=now,
                      to=to, cc=cc)
    if out.status == "already" and out.draft is not None:
        await _queue_send(store, out.draft)  # idempotent, as for a double-clicked approve
    elif out.status == "ok" and out.draft is not None:
        await _audit_approval(store, out.draft, viewer_oid, now)
        await _queue_send(store, out.draft)
        work.kick_coalesced(store, tenant_id)  # the send runs after the answer
    return out


def _typed(subject: Any, body: Any, to: Any, cc: Any) -> dict[str, str]:
    """The inputs as typed, to show again (bounded like the inputs themselves)."""
    def s(value: Any, limit: int) -> str:
        return cut(clean(value), limit) if isinstance(value, str) else ""
    return {"subject": s(subject, SUBJECT_MAX), "body": s(body, BODY_MAX), "to": s(to, 2000), "cc": s(cc, 2000)}


async def _save(store: Store, tenant_id: str, viewer_oid: str, draft_id: Any, version: Any, subject: Any, body: Any,
                *, approve: bool, now: datetime, to: Any = None, cc: Any = None) -> Outcome:
    draft, status = await actor_draft(store, tenant_id, viewer_oid, draft_id)
    if draft is None:
        return Outcome(status)
    v = parse_version(version)
    text = _edited_text(subject, body)
    if v is None or text is None:
        return Outcome("invalid", draft, "Both a subject and a message are needed.", editing=True,
                       typed=_typed(subject, body, to, cc))
    recipients = await _recipients(store, draft, to, cc)
    if isinstance(recipients, str):
        return Outcome("invalid", draft, recipients, editing=True, typed=_typed(subject, body, to, cc))
    new_to, new_cc = recipients
    new_subject, new_body = text
    result: dict[str, Status] = {}

    def change(d: Draft) -> Draft | None:
        if d.version != v:
            # The same click arriving twice: its text is already the approved next version.
            same = (approve and d.version == v + 1 and d.approvedBy == viewer_oid
                    and d.state in ("approved", "sending", "sent") and (d.subject, d.body) == text
                    and (d.to, d.cc) == (new_to, new_cc))
            result["s"] = "already" if same else "stale"
            return None
        if d.state not in PENDING_STATES:
            result["s"] = "bad_state"
            return None
        result["s"] = "ok"
        _save_text(d, new_subject, new_body, now)
        d.to, d.cc = list(new_to), list(new_cc)
        if approve:
            d.state, d.approvedBy, d.approvedAt = "approved", viewer_oid, now
        return d

    updated = await _transition(store, draft, change)
    current = updated or await store.get(Draft, tenant_id, draft.id)
    s = result.get("s", "not_found")
    if current is None or s == "not_found":
        return Outcome("not_found")
    if s == "stale":
        return Outcome("stale", current, f"This draft changed since that card; this is version {current.version}.")
    if s == "bad_state":
        return Outcome("bad_state", current, "This draft can no longer be edited.")
    if s == "already":
        return Outcome("already", current)
    if approve:
        return Outcome("ok", current, f"Saved as version {current.version} and approved.")
    return Outcome("ok", current, f"Saved as version {current.version}.")


def snooze_until(choice: str, now: datetime, tz: tzinfo = UTC) -> datetime:
    """When a snooze ends: "tomorrow" is TOMORROW_HOUR on the next calendar day in `tz` (the
    partner's zone, so DST changes overnight are honoured); anything else is SNOOZE_LATER from now."""
    if choice == "tomorrow":
        day = now.astimezone(tz).date() + timedelta(days=1)
        local = datetime(day.year, day.month, day.day, TOMORROW_HOUR, tzinfo=tz)
        return local.astimezone(UTC)
    return now + SNOOZE_LATER


async def partner_zone(store: Store, tenant_id: str, oid: str) -> tzinfo:
    """The time zone of the partner `oid` (UTC when the record or its zone is unknown)."""
    person = await store.get(Person, tenant_id, oid)
    return timezones.zone(person.timeZone if person else "")


async def _simple(store: Store, tenant_id: str, viewer_oid: str, draft_id: Any, version: Any,
                  apply: Callable[[Draft], bool | Status], refusal: str) -> Outcome:
    """One card verb on one draft version: `apply` changes the draft in place and says "ok" (or True),
    "already" (nothing to do, not an error) or "bad_state" (or False); ETag-bound, re-applied on a race."""
    draft, status = await actor_draft(store, tenant_id, viewer_oid, draft_id)
    if draft is None:
        return Outcome(status)
    v = parse_version(version)
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
    draft, _ = await actor_draft(store, tenant_id, viewer_oid, draft_id)
    # The owning partner's morning, also when a delegate snoozes it from another zone.
    tz = await partner_zone(store, tenant_id, draft.ownerOid) if draft is not None else UTC
    until = snooze_until(choice, now, tz)

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
        work.kick_coalesced(store, tenant_id)
    return out


async def _queue_company_drafts(store: Store, draft: Draft) -> None:
    """One draft work item per company of the replaced draft's recipients (idempotent keys)."""
    if draft.meetingId is None:
        return
    scope = ScopedStore(store, draft.tenantId, draft.ownerOid)  # grouped as the owner's records say, like the draft
    for company in await companies_of(scope, list(draft.to)):
        did = company_draft_id(draft.meetingId, draft.ownerOid, company.key)
        await work.enqueue(store, draft.tenantId, COMPANY_DRAFT_WORK, did, {
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
        work.kick_coalesced(store, tenant_id)
    return out


async def view(store: Store, tenant_id: str, viewer_oid: str, draft_id: Any) -> Outcome:
    draft, status = await actor_draft(store, tenant_id, viewer_oid, draft_id)
    if draft is not None and draft.state == "superseded":
        # A split that stopped between its two steps finishes when its card is refreshed (Teams
        # refreshes it as the partner opens the chat): the company drafts' work items are idempotent.
        await _queue_company_drafts(store, draft)
        work.kick_coalesced(store, tenant_id)
    return Outcome(status, draft)


async def pending(store: Store, tenant_id: str, viewer_oid: str) -> list[Draft]:
    """The viewer's own drafts awaiting a decision, newest first."""
    scope = ScopedStore(store, tenant_id, viewer_oid)
    out: list[Draft] = []
    for state in PENDING_STATES:
        out += await scope.my_drafts(state)
    return sorted(out, key=lambda d: d.updatedAt, reverse=True)


async def _transition(store: Store, draft: Draft, change: Callable[[Draft], Draft | None]) -> Draft | None:
    return await store.update(Draft, draft.tenantId, draft.id, change)


__all__ = [
    "MAX_CC", "PENDING_STATES", "SEND_WORK", "Outcome", "Status", "actor_draft", "allowed_recipients", "approve", "audit_id", "body_hash", "edit",
    "parse_version", "pending", "record_send_time", "retry", "save_and_approve", "skip", "snooze", "snooze_until",
    "split", "view",
]
