"""The drain of work items: slow work written before the answer and done after it.

Work that happens after the answer (docs/architecture.md, "Work after the answer"): a handler
writes a WorkItem (`enqueue`, keyed idempotently, or `requeue` to ask again) before it answers;
this module runs it later. The `drain_work` timer of
function_app.py drains every minute, on Azure and under `rapport serve` alike, and a host that
lets code run after the answer may `kick()` a tenant's queue at once. Failures are retried with
exponential backoff and jitter; after 5 failed attempts an item is parked as dead with an alert
line in the log. Nothing is ever dropped.

Handlers register by kind:

    @work.handler("send-mail")
    async def send_mail(store: Store, item: WorkItem) -> None: ...

A handler must be idempotent: it may run again after a crash between its side effect and the
settle (the claim is a lease, not a lock held for ever).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rapport.records import WorkItem, aware, utcnow
from rapport.store import AlreadyExists, Conflict, Store

log = logging.getLogger("rapport.work")

MAX_ATTEMPTS = 5
BASE_DELAY = timedelta(seconds=30)  # first retry about half a minute later...
MAX_DELAY = timedelta(hours=1)  # ...doubling, but never more than an hour apart
LEASE = timedelta(minutes=5)  # a claimed item is invisible to other drains this long
HANDLER_TIMEOUT = 120.0  # seconds; well inside the Functions timeout of host.json
BATCH = 50
TIMER_BUDGET = 150.0  # seconds a timer pass claims new items for; host.json allows 3:50 per run

# The modules that register work handlers. The drain imports them all first, so a fresh process
# (an Azure instance woken only by the drain timer) can run every kind. tests/test_work.py fails
# when a module under rapport/ registers a handler and is missing here.
HANDLER_MODULES: tuple[str, ...] = (
    "rapport.capture.sync", "rapport.capture.subscriptions", "rapport.followups.cards", "rapport.followups.drafting",
    "rapport.followups.sending", "rapport.briefs.delivery", "rapport.relationships.delivery",
)

Handler = Callable[[Store, WorkItem], Awaitable[None]]
_handlers: dict[str, Handler] = {}
_kicks: set[asyncio.Task] = set()  # strong references: the loop keeps only weak ones


# --- queueing: the one way a work item is written -------------------------------------------------


async def enqueue(store: Store, tenant_id: str, kind: str, key: str, payload: dict[str, Any], *,
                  not_before: datetime | None = None) -> tuple[WorkItem, bool]:
    """Write the work item (kind, key) once: create-only, so a second call for the same key changes
    nothing, whatever state the first is in. Returns the stored item (this call's, or the one that was
    there) and whether this call created it. `not_before`: when it may run (default now)."""
    at = not_before or utcnow()
    item = WorkItem(id=WorkItem.id_for(kind, key), tenantId=tenant_id, kind=kind, key=key, payload=payload,
                    notBefore=at, createdAt=at)
    try:
        return await store.put(item, create_only=True), True
    except AlreadyExists:
        return await store.get(WorkItem, tenant_id, item.id) or item, False


async def requeue(store: Store, tenant_id: str, kind: str, key: str, payload: dict[str, Any], *,
                  now: datetime | None = None) -> WorkItem:
    """Make sure the work item (kind, key) is queued, for work that must run again when asked again
    (a notification for a mailbox being synced). One item per key, so a burst coalesces into it. A
    queued item (maybe running right now) gets its `rev` bumped so its handler can tell it was asked
    again; a done or dead one is queued anew (`enqueue` alone would leave a done item done, and a
    later notification would be lost)."""
    now = now or utcnow()
    existing = await store.get(WorkItem, tenant_id, WorkItem.id_for(kind, key))
    if existing is not None and existing.state == "queued" and existing.notBefore <= now:
        # Queued and not yet claimed (a claim moves notBefore into the future): its run starts after
        # this moment, so it will read this change too. One read, no write: a burst costs little.
        return existing
    if existing is None:
        existing, created = await enqueue(store, tenant_id, kind, key, {**payload, "rev": 1}, not_before=now)
        if created:
            return existing

    def rearm(w: WorkItem) -> WorkItem:
        w.payload = {**w.payload, **payload, "rev": int(w.payload.get("rev", 0)) + 1}
        if w.state != "queued":
            w.state, w.attempts, w.lastError, w.notBefore = "queued", 0, None, now
        return w

    return await store.update(WorkItem, tenant_id, existing.id, rearm) or existing


# --- handlers and the drain -------------------------------------------------------------------------


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the async function that does work items of `kind`."""

    def register(fn: Handler) -> Handler:
        existing = _handlers.get(kind)
        if existing is not None and existing is not fn and existing.__qualname__ != fn.__qualname__:
            raise ValueError(f"work kind {kind!r} already has a handler ({existing.__qualname__})")
        _handlers[kind] = fn
        return fn

    return register


def load_handlers() -> dict[str, Handler]:
    """Import every module of HANDLER_MODULES (registering its kinds); returns the registry."""
    for name in HANDLER_MODULES:
        importlib.import_module(name)
    return registered()


def registered() -> dict[str, Handler]:
    return dict(_handlers)


@contextmanager
def handling(kind: str, fn: Handler) -> Iterator[Handler]:
    """`fn` handles `kind` inside the block only (tests' throw-away kinds); registered as `handler` does."""
    handler(kind)(fn)
    try:
        yield fn
    finally:
        _handlers.pop(kind, None)


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Delay before the retry after `attempts` failures: exponential, capped, with equal jitter.

    Half the delay is fixed and half random, so retries of many items failing together spread out
    but none comes back sooner than half its step.
    """
    step = min(MAX_DELAY, BASE_DELAY * (2 ** max(0, attempts - 1)))
    half = step / 2
    return half + half * (rng or random).random()


@dataclass
class DrainReport:
    done: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    unhandled: list[str] = field(default_factory=list)  # no handler registered in this process

    def summary(self) -> str:
        return (f"{len(self.done)} done, {len(self.retrying)} to retry, {len(self.dead)} dead, "
                f"{len(self.unhandled)} without a handler")


async def _claim(store: Store, item: WorkItem, now: datetime) -> WorkItem | None:
    """Take a lease on a due item, bound to its ETag; None if another drain took or settled it."""

    def take(w: WorkItem) -> WorkItem | None:
        if w.state != "queued" or w.notBefore > now:
            return None
        w.notBefore = now + LEASE
        return w

    try:
        return await store.update(WorkItem, item.tenantId, item.id, take)
    except Conflict:
        return None


async def _run_one(store: Store, item: WorkItem, fn: Handler, now: datetime, rng: random.Random | None,
                   timeout: float, report: DrainReport) -> None:
    extra = {"tenant_id": item.tenantId}
    try:
        async with asyncio.timeout(timeout):
            await fn(store, item)
    except Exception as exc:  # noqa: BLE001 - one item's failure must not stop the others
        reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        log.warning("work item %s (%s) failed on attempt %d: %s", item.id, item.kind, item.attempts + 1,
                    type(exc).__name__, exc_info=not isinstance(exc, TimeoutError), extra=extra)
        settled = await store.settle_work(item, error=reason, retry_at=now + backoff(item.attempts + 1, rng),
                                          max_attempts=MAX_ATTEMPTS)
        if settled is not None and settled.state == "dead":
            report.dead.append(item.id)
            log.error("ALERT work item %s (%s) is dead after %d attempts; last error: %s",
                      item.id, item.kind, settled.attempts, type(exc).__name__, extra=extra)
        else:
            report.retrying.append(item.id)
        return
    await store.settle_work(item)
    report.done.append(item.id)
    log.info("work item %s (%s) done", item.id, item.kind, extra=extra)



async def drain(
    store: Store, now: datetime | None = None, limit: int = BATCH, *, tenant_ids: list[str] | None = None,
    rng: random.Random | None = None, timeout: float = HANDLER_TIMEOUT, max_items: int = 1000,
    budget: float | None = None,
) -> DrainReport:
    """Run every due work item of every tenant (or of `tenant_ids`), one at a time per tenant.

    `now` is the time the pass runs at (injectable for tests): it decides what is due and when
    a failed item is retried. At most `max_items` per tenant per pass, so a pass ends inside the
    timer's time limit; the rest waits for the next minute. With `budget` (seconds), no new item
    is claimed once it is spent.
    """
    report = DrainReport()
    ends = None if budget is None else time.monotonic() + budget
    if tenant_ids is None:
        tenant_ids = [t.id for t in await store.list_tenants()]
    for tid in tenant_ids:
        seen: set[str] = set()
        while len(seen) < max_items:
            at = aware(now) if now is not None else utcnow()
            due = [w for w in await store.due_work(tid, now=at, limit=limit) if w.id not in seen]
            if not due:
                break
            for item in due:
                if ends is not None and time.monotonic() >= ends:
                    return report  # the rest is still queued; the next pass takes it
                seen.add(item.id)
                fn = _handlers.get(item.kind)
                if fn is None:
                    # Left queued, not failed: the process that registers this kind will run it.
                    report.unhandled.append(item.id)
                    log.warning("work item %s has kind %r with no handler in this process", item.id, item.kind,
                                extra={"tenant_id": tid})
                    continue
                claimed = await _claim(store, item, at)
                if claimed is None:
                    continue
                await _run_one(store, claimed, fn, at, rng, timeout, report)
    return report


async def drain_timer(store: Store, *, past_due: bool = False) -> DrainReport:
    """What the `drain_work` timer trigger does (kept here so function_app.py stays thin)."""
    load_handlers()
    report = await drain(store, budget=TIMER_BUDGET)
    if past_due or report.done or report.retrying or report.dead:
        log.info("work drain%s: %s", " (past due)" if past_due else "", report.summary())
    if report.unhandled:
        # Every kind should have its handler once load_handlers() ran: this is a deployment bug.
        log.error("ALERT %d work items have a kind no handler is registered for; they stay queued",
                  len(report.unhandled))
    return report


_coalescing: dict[tuple[int, str], asyncio.Task] = {}
_go_again: set[tuple[int, str]] = set()


def kick_coalesced(store: Store, tenant_id: str) -> None:
    """Kick the tenant's drain at most one at a time: while a kicked drain runs, more kicks only ask
    it to go round once more (a burst of approvals or notifications must not start a drain each,
    competing with the answers). The drain timer picks up whatever a kick misses."""
    key = (id(store), tenant_id)
    running = _coalescing.get(key)
    if running is not None and not running.done():
        _go_again.add(key)
        return
    task = kick(store, tenant_id)
    if task is None:
        return
    _coalescing[key] = task

    def finished(_: asyncio.Task) -> None:
        _coalescing.pop(key, None)
        if key in _go_again:
            _go_again.discard(key)
            kick_coalesced(store, tenant_id)

    task.add_done_callback(finished)


def kicks() -> list[asyncio.Task]:
    """The drains `kick` started that have not finished yet (tests wait for them, or cancel them)."""
    return [t for t in _kicks if not t.done()]


def kick(store: Store, tenant_id: str) -> asyncio.Task | None:
    """Drain one tenant's queue now, in the background, after the answer has been written.

    Safe to call anywhere: without a running loop or any registered handler it does nothing
    (the timer will drain). Returns the task so tests can await it.
    """
    if not _handlers:
        return None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None

    async def run() -> None:
        try:
            await drain(store, tenant_ids=[tenant_id])
        except Exception:  # noqa: BLE001 - a kick is best effort; the timer retries
            log.exception("work kick failed", extra={"tenant_id": tenant_id})

    task = loop.create_task(run(), name=f"work-kick-{tenant_id}")
    _kicks.add(task)
    task.add_done_callback(_kicks.discard)
    return task
