"""Graph change-notification subscriptions: created, renewed before expiry, and kept alive.

One subscription per partner and kind ("messages": /users/{oid}/messages, "events":
/users/{oid}/events), each with its own clientState secret. The secret goes to Graph once, at
creation; Rapport keeps only its SHA-256 (in the Subscription record and in the webhook's route),
so a leaked store does not let anyone forge notifications.

The renewal timer (function_app `graph_subscriptions`) creates what is missing, renews what
expires within RENEW_BEFORE, and recreates what has expired or Graph has forgotten (404); every
recreation queues a delta resync, because notifications may have been missed meanwhile. A past-due
run (the timer was down) also resyncs every mailbox.

Lifecycle notifications become "graph-lifecycle" work items (written before the webhook answers):
reauthorizationRequired -> reauthorize (consent gone -> the tenant's circuit opens);
subscriptionRemoved -> recreate + resync. `missed` needs no subscription work: the webhook queues
the resync directly.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from rapport import work
from rapport.capture import routes
from rapport.capture.mapping import parse_graph_time
from rapport.capture.routes import hash_client_state
from rapport.capture.sync import (
    KINDS,
    captured_people,
    graph_client,
    is_consent_error,
    open_circuit,
    request_sync,
    safety_net,
)
from rapport.graph import GraphClient, GraphError
from rapport.records import (
    ROUTES_PARTITION,
    Person,
    Subscription,
    SubscriptionRoute,
    Tenant,
    WorkItem,
    utcnow,
)
from rapport.store.base import Store

log = logging.getLogger("rapport.subscriptions")

LIFETIME = timedelta(days=3)  # Outlook resources allow just under 7 days; 3 leaves room for a timer outage
RENEW_BEFORE = timedelta(hours=36)
LIFECYCLE_WORK = "graph-lifecycle"
NOTIFICATIONS_ROUTE = "api/graph/notifications"
LIFECYCLE_ROUTE = "api/graph/lifecycle"


def resource_for(user_oid: str, kind: str) -> str:
    return f"/users/{user_oid}/{'messages' if kind == 'messages' else 'events'}"


def _parse_expiry(value: Any, fallback: datetime) -> datetime:
    if isinstance(value, str) and value:
        try:
            return parse_graph_time(value)
        except (ValueError, TypeError):
            pass
    return fallback


async def subscriptions_of(store: Store, tenant_id: str, user_oid: str, kind: str) -> list[Subscription]:
    subs = await store.find_all(Subscription, tenant_id, key=f"user:{user_oid}")
    return [s for s in subs if s.kind == kind and s.state == "active"]


async def create(store: Store, graph: GraphClient, firm: Tenant, person: Person, kind: str, *, public_url: str,
                 now: datetime | None = None) -> Subscription:
    """Create a subscription at Graph (Graph runs the validation handshake now), then record it."""
    now = now or utcnow()
    secret = secrets.token_urlsafe(48)  # 64 characters: within Graph's clientState limit of 128
    expires = now + LIFETIME
    base = public_url.rstrip("/")
    data = await graph.create_subscription(
        firm.id, person.oid, resource=resource_for(person.oid, kind), notification_url=f"{base}/{NOTIFICATIONS_ROUTE}",
        lifecycle_url=f"{base}/{LIFECYCLE_ROUTE}", expires=expires, client_state=secret,
    )
    sub_id = str(data.get("id") or "")
    if not sub_id:
        raise GraphError(502, "badSubscription", "Graph created a subscription without an id")
    digest = hash_client_state(secret)
    del secret
    # The route first: a notification may arrive as soon as Graph has answered.
    await store.put(SubscriptionRoute(id=sub_id, tenantId=ROUTES_PARTITION, firmTenantId=firm.id, userOid=person.oid,
                                      kind=kind, clientStateHash=digest))
    sub = Subscription(id=sub_id, tenantId=firm.id, userOid=person.oid, kind=kind, resource=resource_for(person.oid, kind),
                       expiresAt=_parse_expiry(data.get("expirationDateTime"), expires), clientStateHash=digest,
                       createdAt=now)
    await store.put(sub)
    log.info("graph subscription %s created for %s/%s", sub_id, person.oid, kind, extra={"tenant_id": firm.id})
    return sub


async def retire(store: Store, graph: GraphClient | None, sub: Subscription) -> None:
    """Forget a subscription: its route (late notifications for it are dropped), and at Graph."""
    if graph is not None:
        try:
            await graph.delete_subscription(sub.tenantId, sub.userOid, sub.id)
        except GraphError as exc:
            log.info("graph subscription %s not deleted at Graph (%s)", sub.id, exc.status, extra={"tenant_id": sub.tenantId})
    await store.delete(SubscriptionRoute, ROUTES_PARTITION, sub.id)
    routes.forget(sub.id)  # this process stops honouring it at once (others within the cache TTL)

    def removed(s: Subscription) -> Subscription:
        s.state = "removed"
        return s

    await store.update(Subscription, sub.tenantId, sub.id, removed)


async def recreate(store: Store, graph: GraphClient, firm: Tenant, person: Person, kind: str, *, public_url: str,
                   now: datetime | None = None, old: Subscription | None = None) -> Subscription:
    """A new subscription in place of `old` (expired, removed or unknown to Graph), then a resync."""
    if old is not None:
        await retire(store, graph, old)
    sub = await create(store, graph, firm, person, kind, public_url=public_url, now=now)
    await request_sync(store, firm.id, person.oid, kind, now=now)
    return sub


async def ensure(store: Store, graph: GraphClient, firm: Tenant, person: Person, kind: str, *, public_url: str,
                 now: datetime | None = None) -> str:
    """Create, renew or recreate one mailbox's subscription as its expiry requires. Returns what it did."""
    now = now or utcnow()
    subs = sorted(await subscriptions_of(store, firm.id, person.oid, kind), key=lambda s: s.expiresAt)
    current = subs[-1] if subs else None
    for extra in subs[:-1]:  # a crash between create and retire can leave two; keep the newest
        await retire(store, graph, extra)
    if current is None:
        await create(store, graph, firm, person, kind, public_url=public_url, now=now)
        await request_sync(store, firm.id, person.oid, kind, now=now)
        return "created"
    if current.expiresAt <= now:
        await recreate(store, graph, firm, person, kind, public_url=public_url, now=now, old=current)
        return "recreated"
    if current.expiresAt - now > RENEW_BEFORE:
        return "ok"
    expires = now + LIFETIME
    try:
        data = await graph.renew_subscription(firm.id, person.oid, current.id, expires)
    except GraphError as exc:
        if exc.status != 404:
            raise
        await recreate(store, graph, firm, person, kind, public_url=public_url, now=now, old=current)
        return "recreated"
    new_expiry = _parse_expiry(data.get("expirationDateTime"), expires)

    def renewed(s: Subscription) -> Subscription:
        s.expiresAt, s.renewedAt = new_expiry, now
        return s

    await store.update(Subscription, firm.id, current.id, renewed)
    return "renewed"


async def ensure_tenant(store: Store, graph: GraphClient, firm: Tenant, *, public_url: str,
                        now: datetime | None = None) -> dict[str, int]:
    """Every captured partner's subscriptions of one tenant. A consent failure opens its circuit."""
    done: dict[str, int] = {}
    if firm.consentState != "ok" or not firm.allowed:
        return done
    try:
        people = await captured_people(store, graph, firm)
        for person in people:
            for kind in KINDS:
                try:
                    what = await ensure(store, graph, firm, person, kind, public_url=public_url, now=now)
                except GraphError as exc:
                    what = "failed"
                    log.warning("graph subscription for %s/%s not ensured: %s %s", person.oid, kind, exc.status,
                                exc.code, extra={"tenant_id": firm.id})
                done[what] = done.get(what, 0) + 1
    except Exception as exc:
        if not is_consent_error(exc):
            raise
        await open_circuit(store, firm.id, exc)
        done["consent"] = 1
    return done


async def renewal_timer(store: Store, *, past_due: bool = False, graph: GraphClient | None = None,
                        public_url: str | None = None, now: datetime | None = None) -> dict[str, int]:
    """What the `graph_subscriptions` timer does. Past due (the timer was down): resync everything too."""
    from rapport import runtime

    graph = graph or graph_client()
    public_url = public_url or runtime.settings().public_url
    totals: dict[str, int] = {}
    for firm in await store.list_tenants():
        try:
            for what, n in (await ensure_tenant(store, graph, firm, public_url=public_url, now=now)).items():
                totals[what] = totals.get(what, 0) + n
        except Exception:  # noqa: BLE001 - one tenant's failure must not stop the others' renewals
            log.exception("graph subscriptions of tenant %s not ensured", firm.id, extra={"tenant_id": firm.id})
            totals["failed"] = totals.get("failed", 0) + 1
    if past_due:
        totals["resync"] = await safety_net(store, now=now)
    log.info("graph subscriptions%s: %s", " (past due)" if past_due else "", totals)
    return totals


# --- lifecycle events ---------------------------------------------------------------------------


async def queue_lifecycle(store: Store, route: SubscriptionRoute, event: str, *, now: datetime | None = None) -> WorkItem:
    return await work.requeue(store, route.firmTenantId, LIFECYCLE_WORK, f"{route.firmTenantId}:{route.id}:{event}",
                            {"subscription": route.id, "user": route.userOid, "kind": route.kind, "event": event}, now=now)


@work.handler(LIFECYCLE_WORK)
async def run_lifecycle_work(store: Store, item: WorkItem) -> None:
    from rapport import runtime

    tid = item.tenantId
    sub_id, event = str(item.payload.get("subscription", "")), str(item.payload.get("event", ""))
    firm = await store.get_tenant(tid)
    sub = await store.get(Subscription, tid, sub_id)
    if firm is None or sub is None:
        return
    if firm.consentState != "ok":
        return  # circuit open: nothing to do until an admin consents again (then the timer recreates)
    person = await store.get_person(tid, sub.userOid)
    if person is None:
        await retire(store, graph_client(), sub)
        return
    graph = graph_client()
    public_url = runtime.settings().public_url
    try:
        if event == "reauthorizationRequired":
            try:
                await graph.reauthorize_subscription(tid, sub.userOid, sub_id)
            except GraphError as exc:
                if exc.status != 404:
                    raise
                await recreate(store, graph, firm, person, sub.kind, public_url=public_url, old=sub)
                return
            log.info("graph subscription %s reauthorized", sub_id, extra={"tenant_id": tid})
        elif event == "subscriptionRemoved":
            if sub.state == "active":
                await recreate(store, graph, firm, person, sub.kind, public_url=public_url, old=sub)
        else:
            await request_sync(store, tid, sub.userOid, sub.kind)
    except Exception as exc:
        if not is_consent_error(exc) and not (isinstance(exc, GraphError) and exc.status == 401):
            raise
        await open_circuit(store, tid, exc)  # D12: no consent -> the tenant is flagged, retries stop
