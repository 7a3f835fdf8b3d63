"""A firm's people and their roles: list, add, remove, set-role (`rapport people`, /api/admin/people).

Who a Person is: an Entra user of the firm, id = object id (oid), as everywhere (rapport.onboarding).
`add` writes the Person at once, whatever the role (before, only the partners listed at onboarding
got a record, on their first sync, so an associate or the BD desk could never use the pane). The
oid, name and UPN come from Graph (`GET /users/{upn}`) when Graph is configured, else from the
caller (`--oid`, `--name`). `capture=True` adds the UPN to Tenant.partners: Rapport then reads
their mail and calendar (rapport.identity.membership.is_partner is the rule).

`remove` never deletes: the firm's records stay (their captured history, the interactions they own,
audit). It disables the Person (membership refuses them at once-ish), stops their capture (off the
partners list, `captured` False), retires their Graph subscriptions (rapport.capture.subscriptions:
the route goes, so late notifications are dropped, and Graph is asked to delete it), and expires
their open follow-up drafts: handed to no one, never sent (state "expired"; the follow-up timer and
the sender only act on drafted/snoozed/approved drafts). A draft already "sending" is left to the
exactly-once sender: its mail may be at Graph already. Re-adding a removed person enables them again.

Every change is audited ("people.added", "people.removed", "people.role_changed"); never a body.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

from rapport.firm import FirmInputError
from rapport.identity import membership
from rapport.records import AuditEvent, Draft, Person, Subscription, Tenant, normalize_email, utcnow
from rapport.store.base import Store
from rapport.store.errors import NotFound
from rapport.text import clean

log = logging.getLogger("rapport.firm.people")

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
EXPIRING_STATES = ("drafted", "snoozed", "failed", "approved")  # open: not yet at the mail service


@dataclass(frozen=True)
class PersonRow:
    """One line of `people list`: what an admin needs to see, nothing captured."""

    oid: str
    upn: str
    name: str
    role: str
    enabled: bool
    captured: bool  # a partner whose mail and calendar Rapport reads (membership.is_partner)

    def as_json(self) -> dict[str, Any]:
        return {"oid": self.oid, "upn": self.upn, "name": self.name, "role": self.role,
                "enabled": self.enabled, "captured": self.captured}


def directory(settings: Any = None) -> Any:
    """The Graph client to look people up with (and delete their subscriptions at), or None when
    Graph is not configured: no client the host or a test provided, and no app id (RAPPORT_CLIENT_ID)."""
    from rapport import runtime

    svc = runtime.services()
    if svc.graph is not None:
        return svc.graph
    if not (settings or runtime.settings()).client_id:
        return None
    from rapport.capture.sync import graph_client

    return graph_client(settings)


# --- input ---------------------------------------------------------------------------------------

def parse_role(value: Any) -> str:
    try:
        return membership.parse_role(str(value))
    except ValueError as exc:
        raise FirmInputError(str(exc)) from None


def parse_upn(value: Any, tenant: Tenant) -> str:
    """A UPN of one of the firm's own domains (a guest's or an outsider's address is refused)."""
    text = clean(str(value or ""), multiline=False)
    try:
        upn = normalize_email(text)
    except ValueError:
        raise FirmInputError(f"{text[:80]!r} is not a user principal name (expected name@firm.com)") from None
    if membership.GUEST_UPN_MARK in upn:
        raise FirmInputError(f"{upn} is a guest account; only the firm's own people can be added")
    domain = upn.rpartition("@")[2]
    if tenant.domains and not any(domain == d or domain.endswith("." + d) for d in tenant.domains):
        raise FirmInputError(f"{upn} is not in the firm's domains ({', '.join(tenant.domains)})")
    return upn


def parse_oid(value: Any) -> str:
    v = str(value or "").strip().lower()
    if not _GUID.match(v):
        raise FirmInputError(f"{str(value)[:60]!r} is not an Entra object id (a GUID)")
    return v


async def firm(store: Store, tenant_id: str) -> Tenant:
    tenant = await store.get_tenant(tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {tenant_id} is not onboarded (rapport tenant add)")
    return tenant


async def find_person(store: Store, tenant: Tenant, who: Any) -> Person:
    """A Person of the firm by oid or UPN, or NotFound (bad input: FirmInputError)."""
    text = clean(str(who or ""), multiline=False).strip()
    if not text:
        raise FirmInputError("name the person by UPN or object id")
    if _GUID.match(text.lower()):
        person = await store.get_person(tenant.id, text.lower())
    else:
        person = await store.person_by_upn(tenant.id, parse_upn(text, tenant))
    if person is None:
        raise NotFound(f"no person {text[:80]} in this firm (rapport people list)")
    return person


# --- operations ----------------------------------------------------------------------------------

async def list_people(store: Store, tenant_id: str) -> list[PersonRow]:
    tenant = await firm(store, tenant_id)
    people = sorted(await store.people(tenant_id), key=lambda p: p.upn)
    return [PersonRow(p.oid, p.upn, p.name, p.role, p.enabled, membership.is_partner(p, tenant)) for p in people]


async def add_person(store: Store, tenant_id: str, upn: Any, *, role: Any = "partner", oid: Any = None,
                     name: Any = None, capture: bool = False, graph: Any = None, actor: str = "cli") -> tuple[Person, str]:
    """Add (or re-enable) a person. Returns (Person, "added" | "updated" | "unchanged").
    Everything is checked (and Graph asked) before anything is written."""
    tenant = await firm(store, tenant_id)
    upn_ = parse_upn(upn, tenant)
    role_ = parse_role(role)
    oid_ = parse_oid(oid) if oid else None
    name_ = clean(str(name), multiline=False).strip()[:200] if name else ""
    title = ""
    existing = await store.person_by_upn(tenant_id, upn_)
    if existing is None and graph is not None:
        found = await _from_directory(graph, tenant_id, upn_)
        if oid_ and oid_ != found["oid"]:
            raise FirmInputError(f"--oid {oid_} is not {upn_}'s object id in the firm's directory ({found['oid']})")
        oid_, name_, title = found["oid"], name_ or found["name"], found["title"]
    if existing is None and oid_ is None:
        raise FirmInputError(f"{upn_} has no record yet and Graph is not configured: give --oid (their Entra "
                             "object id) and --name")
    if existing is None and not name_:
        raise FirmInputError("--name is needed (Graph is not configured to look it up)")
    if existing is None:
        clash = await store.get_person(tenant_id, oid_)
        if clash is not None:
            raise FirmInputError(f"object id {oid_} is already {clash.upn}; one Entra user, one person")
        person = Person(id=oid_, tenantId=tenant_id, oid=oid_, upn=upn_, name=name_, title=title, role=role_,
                        captured=capture)
        await store.put(person, create_only=True)
        action = "added"
    else:
        if oid_ and oid_ != existing.oid:
            raise FirmInputError(f"{upn_} is already recorded with object id {existing.oid}")
        changes: dict[str, Any] = {"role": role_, "enabled": True, "captured": capture or existing.captured}
        if name_:
            changes["name"] = name_
        person = existing.model_copy(update=changes)
        action = "unchanged" if person.model_dump(exclude={"etag"}) == existing.model_dump(exclude={"etag"}) else "updated"
        if action == "updated":
            person = await store.update(Person, tenant_id, existing.id, lambda p: p.model_copy(update=changes)) or person
    if capture:
        await _capture(store, tenant, person)
    if action != "unchanged":
        await _audit(store, tenant_id, actor, "people.added", person.oid,
                     {"role": role_, "captured": capture, "again": existing is not None})
    return person, action


async def _from_directory(graph: Any, tenant_id: str, upn: str) -> dict[str, str]:
    from rapport.graph import GraphError

    try:
        data = await graph.get_user(tenant_id, upn)
    except GraphError as exc:
        if exc.status == 404:
            raise FirmInputError(f"no user {upn} in the firm's directory (Graph /users)") from None
        raise
    oid = str(data.get("id") or "").lower()
    if not _GUID.match(oid):
        raise FirmInputError(f"the directory gave no object id for {upn}")
    return {"oid": oid, "name": clean(str(data.get("displayName") or upn), multiline=False)[:200],
            "title": clean(str(data.get("jobTitle") or ""), multiline=False)[:200]}


async def _capture(store: Store, tenant: Tenant, person: Person) -> None:
    """Put `person` on the partners list. When the firm listed none, everyone who is a partner by
    role today is listed too: a list of one would otherwise stop capturing them (membership rule)."""
    people = await store.people(tenant.id)

    def change(t: Tenant) -> Tenant | None:
        listed = list(t.partners) or [p.upn for p in membership.partners(t, people) if p.oid != person.oid]
        if person.upn.lower() in {u.lower() for u in listed} and t.partners:
            return None
        t.partners = listed + ([person.upn] if person.upn.lower() not in {u.lower() for u in listed} else [])
        return t

    await store.update(Tenant, tenant.id, tenant.id, change)


async def remove_person(store: Store, tenant_id: str, who: Any, *, graph: Any = None,
                        actor: str = "cli") -> dict[str, Any]:
    """Disable a person, stop their capture and subscriptions, expire their open drafts. Keeps the
    firm's records. Idempotent. Returns what was done (for printing)."""
    tenant = await firm(store, tenant_id)
    person = await find_person(store, tenant, who)
    was = person.model_dump(exclude={"etag"})

    def disable(p: Person) -> Person:
        p.enabled, p.captured = False, False
        return p

    person = await store.update(Person, tenant_id, person.id, disable) or person

    def unlist(t: Tenant) -> Tenant | None:
        kept = [u for u in t.partners if u.lower() != person.upn.lower()]
        if kept == t.partners:
            return None
        t.partners = kept
        return t

    await store.update(Tenant, tenant_id, tenant_id, unlist)
    subs = await _retire_subscriptions(store, graph, tenant_id, person.oid)
    drafts = await expire_drafts(store, tenant_id, person.oid)
    changed = was != person.model_dump(exclude={"etag"}) or subs or drafts
    if changed:
        await _audit(store, tenant_id, actor, "people.removed", person.oid,
                     {"subscriptionsRetired": subs, "draftsExpired": drafts})
    return {"person": person, "subscriptions": subs, "drafts": drafts, "action": "removed" if changed else "unchanged"}


async def _retire_subscriptions(store: Store, graph: Any, tenant_id: str, oid: str) -> int:
    from rapport.capture.subscriptions import retire

    subs = [s for s in await store.find_all(Subscription, tenant_id, key=f"user:{oid}") if s.state == "active"]
    for sub in subs:
        await retire(store, graph, sub)  # no Graph configured: the route goes, Graph's copy lapses in days
    return len(subs)


async def expire_drafts(store: Store, tenant_id: str, owner_oid: str) -> int:
    """Expire `owner_oid`'s open follow-up drafts (never sent, handed to no one). Returns how many."""
    now = utcnow()
    n = 0
    for state in EXPIRING_STATES:
        for d in await store.drafts_by_state(tenant_id, state, owner_oid=owner_oid):
            def expire(x: Draft) -> Draft | None:
                if x.state not in EXPIRING_STATES:
                    return None  # sent or sending meanwhile: the exactly-once sender owns it
                x.state, x.snoozedUntil, x.updatedAt = "expired", None, now
                return x

            if await store.update(Draft, tenant_id, d.id, expire) is not None:
                n += 1
    return n


async def set_role(store: Store, tenant_id: str, who: Any, role: Any, *, actor: str = "cli") -> tuple[Person, str]:
    """Change a person's role (membership.ROLES). Returns (Person, "updated" | "unchanged")."""
    tenant = await firm(store, tenant_id)
    role_ = parse_role(role)
    person = await find_person(store, tenant, who)
    if person.role == role_:
        return person, "unchanged"
    before = person.role

    def change(p: Person) -> Person:
        p.role = role_  # type: ignore[assignment] - checked by parse_role
        return p

    person = await store.update(Person, tenant_id, person.id, change) or person
    await _audit(store, tenant_id, actor, "people.role_changed", person.oid, {"from": before, "to": role_})
    return person, "updated"


async def _audit(store: Store, tenant_id: str, actor: str, action: str, target: str, details: dict[str, Any]) -> None:
    await store.audit(AuditEvent(id=f"au_{uuid.uuid4().hex}", tenantId=tenant_id, actorOid=actor, action=action,
                                 targetId=target, details=details))
