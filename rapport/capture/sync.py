"""Graph delta sync: the one path by which mail and calendar metadata reach the records.

A webhook, the safety-net timer and `rapport sync` all end here. A notification only says "look at
this mailbox"; the truth is read back through delta from the mailbox folder's latest deltaLink, so
duplicated, reordered or missed notifications change nothing.

- Per partner: messages delta for Inbox and Sent Items ($select of the kept fields) and the
  calendarView delta over a rolling window (90 days back, 30 ahead; re-anchored when it has rolled
  a day, which restarts that folder's delta).
- Delta links live in SyncState records, one per (mailbox, folder). A 410 Gone / expired link
  restarts that folder from scratch; capture is idempotent, so a restart only costs requests.
- Serialized per mailbox: an asyncio lock in this process, and one work item per (mailbox,
  kind) across processes (the drain leases it). A notification that arrives while a sync runs bumps
  the item's `rev`; the handler sees it and runs another round before it returns.
- A tenant whose consent is missing or revoked opens its circuit (Tenant.consentState): its syncs
  stop calling Graph and stop retrying until an admin consents again; other tenants are unaffected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rapport import telemetry, timezones, work
from rapport.capture.ingest import Ingestion, IngestStats
from rapport.graph import MAIL_FOLDERS, DeltaExpired, DeltaPage, GraphClient, GraphError
from rapport.identity.errors import CONSENT_ERRORS, TenantRevoked
from rapport.identity.membership import is_partner, partners
from rapport.records import Person, SyncState, Tenant, WorkItem, aware, utcnow
from rapport.store.base import AlreadyExists, Store

log = logging.getLogger("rapport.sync")

SYNC_WORK = "sync-mailbox"
KINDS = ("messages", "events")
WINDOW_PAST = timedelta(days=90)
WINDOW_AHEAD = timedelta(days=30)
WINDOW_SLACK = timedelta(days=1)
INGEST_BATCH = 2000  # items mapped and written per bulk write (people are written once per round)
TIME_ZONE_REFRESH = timedelta(days=1)  # a partner's mailbox zone changes rarely (travel, a move)
MAX_ROUNDS = 4  # rounds one work item runs while notifications keep arriving for its mailbox

_locks: dict[tuple[int, str, str], asyncio.Lock] = {}


def folders_of(kind: str) -> tuple[str, ...]:
    return MAIL_FOLDERS if kind == "messages" else ("calendar",)


def work_key(tenant_id: str, user_oid: str, kind: str) -> str:
    return f"{tenant_id}:{user_oid}:{kind}"


@dataclass
class SyncReport:
    tenant_id: str
    user_oid: str
    items: dict[str, int] = field(default_factory=dict)  # folder -> Graph items read
    restarts: list[str] = field(default_factory=list)  # folders whose delta link had expired
    ingested: Any = None  # capture.IngestStats summed over folders
    skipped: str | None = None  # why nothing was read ("consent", ...)


def is_consent_error(exc: BaseException) -> bool:
    """identity's ConsentRequired / SignInRequired / TenantRevoked (not TokenServiceUnavailable: that
    one is retried). rapport.identity.errors holds them without msal, so recognising them costs nothing."""
    return isinstance(exc, CONSENT_ERRORS)


# --- the Graph client of this process ---------------------------------------------------------


def graph_client(settings: Any = None) -> GraphClient:
    """The process's Graph client: the one the host or a test provided (runtime services `graph`), else
    one with app-only tokens from the settings, made on first use and kept with the services."""
    from rapport import runtime

    svc = runtime.services()
    if svc.graph is not None:
        return svc.graph

    def make() -> GraphClient:
        from rapport.identity.graph_tokens import GraphTokens  # msal loads only when Graph is really used

        s = settings or runtime.settings()
        return GraphClient(s.graph_base_url, GraphTokens(s))

    return svc.once("graph", make)


# --- syncing ----------------------------------------------------------------------------------


async def _prefetched(pages: AsyncIterator[DeltaPage], depth: int = 2) -> AsyncIterator[DeltaPage]:
    """The next delta page is fetched while this one is ingested: Graph's latency overlaps our work."""
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=depth)
    end = object()

    async def produce() -> None:
        try:
            async for page in pages:
                await queue.put(page)
            await queue.put(end)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, raised there
            await queue.put(exc)

    task = asyncio.create_task(produce())
    try:
        while True:
            got = await queue.get()
            if got is end:
                return
            if isinstance(got, Exception):
                raise got
            yield got
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


def _lock(tenant_id: str, user_oid: str) -> asyncio.Lock:
    # One delta round at a time per mailbox (all its folders): reads stay ordered, and a mailbox's
    # sync never competes with itself for its 4 Graph slots.
    key = (id(asyncio.get_running_loop()), tenant_id, user_oid)  # a lock serves one event loop
    lock = _locks.get(key)
    if lock is None:
        lock = _locks[key] = asyncio.Lock()
    return lock


async def open_circuit(store: Store, tenant_id: str, exc: BaseException) -> None:
    state = "revoked" if isinstance(exc, TenantRevoked) else "needs_admin_consent"

    def flag(t: Tenant) -> Tenant | None:
        if t.consentState == state:
            return None
        t.consentState = state
        return t

    await store.update(Tenant, tenant_id, tenant_id, flag)
    log.error("ALERT tenant %s: Graph consent missing or revoked (%s); its sync is paused until an admin "
              "consents again", tenant_id, type(exc).__name__, extra={"tenant_id": tenant_id})


async def _round(store: Store, graph: GraphClient, firm: Tenant, person: Person, folder: str, link: str | None,
                 start: datetime, end: datetime, now: datetime) -> tuple[Any, int, str | None]:
    """Read one delta round (all its pages) and ingest it in batches. Returns (stats, items, deltaLink)."""
    count, final = 0, None
    # The pipeline looks at new mail only: not at a folder's first round (the mailbox's history).
    # The single messages worth reading (signatures, bounces: rapport.capture.reads) are planned here,
    # where a mailbox to read them from exists.
    batch: list[dict[str, Any]] = []
    pages = (graph.event_delta(firm.id, person.oid, start=start, end=end, link=link) if folder == "calendar" else
             graph.message_delta(firm.id, person.oid, folder, link=link, excerpts=firm.settings.captureExcerpts))
    async with Ingestion(store, firm, person, now=now, intake=link is not None and folder != "calendar",
                         reads=folder != "calendar") as run:

        async def flush() -> None:
            if folder == "calendar":
                await run.add(events=batch)
            else:
                await run.add(messages=batch, folder=folder)
            batch.clear()

        async with aclosing(_prefetched(pages)) as prefetched:
            async for page in prefetched:
                count += len(page.items)
                batch.extend(page.items)
                if len(batch) >= INGEST_BATCH:
                    await flush()
                final = page.delta_link or final
        if batch:
            await flush()
        stats = await run.finish()  # the people the round saw, written once (before its delta link is saved)
    return stats, count, final


async def sync_folder(
    store: Store, graph: GraphClient, firm: Tenant, person: Person, folder: str, *, now: datetime | None = None,
) -> tuple[Any, int, bool]:
    """One delta round of one folder ("inbox", "sentitems", "calendar"). Returns (stats, items, restarted)."""
    now = now or utcnow()
    tid, oid = firm.id, person.oid
    async with _lock(tid, oid):
        state = await store.get(SyncState, tid, SyncState.id_for(oid, folder)) or SyncState(
            id=SyncState.id_for(oid, folder), tenantId=tid, userOid=oid, folder=folder)
        link = state.deltaLink
        start, end = now - WINDOW_PAST, now + WINDOW_AHEAD
        if folder == "calendar" and link:
            if state.windowStart is None or start - state.windowStart > WINDOW_SLACK:
                link = None  # the window has rolled: a new calendarView, a new delta round
            else:
                start, end = state.windowStart, state.windowEnd or end
        restarted = False
        while True:
            try:
                stats, count, final = await _round(store, graph, firm, person, folder, link, start, end, now)
            except DeltaExpired:
                if link is None or restarted:
                    raise
                log.warning("delta link of %s/%s expired; restarting that folder", oid, folder, extra={"tenant_id": tid})
                link, restarted = None, True
                if folder == "calendar":
                    start, end = now - WINDOW_PAST, now + WINDOW_AHEAD
                continue
            break
        state.deltaLink = final
        if folder == "calendar":
            state.windowStart, state.windowEnd = start, end
        state.lastSyncAt = now
        state.lastError = None
        state.items += count
        state.restarts += int(restarted)
        await store.put(state)
        return stats, count, restarted


async def sync_mailbox(
    store: Store, graph: GraphClient, firm: Tenant, person: Person, *, kinds: tuple[str, ...] = KINDS,
    now: datetime | None = None,
) -> SyncReport:
    """Delta-sync one partner's folders of `kinds`. A consent failure opens the tenant's circuit."""
    report = SyncReport(firm.id, person.oid, ingested=IngestStats())
    if firm.consentState != "ok" or not firm.allowed:
        report.skipped = "consent" if firm.consentState != "ok" else "not-allowed"
        return report
    person = await refresh_time_zone(store, graph, firm, person, now=now)
    for kind in kinds:
        for folder in folders_of(kind):
            try:
                stats, count, restarted = await sync_folder(store, graph, firm, person, folder, now=now)
            except Exception as exc:
                if is_consent_error(exc):
                    await open_circuit(store, firm.id, exc)
                    report.skipped = "consent"
                    return report
                raise
            report.ingested.add(stats)
            report.items[folder] = count
            if restarted:
                report.restarts.append(folder)
    return report


async def refresh_time_zone(store: Store, graph: GraphClient, firm: Tenant, person: Person, *,
                            now: datetime | None = None) -> Person:
    """Refresh the partner's time zone from Graph mailboxSettings (stored as an IANA name), at most
    once per TIME_ZONE_REFRESH, so notification-driven syncs stay one delta page per folder.

    Best effort: a failure keeps the stored zone and never stops the mail sync (a tenant that has
    not granted MailboxSettings.Read still gets its mail captured, in UTC)."""
    now = now or utcnow()
    if person.timeZoneCheckedAt is not None and now - aware(person.timeZoneCheckedAt) < TIME_ZONE_REFRESH:
        return person
    try:
        settings = await graph.mailbox_settings(firm.id, person.oid)
    except Exception as exc:
        if not (isinstance(exc, GraphError) or is_consent_error(exc)):
            raise
        # a consent failure is handled (circuit opened) by the folder sync that follows
        log.warning("mailboxSettings of %s in tenant %s unavailable: %s", person.oid, firm.id,
                    type(exc).__name__, extra={"tenant_id": firm.id})
        return person
    raw = str(settings.get("timeZone") or "")
    timezones.zone(raw)  # logs an unknown name (once)
    name = timezones.iana_name(raw)

    def change(p: Person) -> Person:
        p.timeZone, p.timeZoneCheckedAt = name, now
        return p

    return await store.update(Person, firm.id, person.id, change) or person


async def resolve_person(store: Store, graph: GraphClient, firm: Tenant, user: str) -> Person | None:
    """The partner by UPN or oid; if onboarding named a UPN we have no Person for, ask Graph once."""
    person = await store.get_person(firm.id, user) or await store.person_by_upn(firm.id, user)
    if person is not None:
        return person
    try:
        data = await graph.get_user(firm.id, user)
    except GraphError as exc:
        if exc.status == 404:
            return None
        raise
    oid = str(data.get("id") or "")
    if not oid:
        return None
    person = Person(id=oid, tenantId=firm.id, oid=oid, upn=str(data.get("userPrincipalName") or user).lower(),
                    name=str(data.get("displayName") or user), title=str(data.get("jobTitle") or ""))
    try:
        return await store.put(person, create_only=True)
    except AlreadyExists:
        return await store.get_person(firm.id, oid)


async def captured_people(store: Store, graph: GraphClient, firm: Tenant, user: str | None = None) -> list[Person]:
    """The partners whose mailboxes are captured: `user` only, or the firm's partners list.

    Listed UPNs are resolved through Graph first (their Person records appear on the first sync);
    who counts as a partner is rapport.identity.membership's rule, `user` or not.
    """
    names = [user] if user else list(firm.partners)
    if not names:
        return partners(firm, await store.people(firm.id))
    out = []
    for name in names:
        person = await resolve_person(store, graph, firm, name)
        if person is None:
            log.warning("partner %s of tenant %s not found in Graph", name, firm.id, extra={"tenant_id": firm.id})
        elif is_partner(person, firm):
            out.append(person)
    return out


# --- work items: the webhook and timer path ---------------------------------------------------


async def request_sync(store: Store, tenant_id: str, user_oid: str, kind: str, *, now: datetime | None = None) -> WorkItem:
    """Queue a delta sync of one mailbox's messages or events (the "sync-mailbox" work item)."""
    return await work.requeue(store, tenant_id, SYNC_WORK, work_key(tenant_id, user_oid, kind),
                            {"tenant": tenant_id, "user": user_oid, "kind": kind}, now=now)


@work.handler(SYNC_WORK)
async def run_sync_work(store: Store, item: WorkItem) -> None:
    """The "sync-mailbox" work item: delta-sync one mailbox's kind, again while notifications arrive."""
    tid, oid, kind = item.tenantId, str(item.payload.get("user", "")), str(item.payload.get("kind", ""))
    if kind not in KINDS or not oid:
        log.error("ALERT malformed sync work item %s", item.id, extra={"tenant_id": tid})
        return
    rev = item.payload.get("rev")
    for _ in range(MAX_ROUNDS):
        firm = await store.get_tenant(tid)
        person = await store.get_person(tid, oid)
        if firm is None or not is_partner(person, firm):
            return
        report = await sync_mailbox(store, graph_client(), firm, person, kinds=(kind,))
        if report.skipped:
            return
        if rev == item.payload.get("rev"):  # the first round: how long the notification waited for it
            telemetry.webhook_lag.record((utcnow() - (item.queuedAt or item.createdAt)).total_seconds(),
                                         {"rapport.tenant_id": tid})
        current = await store.get(WorkItem, tid, item.id)
        if current is None or current.payload.get("rev") == rev:
            return
        rev = current.payload.get("rev")  # notified while we synced: go round again


async def safety_net(store: Store, *, now: datetime | None = None) -> int:
    """The timer's periodic sync: queue every captured mailbox of every consenting tenant.

    Through work items (not inline) so it is serialized with the webhook path and the timer itself
    stays short. Returns how many were queued.
    """
    queued = 0
    for firm in await store.list_tenants():
        if firm.consentState != "ok" or not firm.allowed:
            continue
        for person in partners(firm, await store.people(firm.id)):
            for kind in KINDS:
                await request_sync(store, firm.id, person.oid, kind, now=now)
                queued += 1
        work.kick(store, firm.id)
    return queued


async def safety_net_timer(store: Store, *, past_due: bool = False) -> int:
    queued = await safety_net(store)
    log.info("graph safety-net sync%s: %d mailbox syncs queued", " (past due)" if past_due else "", queued)
    return queued


# --- `rapport sync` ---------------------------------------------------------------------------


async def sync_tenant(store: Store, graph: GraphClient, tenant_id: str, user: str | None = None,
                      now: datetime | None = None) -> list[SyncReport]:
    firm = await store.get_tenant(tenant_id)
    if firm is None:
        raise LookupError(f"tenant {tenant_id} is not onboarded (rapport tenant add)")
    reports = []
    for person in await captured_people(store, graph, firm, user):
        reports.append(await sync_mailbox(store, graph, firm, person, now=now))
        if reports[-1].skipped == "consent":
            break
        firm = await store.get_tenant(tenant_id) or firm
    return reports
