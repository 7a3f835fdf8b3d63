"""The subscription route table as this process sees it: which firm and mailbox a Graph subscription
id belongs to (SubscriptionRoute records, never the notification's own tenantId), a short-lived
cache of the answers (positive and negative), `forget` for a retired subscription, and the
client-state hash both the subscription's creation and each notification's check use.

Shared by capture.subscriptions (writes routes, forgets them) and capture.webhooks (reads them).
Imports: rapport.records and rapport.store.base only.
"""

from __future__ import annotations

import hashlib
import time

from rapport.records import ROUTES_PARTITION, SubscriptionRoute
from rapport.store.base import Read, Store

# Routes never change (a recreated subscription has a new id), so a short-lived cache is safe; a
# retired one may be honoured for ROUTE_TTL at most, which costs one needless sync, no more.
ROUTE_TTL = 300.0
ROUTE_CACHE_MAX = 20000
_routes: dict[str, tuple[float, SubscriptionRoute]] = {}
# Ids found unknown: not looked up again for NEGATIVE_TTL (short: a route is written just after
# Graph answers its create, so its first notification may race it; the sync reads the truth anyway).
NEGATIVE_TTL = 30.0
NEGATIVE_MAX = 20000
_unknown: dict[str, float] = {}


def hash_client_state(secret: str) -> str:
    """What a route stores of a subscription's clientState. A random 64-character secret needs no
    slow hash: SHA-256 is not reversible and not guessable."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def cached(sid: str, now: float) -> SubscriptionRoute | None | bool:
    """The cached route, None if known unknown, False if not cached either way."""
    hit = _routes.get(sid)
    if hit is not None and hit[0] > now:
        return hit[1]
    gone = _unknown.get(sid)
    if gone is not None and gone > now:
        return None
    return False


async def look_up(store: Store, sids: list[str]) -> None:
    """One store call for uncached subscription ids; caches both answers."""
    if not sids:
        return
    found = await store.read_many(ROUTES_PARTITION, [Read(SubscriptionRoute, record_id=sid) for sid in sids])
    now = time.monotonic()
    for sid, route in zip(sids, found, strict=True):
        if route is not None:
            if len(_routes) >= ROUTE_CACHE_MAX:
                _routes.clear()
            _routes[sid] = (now + ROUTE_TTL, route)
            _unknown.pop(sid, None)
        else:
            if len(_unknown) >= NEGATIVE_MAX:
                _unknown.clear()
            _unknown[sid] = now + NEGATIVE_TTL


def forget(sid: str) -> None:
    """This process stops honouring a retired subscription at once (others within ROUTE_TTL)."""
    _routes.pop(sid, None)
