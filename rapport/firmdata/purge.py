"""Purge a firm: its Graph subscriptions (at Graph, and their webhook routes), then every record of
its partition, leaving ONE audit line outside the firm's data.

The audit line is an AuditEvent in SYSTEM_PARTITION (no firm's partition, so it survives the purge
and is in no firm's export): the firm's tenant id (an organisation's id, not a person's), the
counts, when, and the kind of caller ("cli"), never a person's name, address or id.
It is written before the purge as "started" and completed after, so a purge cut short still shows.

The caller must type the firm's tenant id or its exact name (`confirm`): a purge cannot be undone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from rapport.capture.subscriptions import retire
from rapport.firmdata import Refused
from rapport.firmdata.portability import _valid_tenant
from rapport.graph import GraphClient
from rapport.records import SYSTEM_PARTITION, AuditEvent, Subscription, iso, stable_id, utcnow
from rapport.store.base import Store

log = logging.getLogger("rapport.firmdata")
ACTION = "tenant.purged"


@dataclass
class PurgeReport:
    tenant_id: str
    records: int
    subscriptions: int
    audit_id: str


def confirmed(tenant_id: str, name: str, typed: str | None) -> bool:
    """The typed confirmation: the tenant id or the firm's name, exactly (no case folding)."""
    return typed is not None and typed != "" and typed in (tenant_id, name)


async def purge_tenant(store: Store, tenant_id: str, *, confirm: str | None, graph: GraphClient | None,
                       actor: str = "cli", now: datetime | None = None) -> PurgeReport:
    """Delete the firm. Refused (nothing deleted) if it is unknown or the confirmation is not exact.
    `graph` None: subscriptions are only forgotten here (Graph lets them lapse within 3 days)."""
    tenant_id = _valid_tenant(tenant_id)
    firm = await store.get_tenant(tenant_id)
    if firm is None:
        raise Refused(f"no tenant {tenant_id} in this store")
    if not confirmed(tenant_id, firm.name, confirm):
        raise Refused("the confirmation must be the tenant id or the firm's exact name")
    at = now or utcnow()
    audit = AuditEvent(id=stable_id("au", ACTION, tenant_id, iso(at)), tenantId=SYSTEM_PARTITION, at=at,
                       actorOid=actor, action=ACTION, targetId=tenant_id, details={"state": "started"})
    await store.put(audit)
    retired = 0
    async for record in store.scan_records(tenant_id, "sync"):
        if isinstance(record, Subscription) and record.state == "active":
            await retire(store, graph, record)  # at Graph, and its route: late notifications are dropped
            retired += 1
    records = await store.backend.purge_tenant(tenant_id)
    audit.details = {"state": "done", "records": records, "subscriptions": retired}
    await store.put(audit)
    log.warning("tenant %s purged: %d records, %d subscriptions", tenant_id, records, retired,
                extra={"tenant_id": tenant_id})
    return PurgeReport(tenant_id, records, retired, audit.id)


async def purge_audit(store: Store, tenant_id: str) -> list[AuditEvent]:
    """The audit lines of a firm's purges (they outlive it)."""
    return [a for a in await store.find_all(AuditEvent, SYSTEM_PARTITION, key=f"target:{tenant_id}")
            if a.action == ACTION]
