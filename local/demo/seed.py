"""Seeding the demo firm into a store: its mailboxes through capture, its own records directly.

Every id is derived from the seed, never from `now`, so seeding twice (even on another day) rewrites
the same records: the same counts. Seeding again never undoes what happened in the running demo.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from local.demo.build import build_demo
from local.demo.data import DEMO_TENANT_ID
from rapport.capture import IngestStats, ingest
from rapport.records import Account, Contact, Interaction, Meeting, Record, Signal
from rapport.store import Conflict


async def _count(store: Any, cls: type[Record]) -> int:
    n, cursor = 0, None
    while True:
        page = await store.backend.find_docs(DEMO_TENANT_ID, cls.family, cls.doc_type, limit=1000, cursor=cursor)
        n += len(page[0])
        cursor = page[1]
        if cursor is None:
            return n


async def _create_missing(store: Any, tenant_id: str, records: list[Record]) -> None:
    """Write the records whose ids the store does not hold yet (bounded families only)."""
    by_cls: dict[type[Record], list[Record]] = {}
    for r in records:
        by_cls.setdefault(type(r), []).append(r)
    missing: list[Record] = []
    for cls, items in by_cls.items():
        have = {r.id for r in await store.find_all(cls, tenant_id)}
        missing.extend(r for r in items if r.id not in have)
    if missing:
        await store.put_many(missing)


async def seed_demo(store: Any, now: datetime | None = None, seed: int = 7) -> dict[str, Any]:
    """Seed the demo firm into `store` (idempotent) and return what it holds, for printing.

    Seeding again never undoes what happened in the running demo: the firm's own records (tenant
    settings, partners' Teams references, account kinds, matters, the wall, the pipeline) are
    created only when missing, and contacts are enriched only once. Mail and calendar go through
    capture, whose merge keeps what Rapport added (owners' visibility, briefs sent).
    """
    started = time.perf_counter()
    demo = build_demo(seed, now)
    tenant = await store.get_tenant(demo.tenant.id)
    if tenant is None:
        tenant = demo.tenant
        await store.put(tenant)
    # Accounts before capture, so capture finds them named and classified (not new prospects).
    await _create_missing(store, tenant.id, [*demo.partners, *demo.accounts, *demo.firm_records()])
    stats = IngestStats()
    for box in demo.mailboxes:
        p = box.partner
        stats.add(await ingest(store, tenant, p, messages=box.inbox, folder="inbox", now=demo.now))
        stats.add(await ingest(store, tenant, p, messages=box.sent, folder="sentitems", now=demo.now))
        stats.add(await ingest(store, tenant, p, events=box.events, now=demo.now))

    # What capture cannot see in headers: titles, phones, and the few contacts kept private. Only
    # contacts never enriched (no title yet), so a partner's later change is not undone.
    wanted = {dc.id: dc for dc in demo.contacts}
    changed: list[Contact] = []
    current_etags: dict[str, str | None] = {}
    for current in await store.find_all(Contact, tenant.id):
        dc = wanted.get(current.id)
        if dc is None or current.title:
            continue
        c = current.model_copy(deep=True)
        current_etags[c.id] = current.etag
        c.title, c.phone = dc.title, dc.phone
        if dc.private_owner:
            for o in c.owners:
                if o.oid == dc.private_owner:
                    o.visibility = "private"
        changed.append(c)
    for c in changed:
        # Bound to the ETag read: a partner editing the contact right now wins, the seed retries.
        try:
            await store.put(c, if_match=current_etags[c.id])
        except Conflict:
            continue

    today_end = demo.now.replace(hour=0, minute=0) + timedelta(days=1)
    upcoming = await store.meetings_between(tenant.id, demo.now - timedelta(hours=12), demo.now + timedelta(days=7))
    return {
        "tenant": f"{tenant.name} ({tenant.id})",
        "domains": ", ".join(tenant.domains),
        "partners": ", ".join(f"{p.name} <{p.upn}>" for p in demo.partners),
        "accounts": await _count(store, Account),
        "contacts": await _count(store, Contact),
        "interactions": await _count(store, Interaction),
        "meetings": await _count(store, Meeting),
        "meetings today": sum(1 for m in upcoming if m.start < today_end and m.start >= demo.now.replace(hour=0, minute=0)
                              and not m.isCancelled),
        "meetings in the next 7 days": sum(1 for m in upcoming if m.start >= demo.now and not m.isCancelled),
        "matters": len(demo.matters),
        "walls": len(demo.walls),
        "open enquiries": sum(1 for e in demo.enquiries if e.is_open),
        "open opportunities": sum(1 for o in demo.opportunities if o.is_open),
        "counsel-move signals": await _count(store, Signal),
        "private contacts": sum(1 for c in demo.contacts if c.private_owner),
        "seconds": round(time.perf_counter() - started, 2),
    }
