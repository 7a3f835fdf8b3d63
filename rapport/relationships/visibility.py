"""A partner decides who at the firm sees their relationship with a contact: private, team or firm.

Only an owner of the contact may change their own entry (`Contact.owners[i].visibility`), and not an
entry an introduction gave them (`via="intro"`: they may see the contact, not pass it on); the rule
that reads it is rapport.store.scope (ScopedStore.may_see), so the change applies at once to every
surface that reads through the scope (sidebar, briefs, drafting, bot commands, card refreshes): this
module writes the entry and nothing else. The write is ETag-bound (Store.update), so a capture
merge running at the same moment cannot undo it, and every change is an AuditEvent
"visibility.changed" (from, to; never contact details).

Imports rapport's records and store only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, get_args

from rapport.records import AuditEvent, Contact, Visibility, aware, contact_id, stable_id, utcnow
from rapport.store import AlreadyExists, ScopedStore, Store
from rapport.store.errors import NotFound

CHOICES: tuple[str, ...] = get_args(Visibility)
ACTION = "visibility.changed"


class NotOwner(PermissionError):
    """The caller sees the contact but is not one of its owners: only owners decide."""


def parse(value: Any) -> str:
    """A visibility from input, or ValueError naming the choices."""
    if not isinstance(value, str) or value.strip().lower() not in CHOICES:
        raise ValueError(f"visibility must be one of: {', '.join(CHOICES)}")
    return value.strip().lower()


async def set_visibility(store: Store, tenant_id: str, actor_oid: str, email: str, visibility: str, *,
                         now: datetime | None = None) -> tuple[Contact, str]:
    """Set the actor's own entry on the contact of `email` to `visibility`. Returns (contact, previous).

    Raises NotFound for a contact the actor does not see at all (unknown, walled, another tenant's:
    one answer), NotOwner when the actor is not an owner, ValueError for a bad choice."""
    visibility = parse(visibility)
    now = aware(now or utcnow())
    cid = contact_id(email)
    view = await ScopedStore(store, tenant_id, actor_oid).contact(cid)
    if view is None:
        raise NotFound()
    # An owner always sees their own contact in full; anyone else is refused without a write.
    mine = next((o for o in view.contact.owners if o.oid == actor_oid), None) if view.contact is not None else None
    if mine is None:
        raise NotOwner("only a partner who knows this contact can change who sees it")
    if mine.via == "intro":  # shared with the actor by an introduction: theirs to see, not to pass on
        raise NotOwner("this contact was shared with you by an introduction; the partners who know them decide "
                       "who sees it")
    before: dict[str, str] = {}

    def change(c: Contact) -> Contact | None:
        entry = next((o for o in c.owners if o.oid == actor_oid), None)
        if entry is None:
            return None
        before["v"] = entry.visibility
        if entry.visibility == visibility:
            return None
        entry.visibility = visibility  # type: ignore[assignment]
        return c

    updated = await store.update(Contact, tenant_id, cid, change)
    previous = before.get("v", visibility)
    if updated is None:
        current = await store.get(Contact, tenant_id, cid)
        if current is None:
            raise NotFound()
        return current, previous
    try:
        await store.audit(AuditEvent(
            id=stable_id("au", ACTION, cid, actor_oid, now.isoformat()), tenantId=tenant_id, at=now,
            actorOid=actor_oid, action=ACTION, targetId=cid, details={"from": previous, "to": visibility}))
    except AlreadyExists:  # the same change in the same microsecond (a double submit): recorded once
        pass
    return updated, previous
