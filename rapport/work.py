"""The drain of work items: slow work written before the answer and done after it.

Work that happens after the answer (docs/architecture.md, "Work after the answer"): a handler
writes a WorkItem (`enqueue`, keyed idempotently, or `requeue` to ask again) before it answers;
this module runs it later. With a Storage queue configured (rapport.work_queue), each item written
is also a message, and function_app's queue trigger runs exactly that item (`drain_message`);
without one (the embedded default) a host that lets code run after the answer `kick()`s the
tenant's drain at once. Either way the `drain_work` timer of function_app.py drains every minute,
on Azure and under `rapport serve` alike: the safety net for a lost message or a cut-off kick. Failures are retried with
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

from rapport import telemetry, work_queue
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
# A queue-delivered item that failed is retried when its message comes back: host.json's queues
# visibilityTimeout after the failure (tests/test_work_queue.py keeps the two equal). The queue gives
# each message maxDequeueCount (= MAX_ATTEMPTS) deliveries, then moves it to the poison queue.
QUEUE_RETRY = timedelta(seconds=30)
QUEUE_SKEW = timedelta(seconds=5)  # a message may arrive this much before its item is due (clocks differ)

# The modules that register work handlers. The drain imports them all first, so a fresh process
# (an Azure instance woken only by the drain timer) can run every kind. tests/test_work.py fails
# when a module under rapport/ registers a handler and is missing here.
HANDLER_MODULES: tuple[str, ...] = (
    "rapport.capture.sync", "rapport.capture.subscriptions", "rapport.followups.cards", "rapport.followups.drafting",
    "rapport.followups.sending", "rapport.briefs.delivery", "rapport.pipeline.notify", "rapport.pipeline.drafts", "rapport.metrics.week", "rapport.relationships.delivery",
    "rapport.capture.readers",
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
    item = _new_item(tenant_id, kind, key, payload, not_before or utcnow())
    try:
        stored = await store.put(item, create_only=True)
    except AlreadyExists:
        return await store.get(WorkItem, tenant_id, item.id) or item, False
    await _announce(stored)
    return stored, True


async def enqueue_many(store: Store, tenant_id: str, kind: str, items: list[tuple[str, dict[str, Any]]]) -> int:
    """`enqueue` for several keys of one kind at once: one checked write (each create-only), so a
    batch of work costs one round trip, not one per item. Returns how many this call created."""
    if not items:
        return 0
    at = utcnow()
    made = {k: _new_item(tenant_id, kind, k, payload, at) for k, payload in items}  # a key once
    refused = {w.id for w in await store.put_checked([(w, None, True) for w in made.values()])}
    created = [w for w in made.values() if w.id not in refused]
    for w in created:
        await _announce(w)
    return len(created)


def _new_item(tenant_id: str, kind: str, key: str, payload: dict[str, Any], at: datetime) -> WorkItem:
    return WorkItem(id=WorkItem.id_for(kind, key), tenantId=tenant_id, kind=kind, key=key, payload=payload,
                    notBefore=at, createdAt=at, queuedAt=at, traceparent=telemetry.current_traceparent())


async def _announce(item: WorkItem) -> None:
    """After the item is written: its message on the work queue, if one is configured (never raises)."""
    now = utcnow()
    await work_queue.send_for(item, delay=item.notBefore - now if item.notBefore > now else None)


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
            w.state, w.attempts, w.lastError, w.notBefore, w.queuedAt = "queued", 0, None, now, now
        return w

    rearmed = await store.update(WorkItem, tenant_id, existing.id, rearm)
    if rearmed is None:
        return existing
    await _announce(rearmed)
    return rearmed


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
                   timeout: float, report: DrainReport, retry_in: timedelta | None = None) -> None:
    extra = {"tenant_id": item.tenantId}
    # One span per item, named by its kind (a fixed word); under the queue message's span when there
    # is one, else continuing the trace of the request that queued it.
    with telemetry.span(f"work.{item.kind}", traceparent=None if telemetry.in_span() else item.traceparent,
                        **{"rapport.tenant_id": item.tenantId, "rapport.work.kind": item.kind,
                           "rapport.work.id": item.id, "rapport.work.attempt": item.attempts + 1}):
        outcome = await _run_traced(store, item, fn, now, rng, timeout, report, retry_in, extra)
        telemetry.annotate(**{"rapport.outcome": outcome})


async def _run_traced(store: Store, item: WorkItem, fn: Handler, now: datetime, rng: random.Random | None,
                      timeout: float, report: DrainReport, retry_in: timedelta | None, extra: dict) -> str:
    try:
        async with asyncio.timeout(timeout):
            await fn(store, item)
    except Exception as exc:  # noqa: BLE001 - one item's failure must not stop the others
        reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        log.warning("work item %s (%s) failed on attempt %d: %s", item.id, item.kind, item.attempts + 1,
                    type(exc).__name__, exc_info=not isinstance(exc, TimeoutError), extra=extra)
        delay = retry_in if retry_in is not None else backoff(item.attempts + 1, rng)
        settled = await store.settle_work(item, error=reason, retry_at=now + delay, max_attempts=MAX_ATTEMPTS)
        if settled is not None and settled.state == "dead":
            report.dead.append(item.id)
            log.error("ALERT work item %s (%s) is dead after %d attempts; last error: %s",
                      item.id, item.kind, settled.attempts, type(exc).__name__, extra=extra)
            return "dead"
        report.retrying.append(item.id)
        return "retrying"
    await store.settle_work(item)
    report.done.append(item.id)
    log.info("work item %s (%s) done", item.id, item.kind, extra=extra)
    return "done"



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


class WorkFailed(Exception):
    """The item a queue message pointed at failed this time. Raised from the queue trigger so the
    queue delivers the message again (host.json visibilityTimeout) and, after maxDequeueCount
    deliveries, moves it to the poison queue. The item itself is settled as the drain settles it."""


async def drain_message(store: Store, body: bytes | str, *, dequeue_count: int | None = 1,
                        now: datetime | None = None, retry_in: timedelta = QUEUE_RETRY,
                        timeout: float = HANDLER_TIMEOUT) -> str:
    """What the `work_message` queue trigger does: run exactly the work item the message names.

    Returns what became of it: "done"; "gone" (no such item: nothing to do); "settled" (done or dead
    already: a duplicate message, or the timer ran it first); "taken" (another drain holds it, or
    it is not due: claimed by a drain running it now, or waiting out a retry the timer scheduled;
    that drain or the timer settles it, so the message has nothing left to do). Raises BadMessage for a
    message that is not Rapport's and WorkFailed when the item's handler failed: either way the queue
    retries it, then poisons it. A failed item is due again `retry_in` later, when the message is back;
    a message delivered again (`dequeue_count` > 1) IS that retry, so it runs an item waiting out its
    retry at once, whatever visibilityTimeout the queue was given. (A lease is never mistaken for such
    a wait: a live drain gives up on its handler after HANDLER_TIMEOUT, long before the last
    `retry_in` of its LEASE.)
    """
    msg = work_queue.parse(body)
    # One span per message, continuing the trace of the request that queued the item; ids only.
    with telemetry.span("work.message", traceparent=msg.traceparent, kind=telemetry.CONSUMER,
                        **{"rapport.trigger": "queue", "rapport.tenant_id": msg.tenant_id,
                           "rapport.work.id": msg.item_id}):
        outcome = await _drain_message(store, msg, dequeue_count, now, retry_in, timeout)
        telemetry.annotate(**{"rapport.outcome": outcome})
        return outcome


async def _drain_message(store: Store, msg: work_queue.WorkMessage, dequeue_count: int | None,
                         now: datetime | None, retry_in: timedelta, timeout: float) -> str:
    load_handlers()
    at = aware(now) if now is not None else utcnow()
    extra = {"tenant_id": msg.tenant_id}
    item = await store.get(WorkItem, msg.tenant_id, msg.item_id)
    if item is None:
        log.warning("work message for an item that does not exist (%s)", msg.item_id, extra=extra)
        return "gone"
    if item.state != "queued":
        return "settled"
    redelivered_retry = ((dequeue_count or 1) > 1 and item.attempts > 0
                         and item.notBefore <= at + retry_in + QUEUE_SKEW)
    if item.notBefore > at + QUEUE_SKEW and not redelivered_retry:
        # Held by a drain (its lease) or waiting out a retry: whoever holds it settles it, and the timer
        # runs it when its lease or wait ends. A message for a scheduled item was sent to arrive then.
        return "taken"
    fn = _handlers.get(item.kind)
    if fn is None:
        raise WorkFailed(f"no handler for work kind {item.kind!r} in this process")
    claimed = await _claim(store, item, max(at, item.notBefore))
    if claimed is None:
        return "taken"
    report = DrainReport()
    await _run_one(store, claimed, fn, at, None, timeout, report, retry_in=retry_in)
    if report.done:
        return "done"
    raise WorkFailed(f"work item {item.id} ({item.kind}) failed; "
                     f"{'dead' if report.dead else 'retried when the message is delivered again'}")


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
    (the timer will drain), and with a work queue configured it does nothing either: each item's
    message runs it (rapport.work_queue). Returns the task so tests can await it.
    """
    if not _handlers:
        return None
    try:
        if work_queue.current() is not None:
            return None
    except Exception:  # noqa: BLE001 - settings that cannot be read: kick as before; the timer drains
        log.warning("work kick: the work queue setting could not be read", exc_info=True)
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
