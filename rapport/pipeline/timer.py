"""The pipeline's timer pass (function_app `pipeline_timer`, every 5 minutes): the clock and the cadence.

Per firm, two bounded reads: the enquiries whose clock runs ("clock:running") and those whose
cadence is active ("cadence:active"). Idempotent: every step is keyed, so running it twice, or
twice at once, does each thing once.
- Clock (in the firm's working hours, rapport.pipeline.clock): at `acknowledgeAfterHours` the owner
  gets the acknowledgement draft on the follow-up approval card; at `responseHours` the owner and
  everyone whose role may act on the firm's pipeline (membership.may "firm_pipeline", i.e. the BD
  role) are told, each through their own scoped view (a walled person is not told).
- Cadence (rapport.pipeline.cadence): the touch that is due is drafted; after the last touch has
  waited its grace, the owner is asked to close the enquiry as lost or keep it open.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from rapport import work
from rapport.identity.membership import may
from rapport.pipeline import cadence, drafts, notify
from rapport.pipeline.clock import Hours, working_seconds
from rapport.records import Enquiry, Tenant, aware, utcnow
from rapport.store.base import Store

log = logging.getLogger("rapport.pipeline")

# An unanswered enquiry older than this gets no acknowledgement draft and no alert from the timer
# (it still shows as overdue in "my pipeline"): records migrated or seeded from before the clock
# existed must not all ping their owners at once, and a week-old "thank you, we'll be in touch by
# 13:00" would be wrong anyway.
STALE = timedelta(days=7)


@dataclass
class PassReport:
    acknowledgements: int = 0
    overdue: int = 0
    touches: int = 0
    asked: int = 0
    tenants: list[str] = field(default_factory=list)


def is_overdue(firm: Tenant, e: Enquiry, now: datetime) -> bool:
    return e.clock_running and working_seconds(Hours.of(firm.settings), e.receivedAt, now) >= \
        firm.settings.responseHours * 3600


async def timer_pass(store: Store, now: datetime | None = None, *, kick: bool = True) -> PassReport:
    now = aware(now or utcnow())
    report = PassReport()
    for firm in await store.list_tenants():
        if not firm.allowed:
            continue
        await _clock(store, firm, now, report)
        await _cadence(store, firm, now, report)
        report.tenants.append(firm.id)
        if kick:
            work.kick_coalesced(store, firm.id)
    if report.acknowledgements or report.overdue or report.touches or report.asked:
        log.info("pipeline pass: %d acknowledgements, %d overdue, %d touches, %d asked", report.acknowledgements,
                 report.overdue, report.touches, report.asked)
    return report


async def _clock(store: Store, firm: Tenant, now: datetime, report: PassReport) -> None:
    s = firm.settings
    hours = Hours.of(s)
    for e in await store.find_all(Enquiry, firm.id, key="clock:running"):
        if not e.clock_running or not e.ownerOid or now - aware(e.receivedAt) > STALE:
            continue
        spent = working_seconds(hours, e.receivedAt, now)
        if spent >= s.acknowledgeAfterHours * 3600 and e.ackDraftId is None:
            if await drafts.acknowledgement(store, firm, e, now) is not None:
                report.acknowledgements += 1
        if spent >= s.responseHours * 3600 and e.overdueNotifiedAt is None:
            await _tell_overdue(store, firm, e, now)
            report.overdue += 1


async def _tell_overdue(store: Store, firm: Tenant, e: Enquiry, now: datetime) -> None:
    told = {e.ownerOid} if e.ownerOid else set()
    for p in await store.people(firm.id):
        if may(p, "firm_pipeline"):
            told.add(p.oid)
    for oid in sorted(told):  # each card is built through that person's scoped view at delivery
        await notify.queue(store, firm.id, e.id, "overdue", oid)

    def mark(x: Enquiry) -> Enquiry | None:
        if x.overdueNotifiedAt is not None:
            return None
        x.overdueNotifiedAt = now
        return x

    await store.update(Enquiry, firm.id, e.id, mark)


async def _cadence(store: Store, firm: Tenant, now: datetime, report: PassReport) -> None:
    for e in await store.find_all(Enquiry, firm.id, key="cadence:active"):
        if not e.cadence_active:
            continue
        step = cadence.next_step(e, firm.settings.cadenceDays, now)
        if step.kind == "touch":
            if await drafts.touch(store, firm, e, step.n, now) is not None:
                report.touches += 1
        elif step.kind == "ask" and e.ownerOid:
            await notify.queue(store, firm.id, e.id, "ask", e.ownerOid)

            def asked(x: Enquiry) -> Enquiry | None:
                if x.cadenceAskedAt is not None:
                    return None
                x.cadenceAskedAt = now
                return x

            await store.update(Enquiry, firm.id, e.id, asked)
            report.asked += 1


async def pipeline_timer(store: Store, *, past_due: bool = False) -> PassReport:
    report = await timer_pass(store)
    if past_due:
        log.info("pipeline pass (past due) done for %d tenants", len(report.tenants))
    return report


__all__ = ["PassReport", "is_overdue", "pipeline_timer", "timer_pass"]
