""""Draft a note" on the partner's week card: a short check-in to a relationship going cold, drafted
from a fixed template and put in front of the partner on the follow-up approval card, so it leaves
only once approved and through the one exactly-once send (rapport.followups).

The partner may draft only to a contact they keep themselves (an Owner entry of theirs) and may see
(ScopedStore: walls); anything else answers like a contact that does not exist. One draft per
contact, partner and week: pressing the button again shows the same draft.
"""

from __future__ import annotations

from datetime import datetime

from rapport import timezones
from rapport.drafting.safety import outsider_field
from rapport.drafting.template import first_name
from rapport.followups.cards import queue_card
from rapport.metrics.definitions import week_of
from rapport.records import Draft, aware, stable_id, utcnow
from rapport.store import AlreadyExists, ScopedStore, Store


def note_id(contact_id: str, oid: str, week: str) -> str:
    return stable_id("df", "checkin", contact_id, oid, week)


async def draft_note(store: Store, tenant_id: str, oid: str, contact_id: str, now: datetime | None = None) -> Draft | None:
    """The check-in draft to `contact_id` for partner `oid` (made and queued for approval the first
    time), or None when the partner does not keep that contact or may not see it."""
    now = aware(now or utcnow())
    scoped = ScopedStore(store, tenant_id, oid)
    view = await scoped.contact(contact_id)
    if view is None or view.contact is None or oid not in {o.oid for o in view.contact.owners}:
        return None
    person = await store.get_person(tenant_id, oid)
    if person is None:
        return None
    c = view.contact
    greeting = first_name(c.name)
    company = ""
    if c.accountId:
        account = await scoped.account(c.accountId)
        company = outsider_field(account.name, 80)[0] if account else ""
    body = (f"Dear {greeting or 'colleague'},\n\n"
            f"It has been a while since we last spoke, and I hope all is well{' at ' + company if company else ''}. "
            "Would you have time for a short call or a coffee in the coming weeks? I would be glad to hear "
            "how things are going.\n\nBest regards,\n" + person.name)
    week = week_of(now, timezones.zone(person.timeZone)).isoformat()
    draft = Draft(id=note_id(c.id, oid, week), tenantId=tenant_id, kind="followup", ownerOid=oid,
                  accountIds=[c.accountId] if c.accountId else [], to=[c.email], subject="Catching up",
                  body=body, drafter="template", createdAt=now, updatedAt=now)
    try:
        draft = await store.put(draft, create_only=True)
    except AlreadyExists:
        return await store.get(Draft, tenant_id, draft.id)
    await queue_card(store, draft)
    return draft
