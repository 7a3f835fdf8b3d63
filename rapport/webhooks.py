"""Graph's webhooks: POST /api/graph/notifications and POST /api/graph/lifecycle.

Rules (RELIABILITY, Graph webhooks):
- Handshake: `?validationToken=` is echoed URL-decoded (the host decodes the query) as text/plain
  with nosniff and a no-content CSP, at once: no store, no Graph. Graph compares the echo byte for
  byte, so it is not HTML-escaped; text/plain + nosniff is what keeps it inert.
- Every item is checked on its own: its subscription must be one of ours (our route table, never
  the body's tenantId, says which firm it belongs to), its clientState must match the stored hash
  (hmac.compare_digest) and a tenantId in the body must agree with the route. Anything else is
  dropped, counted and logged as an alert (never with the clientState), and the rest of the batch
  goes on: one poison item does not cost the others.
- Persist, then 202: each accepted item becomes a queued work item (one per mailbox and kind, so a
  burst coalesces) before the answer; if the store cannot take it the answer is a 5xx and Graph
  retries. The drain is kicked after. No Graph call is ever made on this path.
- A notification only says "look at this mailbox": the sync reads the truth back through delta.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rapport import work
from rapport.records import ROUTES_PARTITION, SubscriptionRoute
from rapport.store.base import Store
from rapport.web import Answer, ApiError, Request, parse_json_body

log = logging.getLogger("rapport.webhooks")

MAX_BATCH = 1024 * 1024  # Graph batches are capped at 1 MB
MAX_VALIDATION_TOKEN = 4096
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
_SUBSCRIPTION_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")

STATS: Counter[str] = Counter()  # process-wide counts: accepted, dropped:<reason>

# Routes never change (a recreated subscription has a new id), so a short-lived cache is safe; a
# retired one may be honoured for ROUTE_TTL at most, which costs one needless sync, no more.
ROUTE_TTL = 300.0
ROUTE_CACHE_MAX = 20000
_routes: dict[str, tuple[float, SubscriptionRoute]] = {}


@dataclass
class BatchResult:
    accepted: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    queued: set[tuple[str, str, str]] = field(default_factory=set)  # (tenant, mailbox, kind or event)


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


def _drop(result: BatchResult, reason: str, subscription_id: str | None, tenant_id: str | None = None) -> None:
    result.dropped[reason] += 1
    STATS[f"dropped:{reason}"] += 1
    # The subscription id is logged only once it is known to be well-formed; never the clientState.
    log.warning("ALERT graph notification dropped: %s (subscription %s)", reason, subscription_id or "-",
                extra={"tenant_id": tenant_id or ""})


def _digest(client_state: str) -> str:
    return hashlib.sha256(client_state.encode("utf-8")).hexdigest()


async def process_batch(store: Store, body: Any, *, lifecycle_endpoint: bool = False) -> BatchResult:
    """Verify each item and queue its work. Raises (-> 5xx) only when the store cannot persist."""
    from rapport.subscriptions import queue_lifecycle
    from rapport.sync import request_sync

    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise ApiError(400, "expected a JSON object with a `value` array")
    result = BatchResult()
    routes: dict[str, SubscriptionRoute | None] = {}
    lifecycle: dict[tuple[str, str], SubscriptionRoute] = {}
    syncs: set[tuple[str, str, str]] = set()
    for item in body["value"]:
        if not isinstance(item, dict):
            _drop(result, "malformed", None)
            continue
        sid = item.get("subscriptionId")
        if not isinstance(sid, str) or not _SUBSCRIPTION_ID.match(sid):
            _drop(result, "malformed", None)
            continue
        if sid not in routes:
            routes[sid] = await _route(store, sid)
        route = routes[sid]
        if route is None:
            _drop(result, "unknown_subscription", sid)
            continue
        client_state = item.get("clientState")
        if not isinstance(client_state, str) or not hmac.compare_digest(_digest(client_state), route.clientStateHash):
            _drop(result, "bad_client_state", sid, route.firmTenantId)
            continue
        claimed = item.get("tenantId") or item.get("organizationId")
        if claimed is not None and str(claimed).strip().lower() != route.firmTenantId.lower():
            _drop(result, "tenant_mismatch", sid, route.firmTenantId)
            continue
        event = item.get("lifecycleEvent")
        if (event is None and not lifecycle_endpoint) or event == "missed":
            syncs.add((route.firmTenantId, route.userOid, route.kind))  # missed: resync by delta
        elif event in ("reauthorizationRequired", "subscriptionRemoved"):
            lifecycle[(sid, event)] = route
        else:
            _drop(result, "unknown_event", sid, route.firmTenantId)
            continue
        result.accepted += 1
    # Persist before the answer: one write per distinct mailbox/kind or lifecycle event, not per item.
    for tenant_id, user_oid, kind in sorted(syncs):
        await request_sync(store, tenant_id, user_oid, kind)
        result.queued.add((tenant_id, user_oid, kind))
    for (_, event), route in sorted(lifecycle.items()):
        await queue_lifecycle(store, route, event)
        result.queued.add((route.firmTenantId, route.userOid, event))
    STATS["accepted"] += result.accepted
    return result


async def _route(store: Store, sid: str) -> SubscriptionRoute | None:
    now = time.monotonic()
    hit = _routes.get(sid)
    if hit is not None and hit[0] > now:
        return hit[1]
    route = await store.get(SubscriptionRoute, ROUTES_PARTITION, sid)
    if route is not None:
        if len(_routes) >= ROUTE_CACHE_MAX:
            _routes.clear()
        _routes[sid] = (now + ROUTE_TTL, route)
    return route


def forget_route(sid: str) -> None:
    _routes.pop(sid, None)


async def _handle(request: Request, store: Store | None, *, lifecycle_endpoint: bool) -> Answer:
    shake = _handshake(request)
    if shake is not None:
        return shake
    body = parse_json_body(request.body, request.header("content-type"), max_bytes=MAX_BATCH)
    if store is None:
        from rapport import runtime

        store = await runtime.store()
    result = await process_batch(store, body, lifecycle_endpoint=lifecycle_endpoint)
    for tenant_id in sorted({t for t, _, _ in result.queued}):
        work.kick_coalesced(store, tenant_id)  # after persisting; the timer picks up what a kick misses
    return Answer(202, None)


async def notifications(request: Request, store: Store | None = None) -> Answer:
    """POST /api/graph/notifications: change notifications (and the handshake)."""
    return await _handle(request, store, lifecycle_endpoint=False)


async def lifecycle(request: Request, store: Store | None = None) -> Answer:
    """POST /api/graph/lifecycle: reauthorizationRequired, subscriptionRemoved, missed (and the handshake)."""
    return await _handle(request, store, lifecycle_endpoint=True)
