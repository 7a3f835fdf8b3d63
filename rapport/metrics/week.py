"""The partner's week and the managing partner's Monday report, delivered on Monday morning.

`week_cards_timer` ("0 */15 * * * *" in function_app.py: every zone's 07:30 falls on a quarter hour)
looks, per firm, for the people whose Monday 07:30 in their own time zone (Person.timeZone) has
passed this week, and queues one work item per person and week:
- a partner (membership: "own_week") gets the partner's week card, built from their own ScopedStore
  (so it names only what they may see) and their roll-ups;
- the managing partner ("firm_report") also gets the firm's card, built from roll-ups (counts).
Exactly once per person-week, by construction: the work key is (kind, person, Monday), written
create-only (rapport.work.enqueue), so a later pass, a second instance or a retried drain finds it;
the local outbox is create-only on the same key too. The clock is injected (`now`), so tests run
a Monday at any time.

Teams delivery reuses the proactive sender the host provides for brief cards
(runtime.services().teams_briefs: send_card(tenant, person, card, summary), bot/'s pacing and retries);
with no bot identity the cards land in the local outbox (/dev/outbox), like every other card.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from rapport import local_outbox, runtime, timezones, work
from rapport.cards.common import when
from rapport.cards.week import firm_report_card, partner_week_card
from rapport.identity.membership import is_partner, may, was_partner
from rapport.metrics import definitions as d
from rapport.metrics import report as rp
from rapport.metrics.rollup import roll_up
from rapport.records import (
    Draft,
    Person,
    Signal,
    Tenant,
    WeekStats,
    WorkItem,
    aware,
    iso,
    utcnow,
)
from rapport.store import ScopedStore, Store
from rapport.store.base import Read

log = logging.getLogger("rapport.metrics")

KIND = "week-card"
SEND_AT = time(7, 30)  # Monday, in the person's own zone
CATCH_UP = timedelta(hours=24)


def due_week(now: datetime, person: Person) -> date | None:
    """This week's Monday during the day after its 07:30 in the person's zone, else None: a host
    down on Monday catches up within the day, never with a stale card later in the week (nor on the
    first day of a new installation)."""
    zone = timezones.zone(person.timeZone)
    monday = d.week_of(now, zone)
    due = datetime.combine(monday, SEND_AT, tzinfo=zone)
    return monday if due <= aware(now) < due + CATCH_UP else None


def work_key(kind: str, oid: str, monday: date) -> str:
    return f"{kind}:{oid}:{monday.isoformat()}"


@dataclass
class WeekPass:
    queued: int = 0
    tenants: list[str] = field(default_factory=list)


async def timer_pass(store: Store, now: datetime | None = None) -> WeekPass:
    """Queue every person's Monday cards that are due and not yet queued (one read per firm to tell)."""
    now = aware(now or utcnow())
    out = WeekPass()
    for tenant in await store.list_tenants():
        if not tenant.allowed or not tenant.settings.weeklyCards:
            continue
        wanted: list[tuple[str, str, dict[str, Any]]] = []
        for p in await store.people(tenant.tenantId):
            monday = due_week(now, p)
            if monday is None:
                continue
            if is_partner(p, tenant) and may(p, "own_week"):
                wanted.append(("partner", work_key("partner", p.oid, monday), {"oid": p.oid, "week": monday.isoformat()}))
            if may(p, "firm_report"):
                wanted.append(("firm", work_key("firm", p.oid, monday), {"oid": p.oid, "week": monday.isoformat()}))
        if not wanted:
            continue
        existing = await store.read_many(tenant.tenantId, [Read(WorkItem, record_id=WorkItem.id_for(KIND, k))
                                                           for _, k, _ in wanted])
        fresh = [(kind, k, payload) for (kind, k, payload), got in zip(wanted, existing, strict=True) if got is None]
        if not fresh:
            continue
        await _ensure_rollups(store, tenant, now, [(payload["oid"], payload["week"]) for _, _, payload in fresh])
        for kind, k, payload in fresh:
            _, created = await work.enqueue(store, tenant.tenantId, KIND, k, {**payload, "kind": kind, "at": iso(now)}, not_before=now)
            out.queued += int(created)
        out.tenants.append(tenant.tenantId)
    return out


async def week_cards_timer(store: Store, *, now: datetime | None = None, past_due: bool = False) -> WeekPass:
    """What the `week_cards` timer does: queue what is due, then drain those firms at once."""
    report = await timer_pass(store, now)
    if report.queued:
        log.info("week cards%s: %d queued", " (past due)" if past_due else "", report.queued)
        await work.drain(store, now=now, tenant_ids=report.tenants)
    return report


async def _ensure_rollups(store: Store, tenant: Tenant, now: datetime, due: list[tuple[str, str]]) -> None:
    """The due people's roll-ups of this week (its snapshot: cold relationships) and last week exist
    before a card reads them: a zone ahead of UTC reaches Monday 07:30 before the daily roll-up has
    run, so roll up the last two weeks when any is missing."""
    ids = [WeekStats.id_for(oid, monday) for oid, monday in due]
    ids += [WeekStats.id_for(oid, (date.fromisoformat(monday) - timedelta(weeks=1)).isoformat()) for oid, monday in due]
    have = await store.read_many(tenant.tenantId, [Read(WeekStats, record_id=i) for i in ids])
    people = {p.oid: p for p in await store.people(tenant.tenantId)}
    if any(got is None and is_partner(people.get(i[0]), tenant) for got, i in zip(have, due + due, strict=True)):
        await roll_up(store, tenant, 2, now)


# --- the facts each card shows --------------------------------------------------------------------

async def partner_facts(store: Store, tenant: Tenant, person: Person, now: datetime) -> dict[str, Any]:
    """What the partner's week card and the BD desk show, read through the partner's own ScopedStore:
    last week's approved actions against the four before, follow-ups waiting, last week's meetings
    without a follow-up, relationships going cold, last week's counsel moves about their contacts."""
    tid, oid = tenant.tenantId, person.oid
    zone = timezones.zone(person.timeZone)
    scoped = ScopedStore(store, tid, oid)
    last = d.week_of(now, zone) - timedelta(weeks=1)
    window = d.week_window(last, zone)
    stats = await store.week_stats(tid, (last - timedelta(weeks=4)).isoformat(),
                                   (last + timedelta(days=1)).isoformat(), partner_oid=oid)
    approved, prior = rp.own_trend(stats, oid, last.isoformat())

    pending = await scoped.my_drafts("drafted")
    meetings = await scoped.meetings_between(window[0] - timedelta(days=1), window[1])
    drafts = await store.read_many(tid, [Read(Draft, key=f"meeting:{m.id}", limit=20) for m in meetings])
    mine = [x for group in drafts for x in group if x.ownerOid == oid]
    h = d.History.of(meetings=meetings, drafts=mine)
    without = d.without_followup(h, oid, window, now)

    # Going cold: the ids the newest roll-up's snapshot kept (this week's, taken by the roll-up the
    # timer ensures before it queues the cards), read back through the partner's scope.
    newest = (await store.find(WeekStats, tid, key=f"partner:{oid}", newest_first=True, limit=2)).items
    snap = next((x for x in newest if x.coldIds or x.cold or x.pipeline), None)
    cold = []
    for cid in (snap.coldIds if snap else []):
        view = await scoped.contact(cid)  # walls and visibility: the one rule
        entry = next((o for o in view.contact.owners if o.oid == oid), None) if view and view.contact else None
        if entry is not None:
            cold.append({"contactId": cid, "name": view.contact.name or view.contact.email,
                         "since": when(entry.lastTouch, now, zone) if entry.lastTouch else ""})

    # Moves (from a domain, a signature or a bounce) and title changes: a title change is told here
    # and in the sidebar only, the lighter notice (rapport.relationships.moves raises the moves).
    moves = []
    for s in await store.find_all(Signal, tid, since=window[0], until=window[1]):
        view = await scoped.contact(s.contactId)
        if view is None or view.contact is None or oid not in {o.oid for o in view.contact.owners}:
            continue
        if not await scoped.sees(s):  # a wall on a company the signal names (a signature's new one too)
            continue
        moves.append({"contactId": s.contactId, "name": view.contact.name or view.contact.email,
                      "summary": s.summary or f"now at {s.toValue}"})

    return {
        "week": last.isoformat(), "weekLabel": last.strftime("%-d %B %Y"),
        "approved": approved, "approvedPrior4": prior,
        "pending": [{"draftId": x.id, "subject": x.subject or "(no subject)", "when": when(x.createdAt, now, zone)}
                    for x in sorted(pending, key=lambda x: x.createdAt)],
        "withoutFollowup": [{"meetingId": m.id, "subject": m.subject or "(no subject)", "when": when(m.end, now, zone)}
                            for m in without],
        "cold": cold, "coldWeeks": tenant.settings.coldAfterWeeks, "counselMoves": moves,
    }


async def firm_facts(store: Store, tenant: Tenant, viewer: Person | None, now: datetime,
                     weeks: int = rp.REPORT_WEEKS) -> dict[str, Any]:
    """The managing partner's report, from roll-ups only (no record is rescanned)."""
    labels = rp.report_weeks(now, viewer, weeks)
    until = (date.fromisoformat(labels[-1]) + timedelta(weeks=1, days=1)).isoformat()  # the current week too
    stats = await store.week_stats(tenant.tenantId, labels[0], until)
    if not any(s.week == labels[-1] for s in stats):
        # Before the daily roll-up has run (a new installation: all the weeks; else the last two).
        await roll_up(store, tenant, (weeks + 1) if not stats else 2, now)
        stats = await store.week_stats(tenant.tenantId, labels[0], until)
    people = {p.oid: p for p in await store.people(tenant.tenantId) if was_partner(p, tenant)}
    snapshots = rp.latest_snapshots(stats)  # cold and pipeline as of the newest roll-up
    return rp.firm_report([s for s in stats if s.week <= labels[-1]], people, labels, snapshots)


def report_url() -> str:
    return runtime.settings().public_url.rstrip("/") + "/addin/report.html"


# --- delivery --------------------------------------------------------------------------------------

async def deliver(store: Store, tenant_id: str, person: Person, key: str, card: dict[str, Any], summary: str) -> None:
    settings = runtime.settings()
    if settings.bot_app_id:
        if not person.conversationRef:  # the bot is not installed for them: nothing to post into, no retry
            log.info("week card not delivered: the person has not installed the bot", extra={"tenant_id": tenant_id})
            return
        services = runtime.services()
        if services.teams_briefs is None:
            raise RuntimeError("the bot is configured but no Teams sender is provided (function_app's wiring)")
        sender = services.once("teams_briefs", lambda: services.teams_briefs(settings))
        await sender.send_card(tenant_id, person, card, summary)
        return
    await local_outbox.deliver(store, tenant_id, "teams", key, fromOid="", to=[person.upn], subject=summary, card=card)


@work.handler(KIND)
async def _week_card(store: Store, item: WorkItem) -> None:
    tenant = await store.get_tenant(item.tenantId)
    person = await store.get_person(item.tenantId, item.payload["oid"])
    if tenant is None or person is None or not person.enabled:
        return  # left since: nothing to send
    now = aware(datetime.fromisoformat(item.payload["at"].replace("Z", "+00:00")))  # the pass's clock
    if item.payload.get("kind") == "firm":
        if not may(person, "firm_report"):
            return
        report = await firm_facts(store, tenant, person, now)
        card = firm_report_card(report, url=report_url())
        await deliver(store, tenant.tenantId, person, item.key, card, "The firm's week in business development")
        return
    if not (is_partner(person, tenant) and may(person, "own_week")):
        return
    facts = await partner_facts(store, tenant, person, now)
    facts["deskUrl"] = report_url()
    await deliver(store, tenant.tenantId, person, item.key, partner_week_card(facts), "Your week in business development")

