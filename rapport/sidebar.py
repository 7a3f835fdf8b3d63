"""What the Outlook sidebar shows a viewer about a sender: composed from Rapport's own records only.

Never a Graph or LLM call here: the partner is waiting. The budget is at most
three store round trips per request, counted by ScopedStore.calls, so the reads are batched:

1. one batch: the contact and the account of the sender's domain (the viewer's walls travel in
   the same batch, see ScopedStore.read_many), which decide known / restricted / unknown, and with
   them what a known contact shows, keyed by the contact id and the domain's account: its latest
   interactions, signals, upcoming meetings, the account's upcoming matter dates and open pipeline.
2. at most one trip the scope makes to apply its rule: the people, when a contact is shared with
   a team, and the other contacts a record involves (a meeting with two companies), together.
3. a contact filed under another account than its domain's: that account's dates and pipeline;
   a contact of no account: its own open enquiries.

Every result has passed the scope's rules (tenant, walls, owner visibility) before it is used, and
this module holds no copy of them; a walled or other-tenant contact comes back None and is answered
exactly like an unknown sender.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from rapport.records import (
    Account,
    Contact,
    Enquiry,
    Interaction,
    Matter,
    Meeting,
    Opportunity,
    Person,
    Signal,
    Tenant,
    account_id,
    aware,
    contact_id,
    iso,
    normalize_email,
)
from rapport.relationship import strength
from rapport.store.base import Read
from rapport.store.scope import ContactView, ScopedStore

HISTORY_FOR_STRENGTH = 20  # newest interactions read: enough for "how well" (24 a year is full marks), cheap
SHOWN_INTERACTIONS = 5
SHOWN_SIGNALS = 3
SHOWN_MEETINGS = 3
SHOWN_DATES = 5
SHOWN_PIPELINE = 5
MEETING_HORIZON = timedelta(days=60)
DATE_HORIZON = timedelta(days=180)
DATE_SOON = timedelta(days=30)


def _account_facts(a: Account | None) -> dict[str, Any] | None:
    return None if a is None else {"name": a.name, "kind": a.kind, "domain": a.domain}


def key_dates(matters: list[Matter], now: datetime, *, horizon: timedelta = DATE_HORIZON,
              limit: int = SHOWN_DATES) -> list[dict[str, Any]]:
    """Key dates of these matters (renewal, opposition, office action, annuity: Matter.key_dates)
    within `horizon`, soonest first (pure)."""
    out = []
    for m in matters:
        for kind, when in m.key_dates():
            if now <= aware(when) < now + horizon:
                out.append({"kind": kind, "date": iso(when), "matter": m.title, "reference": m.reference,
                            "soon": aware(when) - now <= DATE_SOON})
    out.sort(key=lambda d: d["date"])
    return out[:limit]


def _contact_reads(cid: str, now: datetime) -> list[Read]:
    """What the sidebar shows of a contact: latest history, signals, coming meetings."""
    return [
        Read(Interaction, key=f"ct:{cid}", newest_first=True, limit=HISTORY_FOR_STRENGTH),
        Read(Signal, key=f"ct:{cid}", newest_first=True, limit=SHOWN_SIGNALS),
        Read(Meeting, key=f"ct:{cid}", since=iso(now), until=iso(now + MEETING_HORIZON), limit=SHOWN_MEETINGS + 5),
    ]


def _account_reads(acct: str, now: datetime) -> list[Read]:
    return [
        # Matters sort by their earliest renewal/opposition date, so this range is "coming up".
        Read(Matter, key=f"acct:{acct}", since=iso(now), until=iso(now + DATE_HORIZON), limit=SHOWN_DATES * 2),
        Read(Enquiry, key=f"acct:{acct}:open", newest_first=True, limit=SHOWN_PIPELINE),
        Read(Opportunity, key=f"acct:{acct}:open", newest_first=True, limit=SHOWN_PIPELINE),
    ]


async def compose(scoped: ScopedStore, email: str, now: datetime) -> dict[str, Any]:
    """The plain facts for `email` as this viewer may see them. Raises ValueError on a bad address."""
    address = normalize_email(email)
    domain = address.rpartition("@")[2]
    cid = contact_id(address)
    domain_acct = account_id(domain)
    # One batch: the contact, the domain's account, the tenant (its own mail domains, to tell
    # internal mail apart), and already what a known contact shows (keyed by the contact id and the
    # domain's account, both known from the address). So the scope decides the contact's view and
    # every record's visibility over one batch, and reads what its rule needs (teams, the other
    # contacts a record involves) in one more trip at most. For an unknown or restricted sender the
    # records read are dropped unseen.
    detail = [*_contact_reads(cid, now), *_account_reads(domain_acct, now)]
    view, domain_account, tenant, *results = await scoped.read_many([
        Read(Contact, record_id=cid), Read(Account, record_id=domain_acct), Read(Tenant, record_id=scoped.tenant_id),
        *detail])
    base: dict[str, Any] = {"email": address, "asOf": iso(now)}

    if view is None and tenant is not None and domain in tenant.domains:
        (people,) = await scoped.read_many([Read(Person, key=f"upn:{address}", limit=1)])
        person = people[0] if people else None
        return {**base, "status": "colleague",
                "person": {"name": person.name, "title": person.title} if person else None}
    if view is None:
        # Unknown, walled or another tenant's: one answer for all three.
        return {**base, "status": "unknown", "account": _account_facts(domain_account)}
    assert isinstance(view, ContactView)
    if view.restricted:
        # Only that the contact is known and to whom: the viewer may ask them for an introduction
        # (rapport.relationships.intros; a walled viewer never gets here: the view is None).
        return {**base, "status": "restricted", "knownTo": list(dict.fromkeys(view.known_to)), "canAskIntro": True}
    return {**base, **await _known(scoped, view.contact, domain_account, results, now, tenant)}


async def _known(scoped: ScopedStore, contact: Contact, domain_account: Account | None, results: list[Any],
                 now: datetime, tenant: Tenant | None = None) -> dict[str, Any]:
    """`results`: _contact_reads then _account_reads of the domain's account, as read_many returned them."""
    acct = contact.accountId or (domain_account.id if domain_account else None)
    interactions, signals, meetings = results[:3]
    matters: list[Matter] = []
    pipeline: list[Enquiry | Opportunity] = []
    account = domain_account if acct and domain_account and domain_account.id == acct else None
    if acct and acct == account_id(contact.email.rpartition("@")[2]):
        matters, enquiries, opportunities = results[3:6]
        pipeline = [*enquiries, *opportunities]
    elif acct:  # the contact belongs to another account than its domain's: read that one's (one more trip)
        matters, enquiries, opportunities, account = await scoped.read_many(
            [*_account_reads(acct, now), Read(Account, record_id=acct)])
        pipeline = [*enquiries, *opportunities]
    else:  # no account at all: the contact's own open enquiries (one more trip)
        (pipeline,) = await scoped.read_many(
            [Read(Enquiry, key=f"ct:{contact.id}:open", newest_first=True, limit=SHOWN_PIPELINE)])

    viewer = scoped.viewer_oid
    # Whose relationship details to show as "private": decided by the scope (no round trip: what
    # it needs came with the batch above).
    hidden_owners = await scoped.hidden_owners(contact)
    names = {o.oid: o.name for o in contact.owners}

    known_by = []
    for o in contact.owners:
        if o.oid in hidden_owners:
            known_by.append({"name": o.name, "you": False, "private": True, "lastTouch": None,
                             "strength": None, "label": None})
            continue
        s = strength([i for i in interactions if i.ownerOid == o.oid], now)
        last = max((t for t in (o.lastTouch, s.last_touch) if t is not None), default=None)
        known_by.append({"name": o.name, "you": o.oid == viewer, "private": False,
                         "lastTouch": iso(last) if last else None, "strength": s.score, "label": s.label})
    known_by.sort(key=lambda k: (not k["you"], k["private"], -(k["strength"] or 0)))
    # An owner decides who sees their relationship (rapport.relationships.visibility): their own entry's choice.
    mine = next((o for o in contact.owners if o.oid == viewer), None)

    dates = key_dates(matters, now)

    return {
        "status": "known",
        "contact": {"name": contact.name, "title": contact.title, "phone": contact.phone},
        "account": _account_facts(account),
        "knownBy": known_by,
        "yourVisibility": mine.visibility if mine is not None and not mine.via else None,
        "interactions": [
            {"at": iso(i.at), "channel": i.channel, "direction": i.direction, "subject": i.subject,
             "text": i.text if i.channel in ("note", "call") else None,
             "by": "you" if i.ownerOid == viewer else names.get(i.ownerOid) or _person_name(scoped, i.ownerOid)}
            for i in interactions[:SHOWN_INTERACTIONS]
        ],
        "pipeline": [
            {"kind": "enquiry", "title": p.subject, "stage": p.stage, "since": iso(p.receivedAt),
             **_enquiry_facts(scoped, p, contact, tenant)}
            if isinstance(p, Enquiry) else
            {"kind": "opportunity", "title": p.title, "stage": p.stage, "since": iso(p.openedAt)}
            for p in pipeline[:SHOWN_PIPELINE]
        ],
        "duplicate": _duplicate(pipeline, contact),
        "meetings": [
            {"start": iso(m.start), "subject": m.subject}
            for m in meetings if not m.isCancelled
        ][:SHOWN_MEETINGS],
        "keyDates": dates,
        "signals": [{"kind": s.kind, "via": s.via, "summary": s.summary, "at": iso(s.at)}
                    for s in signals[:SHOWN_SIGNALS]],
    }


def _enquiry_facts(scoped: ScopedStore, e: Enquiry, contact: Contact, tenant: Tenant | None) -> dict[str, Any]:
    """For the sender's own enquiry: its id, owner, clock and next stage (the sidebar's next-step
    button); nothing more for a colleague's enquiry of the same company. No store call."""
    if e.contactId != contact.id:
        return {}
    from rapport.pipeline.clock import due_at  # pure
    from rapport.pipeline.stages import NEXT_STAGE

    due = due_at(tenant.settings, e.receivedAt, tenant.settings.responseHours) if tenant and e.clock_running else None
    return {"id": e.id, "sender": True, "owner": "you" if e.ownerOid == scoped.viewer_oid else
            (_person_name(scoped, e.ownerOid) if e.ownerOid else ""), "dueAt": iso(due) if due else None,
            "answeredAt": iso(e.firstResponseAt) if e.firstResponseAt else None, "next": NEXT_STAGE.get(e.stage)}


def _duplicate(pipeline: list[Enquiry | Opportunity], contact: Contact) -> dict[str, str] | None:
    """The sender's two oldest open enquiries, when they have more than one: the sidebar's "Merge
    into one" (rapport.pipeline.stages.merge_duplicate keeps the older). No store call."""
    mine = sorted((p for p in pipeline if isinstance(p, Enquiry) and p.contactId == contact.id and p.is_open),
                  key=lambda e: (aware(e.receivedAt), e.id))
    return {"enquiryId": mine[0].id, "otherId": mine[1].id} if len(mine) > 1 else None


def _person_name(scoped: ScopedStore, oid: str) -> str:
    p = scoped.person(oid)
    return p.name if p else "a colleague"


