"""`rapport metrics` (the table behind the reports) and `rapport report send` (the Monday cards now)."""

from __future__ import annotations

import sys
from typing import Any

MAX_WEEKS = 104


def register(reg: Any) -> None:
    m = reg.command("metrics", "the table behind the reports: one row per partner and week, counted now")
    m.add_argument("--tenant", required=True, help="tenant id")
    m.add_argument("--weeks", type=int, default=4, help=f"how many weeks up to this one (1-{MAX_WEEKS}, default 4)")
    m.add_argument("--csv", action="store_true", help="CSV instead of an aligned table")
    m.set_defaults(run=lambda args, settings: metrics_command(settings, args.tenant, args.weeks, args.csv))
    r = reg.group("report", "the weekly business-development report")
    s = r.add_parser("send", help="send this week's cards now (each partner's week; the firm's to the managing partner)")
    s.add_argument("--tenant", required=True, help="tenant id")
    s.set_defaults(run=lambda args, settings: report_send_command(settings, args.tenant))


async def _tenant(store: Any, tenant_id: str, name: str) -> Any:
    tenant = await store.get_tenant(tenant_id.strip().lower())
    if tenant is None:
        print(f"rapport {name}: no tenant {tenant_id} (onboard it with `rapport tenant add`)", file=sys.stderr)
    return tenant


async def metrics_command(settings: Any, tenant_id: str, weeks: int, as_csv: bool) -> int:
    from rapport.identity.membership import was_partner
    from rapport.metrics import report as rp
    from rapport.metrics.rollup import roll_up
    from rapport.store import StoreUnavailable, make_store

    if not 1 <= weeks <= MAX_WEEKS:
        print(f"rapport metrics: --weeks must be between 1 and {MAX_WEEKS}", file=sys.stderr)
        return 2
    store = make_store(settings)
    try:
        await store.open()
        tenant = await _tenant(store, tenant_id, "metrics")
        if tenant is None:
            return 2
        print(f"counting {weeks} week(s) of {tenant.name} ...", file=sys.stderr)
        stats = await roll_up(store, tenant, weeks, write=False, force_snapshot=True)  # the records as they are now
        people = {p.oid: p for p in await store.people(tenant.tenantId) if was_partner(p, tenant)}
    except StoreUnavailable as exc:
        print(f"rapport metrics: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    rows = rp.table(stats, people)
    if as_csv:
        sys.stdout.write(rp.to_csv(rows))
        return 0
    print(format_table(rows))
    return 0


SHORT = {"week": "week", "partner": "partner", "approved_actions": "approved", "followup_median_h": "fu_med_h",
         "followup_p90_h": "fu_p90_h", "meetings": "mtgs", "meetings_without_followup": "no_fu",
         "counsel_moves": "moves", "counsel_contacted_7d": "mv_7d", "counsel_contacted_30d": "mv_30d",
         "new_relationships": "new_rel", "cold_relationships": "cold", "enquiries": "enq",
         "enquiries_on_time": "enq_4h", "enquiries_late": "enq_late", "enquiries_unanswered": "enq_open",
         "opportunities": "opps", "instructions": "instr", "pipeline": "pipeline"}


def format_table(rows: list[dict[str, Any]]) -> str:
    cols = list(SHORT)
    cells = [[SHORT[c] for c in cols]] + [["" if r[c] is None else str(r[c]) for c in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells)


async def report_send_command(settings: Any, tenant_id: str) -> int:
    from rapport import runtime
    from rapport.cards.week import firm_report_card, partner_week_card
    from rapport.identity.membership import is_partner, may
    from rapport.metrics import week
    from rapport.metrics.rollup import roll_up
    from rapport.records import utcnow
    from rapport.store import StoreUnavailable, make_store

    store = make_store(settings)
    failed = 0
    try:
        await store.open()
        tenant = await _tenant(store, tenant_id, "report send")
        if tenant is None:
            return 2
        now = utcnow()
        with runtime.override(settings=settings, store=store):
            await roll_up(store, tenant, 2, now)
            for p in await store.people(tenant.tenantId):
                key = f"manual:{p.oid}:{now.isoformat()}"  # a try: its own key, never the Monday one
                try:
                    if is_partner(p, tenant) and may(p, "own_week"):
                        facts = await week.partner_facts(store, tenant, p, now)
                        facts["deskUrl"] = week.report_url()
                        await week.deliver(store, tenant.tenantId, p, "partner:" + key, partner_week_card(facts),
                                           "Your week in business development")
                        print(f"{p.upn}: the partner's week sent")
                    if may(p, "firm_report"):
                        report = await week.firm_facts(store, tenant, p, now)
                        await week.deliver(store, tenant.tenantId, p, "firm:" + key,
                                           firm_report_card(report, url=week.report_url()),
                                           "The firm's week in business development")
                        print(f"{p.upn}: the firm's report sent")
                except Exception as exc:  # noqa: BLE001 - one person's failure is reported, the rest go on
                    failed += 1
                    print(f"{p.upn}: not sent ({type(exc).__name__})", file=sys.stderr)
    except StoreUnavailable as exc:
        print(f"rapport report send: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    return 1 if failed else 0
