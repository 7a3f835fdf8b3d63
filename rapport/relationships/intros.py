"""Asking for an introduction instead of seeing a colleague's private relationship.

Where the scope shows a colleague only that a contact is known and to whom (a "restricted" view:
rapport.store.scope), the colleague may ask the owners for an introduction with a short reason:

- `ask`: one open request per (contact, asker); asking again folds into it (`asks` counts, the
  audit says "intro.folded"). Only for a restricted view: an unknown, walled or other-tenant
  contact is "not_found" (the same answer for all three), a contact the asker already sees is
  "visible". The request goes to every owner who keeps it from the asker; an owner who left the
  firm (Person.enabled False) is answered for by the managing partner(s)
  (rapport.identity.membership.managing_partners). Each of them gets a card.
- `answer`: any one of those may answer, once (an ETag-bound transition; the second answer is
  "already"): share (the asker gets an owner entry of their own on the contact, kept private, so
  the scope shows them the contact and nobody else more than before), introduce (the owner will
  make the introduction; nothing is shared), or decline with a reason. The asker gets a card with
  the outcome. Nothing about the contact reaches the asker before an acceptance: the asker's
  answers and cards carry only what the asker typed and the address they asked about. A shared
  entry is marked `via="intro"`: its holder may not widen it (rapport.relationships.visibility), so
  an introduction never shares the contact beyond the asker.
- `remind_pass`: an open request unanswered three working days (Monday to Friday) after it was
  made gets one reminder card, never two.

Every request, fold, answer and reminder is an AuditEvent ("intro.requested", "intro.folded",
"intro.accepted", "intro.declined", "intro.reminded"): rapport.relationships.audit reads them.

Imports rapport's records, store, text, identity.membership, cards and this package's notify.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from rapport.cards.relationships import REASON_MAX, intro_outcome_card, intro_request_card
from rapport.identity.membership import managing_partners, teams_user_id
from rapport.records import (
    AuditEvent,
    Contact,
    IntroRequest,
    Owner,
    Person,
    aware,
    contact_id,
    normalize_email,
    stable_id,
    utcnow,
)
from rapport.relationships import notify
from rapport.store import AlreadyExists, ScopedStore, Store
from rapport.text import clean

REQUESTED, FOLDED, ACCEPTED, DECLINED, REMINDED = (
    "intro.requested", "intro.folded", "intro.accepted", "intro.declined", "intro.reminded")
AUDIT_ACTIONS = (REQUESTED, FOLDED, ACCEPTED, DECLINED, REMINDED)
REMIND_AFTER_WORKING_DAYS = 3
CARD_REQUEST, CARD_OUTCOME = "intro.request", "intro.outcome"

Status = Literal["ok", "folded", "already", "not_found", "visible", "invalid", "nobody"]
Decision = Literal["share", "introduce", "decline"]


@dataclass
class Outcome:
    status: Status
    request: IntroRequest | None = None
    message: str = ""


def working_days_after(start: datetime, days: int) -> datetime:
    """`start` moved on by `days` working days (Saturdays and Sundays do not count)."""
    at = aware(start)
    left = days
    while left > 0:
        at += timedelta(days=1)
        if at.weekday() < 5:
            left -= 1
    return at


def clean_reason(value: Any) -> str:
    return clean(value if isinstance(value, str) else "", limit=REASON_MAX).strip()


async def _audit(store: Store, req: IntroRequest, action: str, actor: str, now: datetime, **details: Any) -> None:
    try:
        await store.audit(AuditEvent(
            id=stable_id("au", action, req.id, actor, now.isoformat()), tenantId=req.tenantId, at=now,
            actorOid=actor, action=action, targetId=req.id,
            details={"requestId": req.id, "askerOid": req.askerOid, "routedTo": list(req.routedTo),
                     "ownerOids": list(req.ownerOids), **details}))
    except AlreadyExists:  # the same event in the same microsecond (a double submit): recorded once
        pass


async def _route(store: Store, tenant_id: str, owner_oids: list[str], asker_oid: str) -> list[str]:
    """Who answers: each owner still at the firm; for any who left, the managing partner(s)."""
    people = {p.oid: p for p in await store.people(tenant_id)}
    routed = [o for o in owner_oids if (p := people.get(o)) is not None and p.enabled]
    if len(routed) < len(owner_oids):
        routed += [m.oid for m in managing_partners(people.values()) if m.oid != asker_oid and m.oid not in routed]
    return routed


async def ask(store: Store, tenant_id: str, asker_oid: str, email: str, reason: Any, *,
              now: datetime | None = None) -> Outcome:
    """Ask the owners of the contact of `email` for an introduction (see the module's doc)."""
    now = aware(now or utcnow())
    try:
        cid = contact_id(normalize_email(email))
    except ValueError:
        return Outcome("not_found")
    reason = clean_reason(reason)
    scoped = ScopedStore(store, tenant_id, asker_oid)
    view = await scoped.contact(cid)
    if view is None:
        return Outcome("not_found")
    if not view.restricted:
        return Outcome("visible", message="You already see this contact.")
    contact = await store.get(Contact, tenant_id, cid)
    if contact is None:
        return Outcome("not_found")
    hidden = await scoped.hidden_owners(contact)
    owner_oids = [o.oid for o in contact.owners if o.oid in hidden and o.oid != asker_oid]
    routed = await _route(store, tenant_id, owner_oids, asker_oid)
    if not routed:
        return Outcome("nobody", message="Nobody at the firm can answer for this contact right now.")
    latest = (await store.find(IntroRequest, tenant_id, key=f"pair:{cid}:{asker_oid}", newest_first=True,
                               limit=1)).items
    prev = latest[0] if latest else None
    if prev is not None and prev.state == "open":
        return await _fold(store, prev, reason, now)
    req = IntroRequest(id=IntroRequest.id_for(cid, asker_oid, (prev.round + 1) if prev else 1), tenantId=tenant_id,
                       contactId=cid, askerOid=asker_oid, ownerOids=owner_oids, routedTo=routed, reason=reason,
                       round=(prev.round + 1) if prev else 1, createdAt=now)
    try:
        req = await store.put(req, create_only=True)
    except AlreadyExists:  # two asks at once: the other one made it; this one folds into it
        existing = await store.get(IntroRequest, tenant_id, req.id)
        if existing is None:  # pragma: no cover - deleted between the two calls
            return Outcome("invalid")
        return await _fold(store, existing, reason, now)
    await _audit(store, req, REQUESTED, asker_oid, now, contactId=cid, reasonGiven=bool(reason))
    for oid in routed:
        await notify.queue(store, tenant_id, oid, CARD_REQUEST, req.id)
    return Outcome("ok", req)


async def _fold(store: Store, req: IntroRequest, reason: str, now: datetime) -> Outcome:
    def more(r: IntroRequest) -> IntroRequest | None:
        if r.state != "open":
            return None
        r.asks += 1
        if reason and not r.reason:
            r.reason = reason
        return r

    updated = await store.update(IntroRequest, req.tenantId, req.id, more)
    current = updated or req
    await _audit(store, current, FOLDED, req.askerOid, now, asks=current.asks)
    return Outcome("folded", current, "You already asked; your request is still open.")


async def request_for(store: Store, tenant_id: str, viewer_oid: str, request_id: Any) -> IntroRequest | None:
    """The request if this viewer may answer it (one it was routed to), else None: the same answer
    for a bad id, another tenant's, or one routed to someone else."""
    if not isinstance(request_id, str) or not request_id or len(request_id) > 100:
        return None
    req = await store.get(IntroRequest, tenant_id, request_id)
    if req is None or req.tenantId != tenant_id or viewer_oid not in req.routedTo:
        return None
    return req


async def answer(store: Store, tenant_id: str, actor_oid: str, request_id: Any, decision: Decision, reason: Any = "",
                 *, now: datetime | None = None) -> Outcome:
    now = aware(now or utcnow())
    req = await request_for(store, tenant_id, actor_oid, request_id)
    if req is None:
        return Outcome("not_found")
    if req.state != "open":
        return Outcome("already", req)
    reason = clean_reason(reason)
    if decision == "decline" and not reason:
        return Outcome("invalid", req, "Say why you decline: your colleague sees the reason.")

    def close(r: IntroRequest) -> IntroRequest | None:
        if r.state != "open":
            return None
        r.state = "declined" if decision == "decline" else "accepted"
        r.answer = "" if decision == "decline" else decision
        r.answeredBy, r.answeredAt, r.answerReason = actor_oid, now, reason
        return r

    done = await store.update(IntroRequest, tenant_id, req.id, close)
    if done is None:  # the other owner answered first
        return Outcome("already", await store.get(IntroRequest, tenant_id, req.id) or req)
    if decision == "share":
        await _share(store, done, now)
    await _audit(store, done, DECLINED if decision == "decline" else ACCEPTED, actor_oid, now, decision=decision,
                 reason=reason, contactId=done.contactId)
    await notify.queue(store, tenant_id, done.askerOid, CARD_OUTCOME, done.id, done.state)
    return Outcome("ok", done)


async def _share(store: Store, req: IntroRequest, now: datetime) -> None:
    """The asker's own owner entry on the contact, private: the scope shows them the contact in full,
    and nobody else sees more than before."""
    asker = await store.get_person(req.tenantId, req.askerOid)

    def add(c: Contact) -> Contact | None:
        if any(o.oid == req.askerOid for o in c.owners):
            return None
        c.owners = sorted([*c.owners, Owner(oid=req.askerOid, name=asker.name if asker else "", visibility="private",
                                            since=now, via="intro")], key=lambda o: o.oid)
        return c

    await store.update(Contact, req.tenantId, req.contactId, add)


async def remind_pass(store: Store, tenant_id: str, now: datetime) -> int:
    """One reminder per open request unanswered for REMIND_AFTER_WORKING_DAYS. Returns how many."""
    sent = 0
    for req in await store.find_all(IntroRequest, tenant_id, key="state:open"):
        if req.remindedAt is not None or now < working_days_after(req.createdAt, REMIND_AFTER_WORKING_DAYS):
            continue

        def mark(r: IntroRequest) -> IntroRequest | None:
            if r.state != "open" or r.remindedAt is not None:
                return None
            r.remindedAt = now
            return r

        done = await store.update(IntroRequest, tenant_id, req.id, mark)
        if done is None:
            continue
        await _audit(store, done, REMINDED, "rapport", now)
        for oid in done.routedTo:
            await notify.queue(store, tenant_id, oid, CARD_REQUEST, done.id, "reminder")
        sent += 1
    return sent


# --- cards -----------------------------------------------------------------------------------------

async def _name(store: Store, tenant_id: str, oid: str | None) -> str:
    p = await store.get_person(tenant_id, oid) if oid else None
    return p.name if p else ""


async def request_card(store: Store, req: IntroRequest, viewer_oid: str, *, notice: str | None = None) -> dict[str, Any]:
    """The request's card as `viewer_oid` (one it was routed to) sees it."""
    tid = req.tenantId
    view = await ScopedStore(store, tid, viewer_oid).contact(req.contactId)
    contact = await store.get(Contact, tid, req.contactId)
    label = (view.contact.name or view.contact.email) if view is not None and view.contact is not None else (
        contact.email if contact is not None and view is not None else "a contact")
    names = {o.oid: o.name for o in (contact.owners if contact else [])}
    people: list[Person | None] = [await store.get_person(tid, o) for o in req.routedTo]
    facts = {
        "requestId": req.id, "state": req.state, "askerName": await _name(store, tid, req.askerOid) or "A colleague",
        "reason": req.reason, "contactLabel": label, "ownerNames": [names.get(o, "") for o in req.ownerOids],
        "forLeaver": viewer_oid not in req.ownerOids, "reminder": req.remindedAt is not None,
        "answeredByName": await _name(store, tid, req.answeredBy), "answer": req.answer,
        "answerReason": req.answerReason,
    }
    users = [teams_user_id(p, oid) for p, oid in zip(people, req.routedTo, strict=True)]
    return intro_request_card(facts, refresh_users=users, notice=notice)


async def outcome_card(store: Store, req: IntroRequest) -> dict[str, Any]:
    """The asker's card: the contact's name only once accepted, and then only as the scope shows it."""
    tid = req.tenantId
    contact = await store.get(Contact, tid, req.contactId)
    facts: dict[str, Any] = {"state": req.state, "answer": req.answer, "answerReason": req.answerReason,
                             "answeredByName": await _name(store, tid, req.answeredBy),
                             "email": contact.email if contact else ""}
    if req.state == "accepted":
        view = await ScopedStore(store, tid, req.askerOid).contact(req.contactId)
        if view is not None and view.contact is not None:
            facts["contactName"] = view.contact.name
    return intro_outcome_card(facts)
