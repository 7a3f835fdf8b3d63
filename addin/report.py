"""The report page's API (the same token as the task pane: addin.auth.authenticated).

- GET /api/addin/desk : "My BD desk" for the caller (rapport.metrics.desk), as facts and a card;
- GET /api/addin/report : the managing partner's report (roles: membership.may "firm_report"), from
  roll-ups: trends, one row per partner, pipeline, origination, exceptions. Anyone else: 403;
- GET /api/addin/metrics.csv?metric=NAME[&weeks=N] : one metric's CSV (rapport.metrics.report.METRICS,
  or "all"): every partner's rows for the managing partner, the caller's own rows for anyone else.

Counts and partner names only leave here for the firm; the desk names what the caller may see.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from addin.auth import Caller, authenticated
from rapport import runtime
from rapport.cards.week import desk_card
from rapport.identity.membership import NOT_ENABLED, may, was_partner
from rapport.metrics import report as rp
from rapport.metrics.desk import desk as desk_facts
from rapport.metrics.week import firm_facts
from rapport.records import Person, utcnow
from rapport.web import Answer, ApiError, Request

log = logging.getLogger("rapport.addin.report")
PRIVATE = {"cache-control": "private, no-store"}
MAX_WEEKS = 52


async def _who(caller: Caller) -> tuple[Person, object]:
    store = await runtime.store()
    person = await store.get_person(caller.tenant_id, caller.oid)
    tenant = await store.get_tenant(caller.tenant_id)
    if person is None or tenant is None:
        raise ApiError(403, NOT_ENABLED)
    return person, tenant


@authenticated
async def desk(request: Request, caller: Caller) -> Answer:
    person, _ = await _who(caller)
    facts = await desk_facts(await runtime.store(), caller.tenant_id, person, utcnow())
    return Answer(200, {"card": desk_card(facts), **facts, "firmReport": may(person, "firm_report")}, headers=PRIVATE)


@authenticated
async def firm_report(request: Request, caller: Caller) -> Answer:
    person, tenant = await _who(caller)
    if not may(person, "firm_report"):
        raise ApiError(403, "the firm report is for the managing partner")
    report = await firm_facts(await runtime.store(), tenant, person, utcnow(), _weeks(request, rp.REPORT_WEEKS))
    return Answer(200, report, headers=PRIVATE)


def _weeks(request: Request, default: int) -> int:
    raw = request.params.get("weeks")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_WEEKS:
        raise ApiError(400, f"weeks must be a whole number from 1 to {MAX_WEEKS}")
    return int(raw)


@authenticated
async def metrics_csv(request: Request, caller: Caller) -> Answer:
    metric = request.params.get("metric", "all")
    if metric != "all" and metric not in rp.METRICS:
        raise ApiError(400, "unknown metric; one of: all, " + ", ".join(rp.METRICS))
    weeks = _weeks(request, rp.REPORT_WEEKS)
    person, tenant = await _who(caller)
    store = await runtime.store()
    labels = rp.report_weeks(utcnow(), person, weeks)
    until = (date.fromisoformat(labels[-1]) + timedelta(days=1)).isoformat()
    firm = may(person, "firm_report")
    stats = await store.week_stats(caller.tenant_id, labels[0], until, partner_oid=None if firm else caller.oid)
    people = {p.oid: p for p in await store.people(caller.tenant_id) if was_partner(p, tenant)}
    rows = rp.table(stats, people)
    text = rp.to_csv(rows) if metric == "all" else rp.metric_csv(rows, metric)
    return Answer(200, text, mimetype="text/csv", headers={
        **PRIVATE, "content-disposition": f'attachment; filename="rapport-{metric}.csv"'})
