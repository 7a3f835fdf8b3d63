"""Counsel moves acted on: the partners who know the person are told, a note is drafted, the move is tracked.

Capture writes a Signal (kind "counsel_move") when it learns a known person moved, in one of three
ways (Signal.via):
- "domain": the same name writes from another company's domain (rapport.capture.merge.counsel_moves);
- "signature": the person's own signature now names another company (rapport.capture.readers reads
  one recent mail of theirs a month, in memory, and keeps only the title and company it shows);
- "bounce": a non-delivery report says their address no longer exists (rapport.capture.readers
  reads the report's text for the address); where they went is not known.
On the next timer pass (`move_pass`, from rapport.relationships.timer_pass) each such signal of the
last LOOKBACK days is raised once:

- a MoveAlert keyed by the signal id is the memory: a raised or dismissed move is never raised
  again (capture may delete and re-derive a domain signal, and reads a signature or a bounce again
  and again; the signal's id, and so the alert's, stays the same);
- every partner who knows the person (an owner entry on the old or the new address) who is not
  walled from the old or the new company gets, through the scope's own answer (a walled contact or
  signal is None for them): a Teams card (who moved, from where to where, "who replaces them?"
  listing who at the firm knows others at the old company) and, where there is somewhere to write
  to (a domain or a signature move), a congratulations note as a follow-up Draft (purpose
  "counsel_move") that goes through the follow-up approval card and its exactly-once send
  (rapport.followups: queue_card, approval, sending). A walled partner gets nothing;
- a bounce gets the card only, saying the old address bounced and that where they went is not
  known yet, and no note: a note to an address that bounces would bounce again, and one asking the
  old company where they went would tell it who the firm is chasing. When the person writes from a
  new address, that domain move is raised with its note;
- the note is conflict-safe by construction: its template is given only the person's first name,
  the new company's name and the partner's name, never anything of the old company (its matters,
  enquiries or opportunities), so nothing of the old employer can reach the new one;
- "Not a move" on the card (`dismiss`) dismisses the alert and the notes still pending;
- tracking: a raised alert is "contacted" at the first outbound mail or meeting to the new address by
  one of the partners told (the approved note's send records one), so the report can say
  contacted within 7 and within 30 days (rapport.relationships.audit.move_tracking). A bounce has
  no new address: it is counted apart, never as waiting.

A title change at the same company (Signal kind "title_change") is not raised here: the sidebar,
the brief and the partner's Monday card show it (rapport.metrics.week), a lighter notice than a card.

Imports rapport's records, store, identity.membership, drafting.safety, followups (queue_card), cards and
this package's notify.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from rapport.cards.relationships import move_card
from rapport.drafting.safety import outsider_field
from rapport.drafting.template import first_name
from rapport.followups.cards import queue_card
from rapport.identity.membership import is_partner, teams_user_id
from rapport.records import (
    Account,
    AuditEvent,
    Contact,
    Draft,
    Interaction,
    MoveAlert,
    Person,
    Signal,
    Tenant,
    aware,
    contact_id,
    stable_id,
    utcnow,
)
from rapport.relationships import notify
from rapport.store import AlreadyExists, ScopedStore, Store
from rapport.store.base import Read

LOOKBACK = timedelta(days=30)  # a signal older than this when first seen is history, not news
TRACK_FOR = timedelta(days=30)
CARD_MOVE = "move.alert"
CARD_BOUNCE = "move.bounced"  # the same card (card_for), its own summary line
RAISED, DISMISSED = "move.raised", "move.dismissed"
PURPOSE = "counsel_move"


def congratulations(person_name: str, new_company: str, partner_name: str) -> tuple[str, str]:
    """(subject, body) of the note. Its only inputs are these three names: nothing of the old company
    can be in it. Outsider text (the person's and company's names) loses any link or address."""
    first = first_name(person_name)
    company = outsider_field(new_company, 80)[0].strip()
    subject = f"Congratulations on your move to {company}" if company else "Congratulations on your new role"
    where = f" at {company}" if company else ""
    body = "\n\n".join([
        f"Dear {first}," if first else "Hello,",
        f"I saw that you have taken up a new role{where}: congratulations, and every success with it.",
        "I would be glad to catch up once you have settled in; do let me know if there is anything we can "
        "help with in the meantime.",
        f"Best regards,\n{partner_name}".rstrip(),
    ])
    return subject, body


def draft_id(signal_id: str, partner_oid: str) -> str:
    return stable_id("dr", PURPOSE, signal_id, partner_oid)


async def _audit(store: Store, alert: MoveAlert, action: str, actor: str, now: datetime, **details: Any) -> None:
    try:
        await store.audit(AuditEvent(
            id=stable_id("au", action, alert.id, actor), tenantId=alert.tenantId, at=now, actorOid=actor,
            action=action, targetId=alert.id, details={"signalId": alert.signalId, **details}))
    except AlreadyExists:  # one event per (move, action, actor)
        pass


async def move_pass(store: Store, tenant: Tenant, now: datetime) -> int:
    """Raise every counsel move of the last LOOKBACK not raised yet, and track the raised ones.
    Returns how many moves were raised."""
    tid = tenant.id
    raised = 0
    signals = [s for s in await store.find_all(Signal, tid, since=now - LOOKBACK, until=now + timedelta(days=1))
               if s.kind == "counsel_move"]
    # Which were raised already: one batch of point reads, not a round trip per signal.
    known = await store.read_many(tid, [Read(MoveAlert, record_id=MoveAlert.id_for(s.id)) for s in signals])
    # One people list and one scope handle per partner for the whole pass (the walls are read once each).
    people = {p.oid: p for p in await store.people(tid)} if signals else {}
    scopes: dict[str, ScopedStore] = {}
    for s, alert in zip(signals, known, strict=True):
        if alert is None and await raise_move(store, tenant, s, now, people=people, scopes=scopes):
            raised += 1
    await track(store, tid, now)
    return raised


async def raise_move(store: Store, tenant: Tenant, signal: Signal, now: datetime, *,
                     people: dict[str, Person] | None = None,
                     scopes: dict[str, ScopedStore] | None = None) -> MoveAlert | None:
    tid = tenant.id
    scopes = {} if scopes is None else scopes
    new = await store.get(Contact, tid, signal.contactId)
    # Only a domain move names another contact (the old address); a signature or bounce is one address.
    old = (await store.get(Contact, tid, contact_id(signal.fromValue))
           if signal.via == "domain" and signal.fromValue else None)
    if new is None:
        return None
    knowers = list(dict.fromkeys(o.oid for c in (old, new) if c is not None for o in c.owners))
    told: list[str] = []
    drafts: list[str] = []
    for oid in knowers:
        person = people.get(oid) if people is not None else await store.get_person(tid, oid)
        if person is None or not is_partner(person, tenant):
            continue
        scoped = scopes.setdefault(oid, ScopedStore(store, tid, oid))
        # A wall on either company: for this partner the move does not exist. (The signal names every
        # company it is about, the new one a signature names too: the scope hides it if any is walled.)
        if await scoped.contact(new.id) is None or (old is not None and await scoped.contact(old.id) is None):
            continue
        if not await scoped.sees(signal):
            continue
        told.append(oid)
        if signal.via == "bounce":
            continue  # nowhere to write to: the card says so, no note (the module's doc)
        draft = await _note(store, scoped, signal, new, person, now)
        await queue_card(store, draft)
        drafts.append(draft.id)
    alert = MoveAlert(id=MoveAlert.id_for(signal.id), tenantId=tid, signalId=signal.id, contactId=new.id,
                      fromContactId=old.id if old else "", via=signal.via, partnerOids=told, draftIds=drafts,
                      raisedAt=now)
    try:
        alert = await store.put(alert, create_only=True)
    except AlreadyExists:
        return None
    for oid in told:
        await notify.queue(store, tid, oid, CARD_BOUNCE if alert.via == "bounce" else CARD_MOVE, alert.id)
    await _audit(store, alert, RAISED, "rapport", now, told=len(told))
    return alert


async def _note(store: Store, scoped: ScopedStore, signal: Signal, new: Contact, person: Person,
                now: datetime) -> Draft:
    """The congratulations note of one partner, to the address the person writes from now."""
    tid = signal.tenantId
    if signal.via == "signature":
        # The company their signature names (outsider text: `congratulations` keeps it to a name), and
        # the firm's account of that name if it has one; their address's own account is the old company.
        company, accounts = signal.toValue, [a for a in signal.accountIds if a != new.accountId]
    else:
        account = await scoped.account(new.accountId) if new.accountId else None
        company, accounts = (account.name if account else ""), ([new.accountId] if new.accountId else [])
    subject, body = congratulations(new.name, company, person.name)
    draft = Draft(id=draft_id(signal.id, person.oid), tenantId=tid, kind="followup", purpose=PURPOSE,
                  ownerOid=person.oid, accountIds=accounts, to=[new.email], subject=subject, body=body,
                  drafter="template", createdAt=now, updatedAt=now)
    try:
        return await store.put(draft, create_only=True)
    except AlreadyExists:  # a pass that stopped half-way made it: its card is keyed, so not sent twice
        return await store.get(Draft, tid, draft.id) or draft


async def track(store: Store, tenant_id: str, now: datetime) -> int:
    """Mark raised alerts contacted at the first outbound interaction after the move by a partner told."""
    marked = 0
    for alert in await store.find_all(MoveAlert, tenant_id, key="move-state:raised", since=now - TRACK_FOR):
        if alert.contactedAt is not None or alert.via == "bounce":
            continue  # a bounce has no address to contact them at
        page = await store.interactions_for_contact(tenant_id, alert.contactId, limit=50)
        times = [aware(i.at) for i in page.items if isinstance(i, Interaction) and i.ownerOid in alert.partnerOids
                 and i.direction == "outbound" and aware(i.at) >= aware(alert.raisedAt)]
        if not times:
            continue
        first = min(times)

        def mark(a: MoveAlert, first: datetime = first) -> MoveAlert | None:
            if a.contactedAt is not None:
                return None
            a.contactedAt = first
            return a

        if await store.update(MoveAlert, tenant_id, alert.id, mark) is not None:
            marked += 1
    return marked


@dataclass
class Outcome:
    status: Literal["ok", "already", "not_found"]
    alert: MoveAlert | None = None


async def alert_for(store: Store, tenant_id: str, viewer_oid: str, alert_id: Any) -> MoveAlert | None:
    """The alert if it was raised to this viewer, else None (bad id, another tenant's, someone else's)."""
    if not isinstance(alert_id, str) or not alert_id or len(alert_id) > 100:
        return None
    alert = await store.get(MoveAlert, tenant_id, alert_id)
    if alert is None or viewer_oid not in alert.partnerOids:
        return None
    return alert


async def dismiss(store: Store, tenant_id: str, actor_oid: str, alert_id: Any, *,
                  now: datetime | None = None) -> Outcome:
    """"Not a move": the alert is dismissed for good and its pending notes are skipped."""
    now = aware(now or utcnow())
    alert = await alert_for(store, tenant_id, actor_oid, alert_id)
    if alert is None:
        return Outcome("not_found")

    def close(a: MoveAlert) -> MoveAlert | None:
        if a.state == "dismissed":
            return None
        a.state, a.dismissedBy = "dismissed", actor_oid
        return a

    done = await store.update(MoveAlert, tenant_id, alert.id, close)
    if done is None:
        return Outcome("already", alert)

    def skip(d: Draft) -> Draft | None:
        if d.state not in ("drafted", "snoozed"):
            return None
        d.state, d.updatedAt = "dismissed", now
        return d

    for did in done.draftIds:
        skipped = await store.update(Draft, tenant_id, did, skip)
        if skipped is not None:
            await queue_card(store, skipped)
    await _audit(store, done, DISMISSED, actor_oid, now)
    return Outcome("ok", done)


async def card_for(store: Store, alert: MoveAlert, viewer_oid: str, *, notice: str | None = None) -> dict[str, Any] | None:
    """The move card as `viewer_oid` sees it; None when a wall now hides the move from them."""
    tid = alert.tenantId
    scoped = ScopedStore(store, tid, viewer_oid)
    new = await scoped.contact(alert.contactId)
    old = await scoped.contact(alert.fromContactId) if alert.fromContactId else None
    if new is None or new.contact is None or (alert.fromContactId and old is None):
        return None
    signal = await store.get(Signal, tid, alert.signalId) if alert.via != "domain" else None
    if signal is not None and not await scoped.sees(signal):
        return None
    old_contact = old.contact if old is not None else None
    if alert.via == "domain":
        old_acct = old_contact.accountId if old_contact is not None else None
        new_acct = await scoped.account(new.contact.accountId) if new.contact.accountId else None
    else:  # one address: its account is the company they left (a signature names the new one as text)
        old_acct, new_acct = new.contact.accountId, None
    from_acct = await scoped.account(old_acct) if old_acct else None
    others: dict[str, int] = {}
    if old_acct:
        (views,) = await scoped.read_many([Read(Contact, key=f"acct:{old_acct}", limit=200)])
        mover = {alert.contactId, alert.fromContactId}
        for v in views:
            if v.email and contact_id(v.email) in mover:
                continue
            for name in dict.fromkeys(v.known_to):
                others[name] = others.get(name, 0) + 1
    people = [await store.get_person(tid, o) for o in alert.partnerOids]
    facts = {
        "alertId": alert.id, "state": alert.state, "via": alert.via, "name": new.contact.name or new.contact.email,
        "fromCompany": from_acct.name if isinstance(from_acct, Account) else "",
        "toCompany": new_acct.name if isinstance(new_acct, Account) else "",
        "fromDomain": old_contact.email.rpartition("@")[2] if old_contact else "",
        "toDomain": new.contact.email.rpartition("@")[2],
        "drafted": draft_id(alert.signalId, viewer_oid) in alert.draftIds,
        "othersAtOld": [{"name": n, "count": c} for n, c in sorted(others.items(), key=lambda x: -x[1])],
        "contactedAt": alert.contactedAt.isoformat() if alert.contactedAt else None,
    }
    if alert.via == "signature":
        # The companies as the signatures named them (outsider text: the card shows it as plain text runs).
        facts["fromCompany"] = (signal.fromValue if signal else "") or facts["fromCompany"]
        facts["toCompany"] = signal.toValue if signal else ""
        facts["fromDomain"] = facts["toDomain"] = ""
    elif alert.via == "bounce":
        facts["address"] = new.contact.email
        facts["fromDomain"], facts["toDomain"] = facts["toDomain"], ""
    users = [teams_user_id(p, o) for p, o in zip(people, alert.partnerOids, strict=True)]
    return move_card(facts, refresh_users=users, notice=notice)
