"""`rapport audit intros|moves`: what the managing partner sees about introductions and counsel moves."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any


def register(reg: Any) -> None:
    g = reg.group("audit", "audits of what partners did: introductions, counsel moves")
    i = g.add_parser("intros", help="per partner: introductions received, accepted, declined, unanswered, with "
                     "the reasons; refusals from senior to junior flagged")
    i.add_argument("--tenant", required=True, help="tenant id")
    i.add_argument("--days", type=int, default=90, help="requests made in the last N days (default 90)")
    i.add_argument("--csv", action="store_true", help="CSV on standard output instead of a table")
    i.set_defaults(run=lambda args, settings: intros_command(settings, args.tenant, args.days, args.csv))
    m = g.add_parser("moves", help="counsel moves raised, dismissed, contacted within 7 and 30 days")
    m.add_argument("--tenant", required=True, help="tenant id")
    m.add_argument("--days", type=int, default=90, help="moves raised in the last N days (default 90)")
    m.set_defaults(run=lambda args, settings: moves_command(settings, args.tenant, args.days))


async def _open(settings: Any, tenant_id: str, days: int, name: str) -> Any:
    from rapport.store import make_store

    if days < 1 or days > 3650:
        print(f"rapport audit {name}: --days must be between 1 and 3650", file=sys.stderr)
        return None
    store = await make_store(settings).open()
    if await store.get_tenant(tenant_id) is None:
        print(f"rapport audit {name}: no such tenant {tenant_id}", file=sys.stderr)
        await store.close()
        return None
    return store


async def intros_command(settings: Any, tenant_id: str, days: int, as_csv: bool) -> int:
    from rapport.relationships.audit import intro_report, report_csv
    from rapport.store import StoreUnavailable

    try:
        store = await _open(settings, tenant_id, days, "intros")
        if store is None:
            return 2
        try:
            rows = await intro_report(store, tenant_id, since=datetime.now(UTC) - timedelta(days=days))
        finally:
            await store.close()
    except StoreUnavailable as exc:
        print(f"rapport audit intros: {exc}", file=sys.stderr)
        return 1
    if as_csv:
        sys.stdout.write(report_csv(rows))
        return 0
    if not rows:
        print(f"no introduction requests in the last {days} days")
        return 0
    print(f"{'partner':30} {'received':>8} {'accepted':>8} {'declined':>8} {'unanswered':>10} {'senior refusals':>15}")
    for r in rows:
        flag = "  <- refused a junior colleague" if r.senior_refusals else ""
        print(f"{(r.name or r.oid)[:30]:30} {r.received:>8} {r.accepted:>8} {r.declined:>8} {r.unanswered:>10} "
              f"{r.senior_refusals:>15}{flag}")
        for reason in r.reasons:
            print(f"    declined: {reason}")
    return 0


async def moves_command(settings: Any, tenant_id: str, days: int) -> int:
    from rapport.relationships.audit import move_tracking
    from rapport.store import StoreUnavailable

    now = datetime.now(UTC)
    try:
        store = await _open(settings, tenant_id, days, "moves")
        if store is None:
            return 2
        try:
            t = await move_tracking(store, tenant_id, now, since=now - timedelta(days=days))
        finally:
            await store.close()
    except StoreUnavailable as exc:
        print(f"rapport audit moves: {exc}", file=sys.stderr)
        return 1
    print(f"counsel moves raised: {t.raised}; contacted within 7 days: {t.contacted_7}; within 30 days: "
          f"{t.contacted_30}; still waiting: {t.waiting}; dismissed as not a move: {t.dismissed}; "
          f"addresses that bounced (where they went not known): {t.bounced}")
    return 0
