"""An enquiry's life after intake: stages, "conflicts cleared", merging, logging one by hand, "my pipeline".
(A phone call logged against one: rapport.pipeline.calls.)

Every change is made as a viewer through the scoped store (a walled or private enquiry does not
exist for them: the same "not_found" as a bad id), by someone allowed to: the owner, a delegate the
owner named, or a role that may act on the firm's pipeline (rapport.identity.membership.may,
"firm_pipeline"). Each stage change is recorded (`stageChanges`: stage, who, when) and audited
("enquiry.stage"); stages may be skipped; "lost" needs a reason. Entering "proposal" starts the
five-touch cadence (rapport.pipeline.cadence).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from rapport.capture.names import clean_name, is_free_mail, is_internal
from rapport.identity.membership import may
from rapport.pipeline.response import dismiss_ack
from rapport.records import (
    ENQUIRY_STAGES,
    OPEN_STAGES,
    Account,
    AuditEvent,
    Contact,
    Enquiry,
    Owner,
    StageChange,
    account_id,
    aware,
    contact_id,
    normalize_email,
    stable_id,
    utcnow,
)
from rapport.store.base import AlreadyExists, Store
from rapport.store.scope import ScopedStore
from rapport.text import clean, cut

Status = Literal["ok", "already", "not_found", "refused", "invalid"]
NEXT_STAGE = {"enquiry": "needs_analysis", "needs_analysis": "proposal", "proposal": "negotiation",
              "negotiation": "instructed"}
STAGE_LABELS = {"enquiry": "Enquiry", "needs_analysis": "Needs analysis", "proposal": "Proposal",
                "negotiation": "Negotiation", "instructed": "Instructed", "lost": "Lost"}
REASON_MAX = 300
REFUSED = "Only the enquiry's owner, a delegate or business development may change it."


@dataclass
class Outcome:
    status: Status
    enquiry: Enquiry | None = None
    message: str = ""


async def visible_enquiry(store: Store, tenant_id: str, viewer_oid: str, enquiry_id: Any) -> Enquiry | None:
    """The enquiry as this viewer may see it, else None (walls, privacy, other tenants, bad ids alike)."""
    if not isinstance(enquiry_id, str) or not enquiry_id or len(enquiry_id) > 100:
        return None
    e = await ScopedStore(store, tenant_id, viewer_oid).get(Enquiry, enquiry_id)
    return e if isinstance(e, Enquiry) and e.mergedInto is None else None


async def may_act(store: Store, tenant_id: str, viewer_oid: str, e: Enquiry) -> bool:
    if e.ownerOid == viewer_oid:
        return True
    viewer = await store.get_person(tenant_id, viewer_oid)
    if may(viewer, "firm_pipeline"):
        return True
    owner = await store.get_person(tenant_id, e.ownerOid) if e.ownerOid else None
    return owner is not None and viewer_oid in owner.delegates


async def _acting(store: Store, tenant_id: str, viewer_oid: str, enquiry_id: Any) -> tuple[Enquiry | None, Status]:
    e = await visible_enquiry(store, tenant_id, viewer_oid, enquiry_id)
    if e is None:
        return None, "not_found"
    if not await may_act(store, tenant_id, viewer_oid, e):
        return e, "refused"
    return e, "ok"


async def change_stage(store: Store, tenant_id: str, viewer_oid: str, enquiry_id: Any, stage: Any, *,
                       reason: Any = "", now: datetime | None = None) -> Outcome:
    """Move the enquiry to `stage` (skips allowed; back too, e.g. a lost enquiry that comes back)."""
    now = aware(now or utcnow())
    if not isinstance(stage, str) or stage not in ENQUIRY_STAGES:
        return Outcome("invalid", message="That is not a stage.")
    why = cut(" ".join(clean(reason if isinstance(reason, str) else "", multiline=False).split()), REASON_MAX)
    if stage == "lost" and not why:
        return Outcome("invalid", message="Say why it was lost (a few words).")
    e, status = await _acting(store, tenant_id, viewer_oid, enquiry_id)
    if e is None or status != "ok":
        return Outcome(status, None if status == "not_found" else e, REFUSED if status == "refused" else "")

    def apply(x: Enquiry) -> Enquiry | None:
        if x.stage == stage and (stage != "lost" or x.lostReason == why):
            return None
        x.stage = stage  # type: ignore[assignment]
        x.lostReason = why if stage == "lost" else ""
        x.stageChanges.append(StageChange(stage=stage, byOid=viewer_oid, at=now))
        if stage in ("proposal", "negotiation") and x.proposalAt is None:
            x.proposalAt = now  # the cadence counts from here
        return x

    updated = await store.update(Enquiry, tenant_id, e.id, apply)
    if updated is None:
        return Outcome("already", await store.get(Enquiry, tenant_id, e.id))
    await audit(store, updated, viewer_oid, "enquiry.stage", {"stage": stage, "from": e.stage}, now)
    return Outcome("ok", updated, f"Marked {STAGE_LABELS[stage].lower()}.")


async def set_conflicts_cleared(store: Store, tenant_id: str, viewer_oid: str, enquiry_id: Any, *,
                                now: datetime | None = None) -> Outcome:
    """The owner says conflicts are cleared: drafts may now speak about the matter."""
    now = aware(now or utcnow())
    e, status = await _acting(store, tenant_id, viewer_oid, enquiry_id)
    if e is None or status != "ok":
        return Outcome(status, None if status == "not_found" else e)

    def apply(x: Enquiry) -> Enquiry | None:
        if x.conflictsCleared:
            return None
        x.conflictsCleared = True
        return x

    updated = await store.update(Enquiry, tenant_id, e.id, apply)
    if updated is None:
        return Outcome("already", e)
    await audit(store, updated, viewer_oid, "enquiry.conflicts_cleared", {}, now)
    return Outcome("ok", updated, "Conflicts marked cleared.")


async def keep_open(store: Store, tenant_id: str, viewer_oid: str, enquiry_id: Any) -> Outcome:
    """After the fifth touch: keep the enquiry open (the cadence stays finished)."""
    e, status = await _acting(store, tenant_id, viewer_oid, enquiry_id)
    return Outcome(status, e, "Kept open." if status == "ok" else "")


async def merge(store: Store, tenant_id: str, viewer_oid: str, keep_id: Any, other_id: Any, *,
                now: datetime | None = None) -> Outcome:
    """Two enquiries of one person become one: `keep` gets the earlier receipt and first reply,
    both histories, and the other's stage when that one had got further (with its proposal date
    and touches, so the cadence goes on where it was); `other` is closed as merged (it no longer
    shows anywhere) and a pending acknowledgement no longer needed is dismissed."""
    now = aware(now or utcnow())
    keep, s1 = await _acting(store, tenant_id, viewer_oid, keep_id)
    other, s2 = await _acting(store, tenant_id, viewer_oid, other_id)
    if keep is None or other is None:
        return Outcome("not_found")
    if "refused" in (s1, s2):
        return Outcome("refused", keep, REFUSED)
    if keep.id == other.id or keep.contactId != other.contactId or keep.contactId is None:
        return Outcome("invalid", keep, "Only two enquiries of the same person can be merged.")
    order = {s: i for i, s in enumerate(OPEN_STAGES)}

    def fold(x: Enquiry) -> Enquiry:
        if aware(other.receivedAt) < aware(x.receivedAt):
            x.receivedAt = other.receivedAt
        if other.firstResponseAt and (x.firstResponseAt is None or aware(other.firstResponseAt) < aware(x.firstResponseAt)):
            x.firstResponseAt, x.firstResponderOid = other.firstResponseAt, other.firstResponderOid
            x.firstResponseChannel = other.firstResponseChannel
            x.responseSeconds = other.responseSeconds  # measured from the other's receipt; the timer's
            # figures stay as recorded (a merge is rare, and the metric is per first reply)
        if x.is_open and order.get(other.stage, -1) > order.get(x.stage, -1):
            x.stage = other.stage
            x.proposalAt, x.touches, x.followUpCount = other.proposalAt, other.touches, other.followUpCount
            x.cadencePausedAt, x.cadenceAskedAt = other.cadencePausedAt, other.cadenceAskedAt
        x.stageChanges = sorted([*x.stageChanges, *other.stageChanges], key=lambda c: aware(c.at))
        x.conflictsCleared = x.conflictsCleared or other.conflictsCleared
        return x

    merged = await store.update(Enquiry, tenant_id, keep.id, fold)

    def close(x: Enquiry) -> Enquiry | None:
        if x.mergedInto:
            return None
        x.mergedInto = keep.id
        return x

    await store.update(Enquiry, tenant_id, other.id, close)
    for draft_id in {other.ackDraftId, merged.ackDraftId if merged and merged.firstResponseAt else None} - {None}:
        await dismiss_ack(store, tenant_id, draft_id)
    await audit(store, keep, viewer_oid, "enquiry.merged", {"merged": other.id}, now)
    return Outcome("ok", merged, "Merged into one enquiry.")


async def merge_duplicate(store: Store, tenant_id: str, viewer_oid: str, one_id: Any, other_id: Any, *,
                          now: datetime | None = None) -> Outcome:
    """The "Merge" button of the card and the sidebar: the older of the two (the earlier receipt)
    is kept, whichever way round they are given."""
    if not all(isinstance(x, str) and x.strip() for x in (one_id, other_id)):
        return Outcome("invalid", message="Say which two enquiries to merge.")
    a = await visible_enquiry(store, tenant_id, viewer_oid, one_id)
    b = await visible_enquiry(store, tenant_id, viewer_oid, other_id)
    if a is None or b is None:
        return Outcome("not_found")
    keep, other = sorted((a, b), key=lambda e: (aware(e.receivedAt), e.id))
    return await merge(store, tenant_id, viewer_oid, keep.id, other.id, now=now)


async def open_enquiries_of(store: Store, tenant_id: str, viewer_oid: str, cid: str) -> list[Enquiry]:
    """A person's open enquiries as the viewer may see them, oldest first (a second one is a
    duplicate to merge)."""
    found = await ScopedStore(store, tenant_id, viewer_oid).find_all(Enquiry, f"ct:{cid}:open")
    return sorted((e for e in found if e.is_open), key=lambda e: (aware(e.receivedAt), e.id))


async def log_by_hand(store: Store, tenant_id: str, viewer_oid: str, email: Any, name: Any = "", *,
                      subject: Any = "", now: datetime | None = None) -> Outcome:
    """"Log as enquiry" (sidebar) and "new enquiry from NAME or EMAIL" (bot): the viewer owns it; an
    open enquiry of the same person is returned instead of a second one."""
    now = aware(now or utcnow())
    try:
        address = normalize_email(clean(email, multiline=False) if isinstance(email, str) else "")
    except ValueError:
        return Outcome("invalid", message="That is not an email address.")
    firm = await store.get_tenant(tenant_id)
    domain = address.rpartition("@")[2]
    if firm is None or is_internal(domain, firm):
        return Outcome("invalid", message="That address is the firm's own.")
    scope = ScopedStore(store, tenant_id, viewer_oid)
    cid = contact_id(address)
    acct = None if is_free_mail(domain) else account_id(domain)
    if acct and await scope.account(acct) is None and await store.get(Account, tenant_id, acct) is not None:
        return Outcome("not_found")  # a walled company: as if unknown, and nothing is written
    for e in await scope.find_all(Enquiry, f"ct:{cid}:open"):
        if e.mergedInto is None:
            return Outcome("already", e, "This person already has an open enquiry.")
    viewer = await store.get_person(tenant_id, viewer_oid)
    shown = clean_name(name if isinstance(name, str) else "")
    if acct and await store.get(Account, tenant_id, acct) is None:
        from rapport.capture.mapping import account_record  # capture's own naming of a new company

        try:
            await store.put(account_record(tenant_id, acct, domain), create_only=True)
        except AlreadyExists:
            pass
    if await store.get(Contact, tenant_id, cid) is None:
        owners = [Owner(oid=viewer_oid, name=viewer.name if viewer else "", since=now, lastTouch=now)]
        try:
            await store.put(Contact(id=cid, tenantId=tenant_id, email=address, name=shown, accountId=acct,
                                    owners=owners, firstSeen=now, lastSeen=now), create_only=True)
        except AlreadyExists:
            pass
    text = cut(" ".join(clean(subject if isinstance(subject, str) else "", multiline=False).split()), 300)
    e = Enquiry(id=stable_id("eq", tenant_id, cid, "manual", now.isoformat()), tenantId=tenant_id, accountId=acct,
                contactId=cid, ownerOid=viewer_oid, subject=text or f"Enquiry from {shown or address}",
                receivedAt=now, source="manual", reason="logged by hand", receivedBy=viewer_oid,
                stageChanges=[StageChange(stage="enquiry", byOid=viewer_oid, at=now)])
    await store.put(e, create_only=True)
    await audit(store, e, viewer_oid, "enquiry.logged", {}, now)
    return Outcome("ok", e, "Logged as an enquiry.")


async def my_pipeline(store: Store, tenant_id: str, viewer_oid: str, *, now: datetime | None = None,
                      overdue: Any = None) -> list[Enquiry]:
    """The viewer's open enquiries: overdue first (clock past its deadline), then by stage, newest first.
    `overdue(e) -> bool` decides overdue (rapport.pipeline.timer.is_overdue, given the firm's hours)."""
    mine = [e for e in await ScopedStore(store, tenant_id, viewer_oid).find_all(Enquiry, f"owner:{viewer_oid}:open")
            if e.mergedInto is None]
    order = {s: i for i, s in enumerate(OPEN_STAGES)}
    mine.sort(key=lambda e: aware(e.receivedAt), reverse=True)
    mine.sort(key=lambda e: (not (overdue(e) if overdue else False), order.get(e.stage, 9)))
    return mine


async def find_by_name(store: Store, tenant_id: str, viewer_oid: str, name: str) -> list[Enquiry]:
    """The viewer's open enquiries whose person or company matches `name` (for "mark X instructed")."""
    wanted = " ".join(name.casefold().split())
    if len(wanted) < 2:
        return []
    scope = ScopedStore(store, tenant_id, viewer_oid)
    out = []
    for e in await scope.find_all(Enquiry, f"owner:{viewer_oid}:open"):
        view = await scope.contact(e.contactId) if e.contactId else None
        acct = await scope.account(e.accountId) if e.accountId else None
        hay = " ".join(x for x in (
            view.contact.name if view and view.contact else "", view.email if view else "",
            acct.name if acct else "", e.subject) if x).casefold()
        if wanted in hay:
            out.append(e)
    return out


async def audit(store: Store, e: Enquiry, actor: str, action: str, details: dict[str, Any], now: datetime) -> None:
    event = AuditEvent(id=stable_id("au", action, e.id, now.isoformat(), actor), tenantId=e.tenantId, at=now,
                       actorOid=actor, action=action, targetId=e.id, details=details)
    try:
        await store.audit(event)
    except AlreadyExists:
        pass


__all__ = ["NEXT_STAGE", "REFUSED", "STAGE_LABELS", "Outcome", "audit", "change_stage", "find_by_name",
           "keep_open", "log_by_hand", "may_act", "merge", "merge_duplicate", "my_pipeline", "open_enquiries_of",
           "set_conflicts_cleared", "visible_enquiry"]
