"""Graph's webhooks: POST /api/graph/notifications and POST /api/graph/lifecycle.

Rules (docs/reliability.md, "5. Microsoft Graph webhooks"):
- Handshake: `?validationToken=` is echoed URL-decoded (the host decodes the query) as text/plain
  with nosniff and a no-content CSP, at once: no store, no Graph. Graph compares the echo byte for
  byte, so it is not HTML-escaped; text/plain + nosniff is what keeps it inert.
- Every item is checked on its own: its subscription must be one of ours (our route table, never
  the body's tenantId, says which firm it belongs to), its clientState must match the stored hash
  (hmac.compare_digest), and each tenant id the item carries must agree with the route: `tenantId`
  (change notifications) and `organizationId` (what lifecycle notifications carry instead), each
  compared on its own. Anything else is dropped and counted, and the rest of the batch goes on:
  one poison item does not cost the others.
- A flood costs little and starves nobody (issue 12): the body is capped at Graph's 1 MB and the
  items at MAX_ITEMS (more than a genuine 1 MB batch can hold: 413 before any per-item work); a
  request logs ONE summary line (counts by reason, never a clientState; an ALERT, with
  extra alert=True, when an item of a real subscription failed its secret or tenant check); an
  unknown subscription id costs at most one look-up (all of a request's in one store call, at most
  MAX_LOOKUPS of them, then a bounded negative cache); a big batch is parsed in a worker thread and
  checked in slices, one big batch at a time per process, so other requests are served meanwhile.
- Persist, then 202: each accepted item becomes a queued work item (one per mailbox and kind, so a
  burst coalesces) before the answer; if the store cannot take it the answer is a 5xx and Graph
  retries. The drain is kicked after. No Graph call is ever made on this path.
- A notification only says "look at this mailbox": the sync reads the truth back through delta.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rapport import work
from rapport.capture import routes
from rapport.capture.subscriptions import queue_lifecycle
from rapport.capture.sync import request_sync
from rapport.records import SubscriptionRoute
from rapport.store.base import Store
from rapport.web import Answer, ApiError, Request, parse_json_body

log = logging.getLogger("rapport.webhooks")

MAX_BATCH = 1024 * 1024  # Graph batches are capped at 1 MB
# A genuine item carries our 64-character clientState, a GUID subscription id and a GUID tenant id
# with their field names: over 200 bytes. So a genuine 1 MB batch holds at most ~5,000 items, and
# a request with more is not Graph's: refused whole, before any per-item work.
MIN_ITEM_BYTES = 200
MAX_ITEMS = MAX_BATCH // MIN_ITEM_BYTES
# Distinct subscription ids one request may have looked up in the store (one batched call). A
# genuine batch names only our subscriptions, which stay cached after their first look-up; past
# the budget the answer is 503 (Graph redelivers, and the retry finds more of them cached).
MAX_LOOKUPS = 100
BIG_BODY = 64 * 1024  # above this a body is parsed in a worker thread and its items checked in slices
# Big batches may take at most this share of the process's time (a leaky bucket of BIG_BURST
# seconds): past it one is answered 503 + Retry-After before it is parsed. Graph redelivers; a
# flood of 1 MB bodies cannot take the CPU the sidebar needs (bench/mixed.py).
BIG_SHARE = 0.1
BIG_BURST = 0.5
SLICE = 256  # items checked between two turns of the event loop
MAX_VALIDATION_TOKEN = 4096
MISSED = "missed"  # some notifications were lost: resync the mailbox by delta
RENEWALS = ("reauthorizationRequired", "subscriptionRemoved")  # handled by rapport.capture.subscriptions
_SUBSCRIPTION_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
ALERT_REASONS = ("bad_client_state", "tenant_mismatch")  # a real subscription's item failed a check

STATS: Counter[str] = Counter()  # process-wide counts: accepted, dropped:<reason>

# One big batch's CPU work at a time per event loop (tests run many loops); and one persist at a
# time per work item (mailbox and kind, or lifecycle event), so a burst on one mailbox does not race
# its own read-modify-write of that item while other mailboxes' go on.
_big_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()
_big_credit: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[float]] = weakref.WeakKeyDictionary()
_persist_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, ...], asyncio.Lock]] = (
    weakref.WeakKeyDictionary())
_pending_writes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, ...], asyncio.Future]] = (
    weakref.WeakKeyDictionary())


def _per_loop(table: weakref.WeakKeyDictionary, make):
    loop = asyncio.get_running_loop()
    got = table.get(loop)
    if got is None:
        got = table[loop] = make()
    return got


@dataclass
class BatchResult:
    items: int = 0
    accepted: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    queued: set[tuple[str, str, str]] = field(default_factory=set)  # (tenant, mailbox, kind or event)
    unverified: int = 0  # items past the look-up budget: neither accepted nor dropped (-> 503, redelivered)
    alert_tenants: set[str] = field(default_factory=set)


def _handshake(request: Request) -> Answer | None:
    token = request.params.get("validationToken")
    if token is None:
        return None
    if not token or len(token) > MAX_VALIDATION_TOKEN or any(ord(c) < 32 and c != "\t" for c in token):
        raise ApiError(400, "validationToken is malformed")
    return Answer(200, token, mimetype="text/plain", headers={
        "x-content-type-options": "nosniff", "content-security-policy": "default-src 'none'; sandbox",
        "cache-control": "no-store",
    })


def _drop(result: BatchResult, reason: str, tenant_id: str | None = None) -> None:
    result.dropped[reason] += 1  # counted here, logged once per request by _summary
    STATS[f"dropped:{reason}"] += 1
    if reason in ALERT_REASONS and tenant_id:
        result.alert_tenants.add(tenant_id)


def _tenant_agrees(item: dict[str, Any], firm_tenant_id: str) -> bool:
    """Every tenant id the item carries names the route's firm: tenantId and organizationId are
    each checked on their own (one agreeing must not vouch for the other)."""
    want = firm_tenant_id.lower()
    for key in ("tenantId", "organizationId"):
        claimed = item.get(key)
        if claimed is not None and (not isinstance(claimed, str) or claimed.strip().lower() != want):
            return False
    return True


async def _slices(values: list[Any], sliced: bool):
    """The items, with a turn of the event loop every SLICE of them when the batch is big."""
    for n, value in enumerate(values):
        if sliced and n and n % SLICE == 0:
            await asyncio.sleep(0)
        yield value


async def process_batch(store: Store, body: Any, *, lifecycle_endpoint: bool = False) -> BatchResult:
    """Verify each item and queue its work. Raises (-> 5xx) only when the store cannot persist."""
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise ApiError(400, "expected a JSON object with a `value` array")
    items: list[Any] = body["value"]
    if len(items) > MAX_ITEMS:
        raise ApiError(413, f"too many notifications in one request (limit {MAX_ITEMS})")
    result = BatchResult(items=len(items))
    sliced = len(items) > SLICE
    # Pass 1: shape, and which subscription ids the caches cannot answer.
    now = time.monotonic()
    shaped: list[tuple[dict[str, Any], str]] = []
    wanted: dict[str, None] = {}
    async for item in _slices(items, sliced):
        sid = item.get("subscriptionId") if isinstance(item, dict) else None
        if not isinstance(sid, str) or not _SUBSCRIPTION_ID.match(sid):
            _drop(result, "malformed")
            continue
        shaped.append((item, sid))
        if sid not in wanted and routes.cached(sid, now) is False:
            wanted[sid] = None
    ask = list(wanted)[:MAX_LOOKUPS]
    await routes.look_up(store, ask)
    # Pass 2: each item against its route.
    now = time.monotonic()
    lifecycle: dict[tuple[str, str], SubscriptionRoute] = {}
    syncs: set[tuple[str, str, str]] = set()
    async for item, sid in _slices(shaped, sliced):
        route = routes.cached(sid, now)
        if route is False:
            result.unverified += 1
            continue
        if route is None:
            _drop(result, "unknown_subscription")
            continue
        client_state = item.get("clientState")
        if not isinstance(client_state, str) or not hmac.compare_digest(routes.hash_client_state(client_state), route.clientStateHash):
            _drop(result, "bad_client_state", route.firmTenantId)
            continue
        if not _tenant_agrees(item, route.firmTenantId):
            _drop(result, "tenant_mismatch", route.firmTenantId)
            continue
        event = item.get("lifecycleEvent")
        if (event is None and not lifecycle_endpoint) or event == MISSED:
            syncs.add((route.firmTenantId, route.userOid, route.kind))  # missed: resync by delta
        elif event in RENEWALS:
            lifecycle[(sid, event)] = route
        else:
            _drop(result, "unknown_event", route.firmTenantId)
            continue
        result.accepted += 1
    # Persist before the answer: one write per distinct mailbox/kind or lifecycle event, not per
    # item; one request's writes at a time, so concurrent bursts on one mailbox do not race each
    # other's read-modify-write of its work item.
    for tenant_id, user_oid, kind in sorted(syncs):
        await _persist((tenant_id, user_oid, kind), lambda t=tenant_id, u=user_oid, k=kind: request_sync(store, t, u, k))
        result.queued.add((tenant_id, user_oid, kind))
    for (sid, event), route in sorted(lifecycle.items()):
        await _persist((sid, event), lambda r=route, e=event: queue_lifecycle(store, r, e))
        result.queued.add((route.firmTenantId, route.userOid, event))
    STATS["accepted"] += result.accepted
    return result


async def _persist(key: tuple[str, ...], write) -> None:
    """Queue one work item's write, one at a time per item. A request arriving while that item's
    next write has not started yet joins it instead of queueing another: that write reads the item
    after this request came, so it covers it (a burst on one mailbox costs two writes, not one each)."""
    loop = asyncio.get_running_loop()
    pending: dict[tuple[str, ...], asyncio.Future] = _per_loop(_pending_writes, dict)
    joined = pending.get(key)
    if joined is not None:
        await asyncio.shield(joined)
        return
    mine: asyncio.Future = loop.create_future()
    mine.add_done_callback(lambda f: f.cancelled() or f.exception())  # nobody may have joined to see it
    pending[key] = mine
    try:
        async with _key_lock(_per_loop(_persist_locks, dict), key):
            if pending.get(key) is mine:
                del pending[key]  # started: later requests queue the next write
            await write()
    except BaseException as exc:
        if pending.get(key) is mine:
            del pending[key]
        mine.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
        raise
    mine.set_result(None)


class _key_lock:  # noqa: N801 - used as `async with _key_lock(...)`
    """The lock of one work item's key; dropped from the table when nobody holds or awaits it."""

    def __init__(self, locks: dict[tuple[str, ...], asyncio.Lock], key: tuple[str, ...]) -> None:
        self.locks, self.key = locks, key
        self.lock = locks.setdefault(key, asyncio.Lock())

    async def __aenter__(self) -> None:
        await self.lock.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.lock.release()
        if not self.lock.locked() and not getattr(self.lock, "_waiters", None):
            self.locks.pop(self.key, None)


def _summary(result: BatchResult, route: str, cid: str) -> None:
    """The request's one log line: counts by reason; never a clientState, never an item."""
    dropped = ", ".join(f"{reason}={n}" for reason, n in sorted(result.dropped.items())) or "none"
    alert = bool(result.alert_tenants)
    line = (f"graph {route}: {result.items} items, {result.accepted} accepted, dropped {dropped}, "
            f"{result.unverified} unverified, {len(result.queued)} queued")
    extra = {"correlation_id": cid, "alert": alert, "tenant_id": ",".join(sorted(result.alert_tenants))}
    if alert:
        log.warning("ALERT %s", line, extra=extra)
    else:
        log.info("%s", line, extra=extra)


async def _store(store: Store | None) -> Store:
    if store is not None:
        return store
    from rapport import runtime

    return await runtime.store()


def _credit() -> list[float]:
    """This loop's big-batch credit, refilled to now: [seconds left, as of]."""
    credit = _per_loop(_big_credit, lambda: [BIG_BURST, time.monotonic()])
    now = time.monotonic()
    credit[0] = min(BIG_BURST, credit[0] + (now - credit[1]) * BIG_SHARE)
    credit[1] = now
    return credit


def _too_large() -> ApiError:
    return ApiError(413, f"request body is too large (limit {MAX_BATCH // 1024} KB)")


def _shed() -> ApiError:
    STATS["shed"] += 1
    return ApiError(503, "too many large notification batches right now; retry shortly", headers={"retry-after": "5"})


def refuse_unread(length: int | None) -> ApiError | None:
    """The answer to a notification request of `length` declared bytes before its body is read, or
    None to read it. The local host asks (local.host, through function_app.BEFORE_BODY) so that a
    flood of big batches past the credit costs a header parse, not a 1 MB read on the sidebar's
    event loop; Azure's host reads bodies itself, and `_handle` applies the same two rules after."""
    if length is None:  # chunked: read, bounded by the host's limit, and judged after
        return None
    if length > MAX_BATCH:
        return _too_large()
    if length > BIG_BODY and _credit()[0] <= 0:
        return _shed()
    return None


async def _handle(request: Request, store: Store | None, *, lifecycle_endpoint: bool) -> Answer:
    shake = _handshake(request)
    if shake is not None:
        return shake
    if len(request.body) > MAX_BATCH:  # before anything else: no parse, no work
        raise _too_large()
    content_type = request.header("content-type")
    if len(request.body) <= BIG_BODY:
        body = parse_json_body(request.body, content_type, max_bytes=MAX_BATCH)
        store = await _store(store)
        result = await process_batch(store, body, lifecycle_endpoint=lifecycle_endpoint)
    else:
        async with _per_loop(_big_gates, lambda: asyncio.Semaphore(1)):
            credit = _credit()
            started = credit[1]
            if credit[0] <= 0:
                raise _shed()
            try:
                body = await asyncio.to_thread(parse_json_body, request.body, content_type, max_bytes=MAX_BATCH)
                store = await _store(store)
                result = await process_batch(store, body, lifecycle_endpoint=lifecycle_endpoint)
            finally:
                credit[0] -= time.monotonic() - started
    _summary(result, "lifecycle" if lifecycle_endpoint else "notifications", request.correlation_id)
    for tenant_id in sorted({t for t, _, _ in result.queued}):
        work.kick_coalesced(store, tenant_id)  # after persisting; the timer picks up what a kick misses
    if result.unverified:
        raise ApiError(503, "too many unfamiliar subscriptions in one request; retry shortly",
                       headers={"retry-after": "5"})
    return Answer(202, None)


async def notifications(request: Request, store: Store | None = None) -> Answer:
    """POST /api/graph/notifications: change notifications (and the handshake)."""
    return await _handle(request, store, lifecycle_endpoint=False)


async def lifecycle(request: Request, store: Store | None = None) -> Answer:
    """POST /api/graph/lifecycle: reauthorizationRequired, subscriptionRemoved, missed (and the handshake)."""
    return await _handle(request, store, lifecycle_endpoint=True)
