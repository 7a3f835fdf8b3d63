"""Weekly roll-ups: each partner's figures of a week, written once as a WeekStats record.

`roll_up` loads the records of a range of weeks once per tenant (rapport.metrics.definitions.History:
a few range reads, plus batched look-ups for the contacts those records name) and counts every
partner's weeks from it. The daily timer (`rollup_timer`) rolls up the last OPEN_WEEKS weeks, the
ones whose figures can still change (a counsel move has 30 days to be acted on); older weeks are
final and never read again, so the Monday report reads roll-ups and never rescans history.

Who is counted: every partner (rapport.identity.membership), and a partner who has left for the
weeks they had something to count. The figures are counts: no name, subject or address is ever
stored in a roll-up (docs/metrics.md, "Privacy").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from rapport import timezones
from rapport.identity.membership import was_partner
from rapport.metrics import definitions as d
from rapport.pipeline.clock import Hours
from rapport.records import (
    Account,
    Contact,
    Draft,
    Enquiry,
    Interaction,
    Meeting,
    Opportunity,
    Person,
    Signal,
    Tenant,
    WeekStats,
    aware,
    iso,
    utcnow,
)
from rapport.store.base import Read, Store

log = logging.getLogger("rapport.metrics")

OPEN_WEEKS = 6  # 30 days of counsel-move window after a week ends, plus the week itself
PAD = timedelta(days=1)  # the widest time-zone offset, on either side of a range of weeks
ENQUIRY_LOOKBACK = timedelta(days=365)  # an enquiry's stage moves are counted this long after receipt
BATCH = 200  # look-ups per read_many


def mondays(now: datetime, weeks: int, zone=None) -> list[date]:
    """The Mondays of the `weeks` most recent weeks up to the one holding `now` (oldest first)."""
    this = d.week_of(now, zone or timezones.zone(""))
    return [this - timedelta(weeks=i) for i in range(weeks - 1, -1, -1)]


@dataclass
class RollupReport:
    tenants: int = 0
    partners: int = 0
    written: int = 0
    seconds: float = 0.0
    stats: list[WeekStats] = field(default_factory=list)


async def _batched(store: Store, tenant_id: str, reads: list[Read]) -> list:
    out: list = []
    for i in range(0, len(reads), BATCH):
        out.extend(await store.read_many(tenant_id, reads[i:i + BATCH]))
    return out


async def load_history(store: Store, tenant_id: str, start: datetime, end: datetime, now: datetime, *,
                       snapshot: bool) -> tuple[d.History, list[Contact], list]:
    """The records of [start, end) (UTC bounds already padded for time zones) a roll-up counts from,
    plus, when `snapshot`, the client contacts and the open pipeline (for the figures read "as of now")."""
    drafts = await store.find_all(Draft, tenant_id, since=start)  # updatedAt >= any approval or meeting in range
    meetings = await store.find_all(Meeting, tenant_id, since=start - timedelta(days=1), until=end)
    signals = await store.find_all(Signal, tenant_id, since=start, until=end)
    enquiries = await store.find_all(Enquiry, tenant_id, since=start - ENQUIRY_LOOKBACK, until=end)
    opportunities = await store.find_all(Opportunity, tenant_id, since=start, until=end)
    accounts = await store.find_all(Account, tenant_id, key="kind:client")

    # First meetings: a contact met in range for the first time has no meeting before the range.
    met = sorted({cid for m in meetings if not m.isCancelled for cid in m.contactIds})
    earlier = await _batched(store, tenant_id, [Read(Meeting, key=f"ct:{cid}", until=iso(start), limit=1)
                                                for cid in met])
    first_met: dict[str, datetime] = {}
    for cid, found in zip(met, earlier, strict=True):
        if found:
            first_met[cid] = aware(found[0].start)
    for m in meetings:
        if m.isCancelled:
            continue
        for cid in m.contactIds:
            if cid not in first_met or aware(m.start) < first_met[cid]:
                first_met[cid] = aware(m.start)

    # Counsel moves: the contacts they name, and what their owners did in the 30 days after.
    moved = sorted({s.contactId for s in signals if s.is_move})
    contacts = [c for c in await _batched(store, tenant_id, [Read(Contact, record_id=cid) for cid in moved]) if c]
    windows = {s.contactId: aware(s.at) for s in signals if s.is_move}
    touches = await _batched(store, tenant_id, [
        Read(Interaction, key=f"ct:{cid}", since=iso(windows[cid]),
             until=iso(windows[cid] + timedelta(days=d.COUNSEL_WINDOWS[-1])), every=True) for cid in moved])
    interactions = [ix for group in touches for ix in group]

    everyone: list[Contact] = []
    open_items: list = []
    if snapshot:
        # Only a client's contact can go cold (definitions.cold_relationships): read those, by account.
        groups = await _batched(store, tenant_id, [Read(Contact, key=f"acct:{a.id}", every=True) for a in accounts])
        everyone = [c for group in groups for c in group]
        open_items = [*await store.find_all(Enquiry, tenant_id, key="pipeline:open"),
                      *await store.find_all(Opportunity, tenant_id, key="pipeline:open")]
    history = d.History.of(drafts=drafts, meetings=meetings, signals=signals, contacts=contacts,
                           interactions=interactions, first_met=first_met, enquiries=enquiries,
                           opportunities=opportunities, accounts=accounts)
    return history, everyone, open_items


def figures(h: d.History, partner: Person, monday: date, now: datetime, tenant: Tenant, *,
            everyone: list[Contact] | None = None, open_items: list | None = None) -> WeekStats:
    """One partner's WeekStats for the week beginning `monday` (in their zone), counted from `h`.
    `everyone`: the partner's own contacts (d.by_owner), for the snapshot of the current week."""
    zone = timezones.zone(partner.timeZone)
    window = d.week_window(monday, zone)
    oid = partner.oid
    kinds = d.approved_actions(h, oid, window)
    ended = d.ended_meetings(h, oid, window, now)
    surfaced, c7, c30 = d.counsel_moves(h, oid, window, now)
    enq = d.enquiry_figures(h, oid, window, now, Hours.of(tenant.settings), tenant.settings.responseHours)
    stats = WeekStats(
        id=WeekStats.id_for(oid, monday.isoformat()), tenantId=tenant.tenantId, partnerOid=oid,
        week=monday.isoformat(), zone=timezones.iana_name(partner.timeZone) or "UTC",
        approved=sum(kinds.values()), approvedByKind=kinds,
        followupHours=d.followup_hours(h, oid, window, now, ended), meetings=len(ended),
        withoutFollowup=len(d.without_followup(h, oid, window, now, ended)),
        counselSurfaced=surfaced, counselContacted7=c7, counselContacted30=c30,
        newRelationships=len(d.new_relationships(h, oid, window)),
        enquiries=enq.received, enquiriesOnTime=enq.on_time, enquiriesLate=enq.late,
        enquiriesUnanswered=enq.unanswered, opportunities=d.opportunities_opened(h, oid, window),
        instructions=enq.instructions, stageMoves=enq.stage_moves,
        final=window[1] + timedelta(days=d.OPEN_WINDOW_DAYS) <= now, computedAt=now,
    )
    if everyone is not None and window[0] <= now < window[1]:  # snapshots belong to the week they were taken in
        cold = d.cold_relationships(everyone, h.accounts, oid, now, tenant.settings.coldAfterWeeks)
        stats.cold, stats.coldIds = len(cold), [c.id for c in cold[:d.COLD_LIST]]
        stats.pipeline = d.pipeline_by_stage(open_items or [], oid)
    return stats


def _active(s: WeekStats) -> bool:
    return bool(s.approved or s.meetings or s.counselSurfaced or s.newRelationships or s.enquiries
                or s.opportunities or s.instructions or s.stageMoves)


async def roll_up(store: Store, tenant: Tenant, weeks: int, now: datetime | None = None, *,
                  write: bool = True, force_snapshot: bool = False) -> list[WeekStats]:
    """Count the `weeks` most recent weeks (the current one included) of every partner of a tenant;
    write them as WeekStats (`write`), keeping a week's snapshots (cold, pipeline) taken while it was
    current. A partner who has left is counted only for the weeks they had activity."""
    now = aware(now or utcnow())
    people = [p for p in await store.people(tenant.tenantId) if was_partner(p, tenant)]
    if not people:
        return []
    latest = mondays(now, 1)[0]
    oldest = latest - timedelta(weeks=weeks - 1)
    start = datetime(oldest.year, oldest.month, oldest.day, tzinfo=timezones.zone("")) - PAD
    end = now + PAD
    previous = {s.id: s for s in await store.week_stats(tenant.tenantId, (oldest - timedelta(weeks=1)).isoformat(),
                                                          (latest + timedelta(weeks=1)).isoformat())}
    # The snapshots (cold, pipeline) are taken once a week, by the first roll-up of a partner's new
    # week (or when asked): reading every client contact is the roll-up's biggest read.
    snapshot = force_snapshot or any(
        WeekStats.id_for(p.oid, mondays(now, 1, timezones.zone(p.timeZone))[0].isoformat()) not in previous
        for p in people if p.enabled)
    history, everyone, open_items = await load_history(store, tenant.tenantId, start, end, now, snapshot=snapshot)
    owned = d.by_owner(everyone)
    open_by_owner: dict[str, list] = {}
    for item in open_items:
        open_by_owner.setdefault(getattr(item, "ownerOid", None) or "", []).append(item)
    out: list[WeekStats] = []
    for p in people:
        for monday in mondays(now, weeks, timezones.zone(p.timeZone)):
            s = figures(history, p, monday, now, tenant, everyone=owned.get(p.oid, []) if snapshot else None,
                        open_items=open_by_owner.get(p.oid, []))
            before = previous.get(s.id)
            start_w, end_w = d.week_window(monday, timezones.zone(p.timeZone))
            if before is not None and not (snapshot and start_w <= now < end_w):  # keep the snapshot it took
                s.cold, s.coldIds, s.pipeline = before.cold, before.coldIds, before.pipeline
            if not p.enabled and not _active(s):
                continue
            out.append(s)
    if write:
        await store.put_many(out)
    return out


async def rollup_timer(store: Store, *, now: datetime | None = None, past_due: bool = False,
                       weeks: int = OPEN_WEEKS) -> RollupReport:
    """What the daily `metrics_rollup` timer does: roll up every firm's open weeks."""
    import time

    t0 = time.perf_counter()
    report = RollupReport()
    for tenant in await store.list_tenants():
        if not tenant.allowed:
            continue
        stats = await roll_up(store, tenant, weeks, now)
        report.tenants += 1
        report.partners += len({s.partnerOid for s in stats})
        report.written += len(stats)
    report.seconds = time.perf_counter() - t0
    log.info("metrics roll-up%s: %d firms, %d partners, %d weeks written in %.1f s",
             " (past due)" if past_due else "", report.tenants, report.partners, report.written, report.seconds)
    return report
