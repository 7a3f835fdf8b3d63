"""Ethical walls from the firm's walls system (an Intapp Walls-like export or push): parse, check, sync.

A file (CSV or JSON Lines) lists walls: its id in the walls system, a name, what it screens (the
matters by reference, the clients by mail domain, the accounts by name) and the people it names by
UPN: insiders (an inclusionary wall: only they may see) and excluded people (an exclusionary wall:
they may not). One row per wall, or several rows with the same wall id (one per member or per
matter, as some exports do): the rows of a wall are merged. List cells are ";" or "|" separated
in CSV, arrays or such text in JSON. A `status` of inactive/ended/deleted/archived ends the wall.

Import is a sync. Each wall is written under an id derived from its walls-system id (re-importing
updates it); a FULL import also ends every wall of the firm the file does not list (a partial one,
the default, leaves them: ending a wall lifts a screen, so it must be asked for). Every import that
writes records Tenant.wallsSyncedAt, which the staleness rule reads (rapport.store.scope.walls_stale:
with TenantSettings.wallsMaxAgeHours set, a stale sync hides every walled account and matter from
everyone but its insiders). The watch (`walls_watch`, an hourly timer) alerts the firm's admin once
per stale episode: one ALERT log line naming the tenant, and an AuditEvent "walls.stale".

Safety of a sync with bad rows (only with skip_bad): a wall with a bad row is neither updated nor
ended, and when a bad row has no readable wall id a full import ends nothing: a row we could not
read must never lift a screen.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from rapport.firm.accounts import Accounts
from rapport.firm.rows import BadRow, Columns, Problem, Report, day, items, rows, text
from rapport.onboarding import OnboardingError, parse_domain
from rapport.records import (
    AuditEvent,
    Matter,
    Tenant,
    Wall,
    account_id,
    iso,
    normalize_email,
    stable_id,
    utcnow,
)
from rapport.store.base import Store
from rapport.store.errors import AlreadyExists
from rapport.store.scope import walls_stale

log = logging.getLogger("rapport.firm.walls")

COLUMNS: Columns = {
    "wall_id": ("id", "wallid", "wall", "external_id"),
    "name": ("wall_name", "title"),
    "status": ("state",),
    "matters": ("matter", "matter_references", "matter_refs", "matter_reference"),
    "clients": ("client", "client_domains", "client_domain", "domains", "domain"),
    "accounts": ("account", "account_names", "account_name", "client_names"),
    "insiders": ("insider", "included", "inclusions", "allowed", "insider_upns"),
    "excluded": ("screened", "exclusions", "excluded_people", "excluded_upns", "screened_upns"),
    "updated": ("updated_at", "modified", "last_modified"),
}
REQUIRED = ("wall_id",)
ENDED_STATUSES = {"inactive", "ended", "deleted", "archived", "closed", "removed"}


@dataclass
class WallRow:
    """One row, checked (pure)."""

    wall_id: str
    name: str = ""
    ended: bool = False
    matters: list[str] = field(default_factory=list)
    clients: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    insiders: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)


def _upns(value: Any, what: str) -> list[str]:
    out = []
    for v in items(value, what, limit=254):
        try:
            out.append(normalize_email(v))
        except ValueError:
            raise BadRow(f"{what}: {v[:60]!r} is not a user principal name (name@firm.com)") from None
    return out


def parse_row(row: dict[str, Any]) -> WallRow:
    """A row as a WallRow, or BadRow saying why not (pure)."""
    wall_id = text(row.get("wall_id"), "wall id", limit=200)
    if not wall_id:
        raise BadRow("no wall id")
    status = text(row.get("status"), "status", limit=40).lower()
    if status and status not in ENDED_STATUSES and status not in {"active", "open", "enabled", "live"}:
        raise BadRow(f"status {status!r} is not active or inactive")
    clients = []
    for d in items(row.get("clients"), "clients", limit=253):
        try:
            clients.append(parse_domain(d))
        except OnboardingError:
            raise BadRow(f"clients: {d[:60]!r} is not a mail domain") from None
    day(row.get("updated"), "updated")  # checked, not kept: the import's time is the sync's
    return WallRow(
        wall_id=wall_id, name=text(row.get("name"), "name"), ended=status in ENDED_STATUSES,
        matters=items(row.get("matters"), "matters", limit=100), clients=clients,
        accounts=items(row.get("accounts"), "accounts"), insiders=_upns(row.get("insiders"), "insiders"),
        excluded=_upns(row.get("excluded"), "excluded"),
    )


@dataclass
class _Merged:
    line: int  # the wall's first row
    row: WallRow


def _merge(into: WallRow, row: WallRow) -> None:
    into.name = into.name or row.name
    into.ended = into.ended or row.ended
    for name in ("matters", "clients", "accounts", "insiders", "excluded"):
        setattr(into, name, list(dict.fromkeys([*getattr(into, name), *getattr(row, name)])))


@dataclass
class WallsReport(Report):
    walls: int = 0
    ended: int = 0
    refused: bool = False  # bad rows and no skip_bad: nothing written
    dry_run: bool = False
    synced_at: datetime | None = None


def _content(w: Wall) -> dict[str, Any]:
    return w.model_dump(exclude={"etag", "createdAt", "updatedAt"})


async def import_walls(
    store: Store, tenant_id: str, stream: TextIO, *, full: bool = False, skip_bad: bool = False,
    dry_run: bool = False, actor: str = "cli", on_bad: Callable[[Problem], None] | None = None,
    progress: Callable[[int], None] | None = None, now: datetime | None = None,
) -> WallsReport:
    """Sync the firm's walls from `stream` (see the module's doc). Raises ImportFileError for a
    file that cannot be imported at all, LookupError for a tenant that is not onboarded."""
    now = now or utcnow()
    tenant = await store.get_tenant(tenant_id)
    if tenant is None:
        raise LookupError(f"tenant {tenant_id} is not onboarded (rapport tenant add)")
    report = WallsReport(dry_run=dry_run)
    merged: dict[str, _Merged] = {}
    bad_ids: set[str] = set()
    unreadable = False

    def bad(p: Problem, wall_id: str = "") -> None:
        nonlocal unreadable
        report.add_problem(p)
        if on_bad is not None:
            on_bad(p)
        if wall_id:
            bad_ids.add(wall_id)
        else:
            unreadable = True

    for line, row in rows(stream, COLUMNS, REQUIRED, progress=progress):
        report.rows += 1
        if isinstance(row, Problem):
            bad(row)
            continue
        try:
            parsed = parse_row(row)
        except BadRow as exc:
            try:
                wid = text(row.get("wall_id"), "wall id", limit=200)
            except BadRow:
                wid = ""
            bad(Problem(line, str(exc)), wid)
            continue
        if parsed.wall_id in merged:
            _merge(merged[parsed.wall_id].row, parsed)
        else:
            merged[parsed.wall_id] = _Merged(line, parsed)
    for wid, m in merged.items():  # what only the merged wall can tell
        r = m.row
        if not r.ended and not (r.matters or r.clients or r.accounts):
            bad(Problem(m.line, f"wall {wid[:60]!r} screens nothing (no matters, clients or accounts)"), wid)
        elif not r.ended and not (r.insiders or r.excluded):
            bad(Problem(m.line, f"wall {wid[:60]!r} names no insiders or excluded people"), wid)
    if report.bad and not skip_bad:
        report.refused = True
        return report

    people = {p.upn.lower(): p.oid for p in await store.people(tenant_id)}
    accounts = Accounts(store, tenant_id)
    existing = {w.id: w for w in await store.walls(tenant_id)}
    changed: list[Wall] = []
    for wid, m in merged.items():
        if wid in bad_ids:
            continue
        r = m.row
        account_ids = [account_id(d) for d in r.clients]
        for name in r.accounts:
            found = await accounts.by_name(name)
            if found is None:
                report.notes.append(f"line {m.line}: wall {wid[:60]!r}: no single account named {name[:60]!r}"
                                    " (screened by name when it exists: import again)")
            else:
                account_ids.append(found)
        new = Wall(
            id=Wall.id_for(wid), tenantId=tenant_id, externalId=wid, name=r.name or wid, source="import",
            accountIds=sorted(set(account_ids)), matterIds=sorted({Matter.id_for(ref) for ref in r.matters}),
            screenedUpns=sorted(set(r.excluded)), screenedOids=sorted({people[u] for u in r.excluded if u in people}),
            insiderUpns=sorted(set(r.insiders)), insiderOids=sorted({people[u] for u in r.insiders if u in people}),
            endedAt=None, createdAt=now, updatedAt=now,
        )
        old = existing.get(new.id)
        if old is not None:
            new.endedAt = old.endedAt if r.ended and old.endedAt else (now if r.ended else None)
            new.createdAt = old.createdAt
            if _content(new) == _content(old):
                report.unchanged += 1
                continue
            report.updated += 1
        else:
            if r.ended:
                new.endedAt = now
            report.created += 1
        if new.endedAt is not None and (old is None or old.endedAt is None):
            report.ended += 1
        changed.append(new)
    report.walls = len(merged) - len(bad_ids & merged.keys())
    if full:
        if unreadable:
            report.notes.append("a bad row had no readable wall id: this full import ends no wall")
        else:
            listed = {Wall.id_for(w) for w in merged} | {Wall.id_for(w) for w in bad_ids}
            for w in existing.values():
                if w.id not in listed and w.endedAt is None:
                    changed.append(w.model_copy(update={"endedAt": now, "updatedAt": now}))
                    report.ended += 1
                    report.updated += 1
    report.written = len(changed)
    if dry_run:
        return report
    await store.put_many(changed)

    def synced(t: Tenant) -> Tenant:
        t.wallsSyncedAt = now
        return t

    await store.update(Tenant, tenant_id, tenant_id, synced)
    report.synced_at = now
    await store.audit(AuditEvent(
        id=stable_id("au", "admin.walls.import", tenant_id, iso(now), uuid.uuid4().hex), tenantId=tenant_id, at=now,
        actorOid=actor, action="admin.walls.import", targetId=tenant_id,
        details={"full": full, "rows": report.rows, "bad": report.bad, "created": report.created,
                 "updated": report.updated, "unchanged": report.unchanged, "ended": report.ended},
    ))
    return report


# --- the watch: a stale sync fails closed (in the scope) and the admin is told --------------------


async def check_walls_sync(store: Store, tenant: Tenant, now: datetime | None = None) -> bool:
    """Alert once per stale episode (the AuditEvent's id is the tenant and the sync it is stale
    from, written create-only). Returns True when this call raised the alert."""
    now = now or utcnow()
    if not walls_stale(tenant, now):
        return False
    since = iso(tenant.wallsSyncedAt) if tenant.wallsSyncedAt else "never"
    event = AuditEvent(id=stable_id("au", "walls.stale", tenant.id, since), tenantId=tenant.id, at=now,
                       actorOid="system", action="walls.stale", targetId=tenant.id,
                       details={"wallsSyncedAt": since, "wallsMaxAgeHours": tenant.settings.wallsMaxAgeHours})
    try:
        await store.audit(event)
    except AlreadyExists:
        return False
    log.error("ALERT tenant %s: ethical walls last synced %s, more than %d hours ago: every walled account and "
              "matter is hidden from all but its insiders until the walls are imported again",
              tenant.id, since, tenant.settings.wallsMaxAgeHours, extra={"tenant_id": tenant.id, "alert": True})
    return True


async def walls_watch(store: Store, now: datetime | None = None) -> int:
    """The hourly timer: check every firm's wall sync. Returns how many alerts were raised."""
    raised = 0
    for tenant in await store.list_tenants():
        raised += await check_walls_sync(store, tenant, now)
    return raised
