"""Graph webhooks and subscriptions through function_app's real triggers (docs/reliability.md section 5).

The Graph stand-in calls Rapport's webhooks over HTTP like Graph does; DevHost serves
function_app.py; work items are drained by rapport.work as on Azure.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import aiohttp

from rapport import work
from rapport.capture import subscriptions, sync, webhooks
from rapport.records import ROUTES_PARTITION, Interaction, Subscription, SubscriptionRoute, WorkItem

from .test_sync import reconcile, seed_mail

PUBLIC = "/api/graph/notifications"
LIFECYCLE = "/api/graph/lifecycle"


async def settle(store, *tenant_ids: str, now: datetime | None = None) -> None:
    """Let every kicked drain finish, then drain whatever is still due."""
    for _ in range(20):
        pending = work.kicks()
        if not pending:
            break
        await asyncio.gather(*pending, return_exceptions=True)
    await work.drain(store, now=now, tenant_ids=list(tenant_ids))


async def subscribed_firm(graph_firm, store, graph, host, tenant_id, domain, partners):
    firm = await graph_firm(tenant_id, domain, partners)
    done = await subscriptions.ensure_tenant(store, graph, firm.tenant, public_url=host.base_url)
    assert done == {"created": 2 * len(partners)}  # Graph's handshake against our endpoints passed
    await settle(store, tenant_id)
    return firm


async def queued(store, tenant_id) -> list[WorkItem]:
    return [w for w in await store.find_all(WorkItem, tenant_id) if w.state == "queued"]


async def test_handshake_echoes_the_decoded_token(graph_host):
    token = "Validation: a+b %2B <script>alert('x')</script> & ü"
    async with aiohttp.ClientSession() as http:
        for route in (PUBLIC, LIFECYCLE):
            async with http.post(f"{graph_host.base_url}{route}?validationToken={quote(token, safe='')}") as resp:
                assert resp.status == 200
                assert resp.content_type == "text/plain"
                assert resp.headers["x-content-type-options"] == "nosniff"
                assert await resp.text() == token
        # `+` in a query means a space: decoded as the host decodes any query.
        async with http.post(f"{graph_host.base_url}{PUBLIC}?validationToken=a+b%2Bc") as resp:
            assert await resp.text() == "a b+c"
        # Query strings are cleaned at the boundary (rapport.text.clean): control characters go, and a
        # token of nothing else is empty, so malformed.
        async with http.post(f"{graph_host.base_url}{PUBLIC}?validationToken=%00%01%E2%80%AE") as resp:
            assert resp.status == 400 and "correlationId" in (await resp.json())["error"]


async def test_wrong_or_missing_client_state_is_dropped(graph_host, capture_store, graph, graph_standin, graph_firm, caplog):
    firm = await subscribed_firm(graph_firm, capture_store, graph, graph_host, "t-a", "firm-a.test", ["ann"])
    sub = graph_standin.subscription_for(firm.partners[0].mailbox, "messages")
    before = webhooks.STATS["dropped:bad_client_state"]
    caplog.set_level(logging.INFO)
    wrong = graph_standin.change_item(sub, "created", "m1", client_state="not-the-secret-XYZ")
    missing = graph_standin.change_item(sub, "created", "m2")
    del missing["clientState"]
    status, _ = await graph_standin.post_notifications(f"{graph_host.base_url}{PUBLIC}", [wrong, missing])
    assert status == 202  # D3: Graph is answered, the items are not trusted
    assert webhooks.STATS["dropped:bad_client_state"] - before == 2
    assert await queued(capture_store, "t-a") == []
    # One summary line for the request, flagged as an alert (issue 12: no line per item).
    lines = [r for r in caplog.records if r.name == "rapport.webhooks"]
    assert len(lines) == 1 and lines[0].alert is True
    assert lines[0].getMessage().startswith("ALERT graph notifications: 2 items, 0 accepted, dropped bad_client_state=2")
    assert "not-the-secret-XYZ" not in caplog.text and sub["clientState"] not in caplog.text
    route = await capture_store.get(SubscriptionRoute, ROUTES_PARTITION, sub["id"])
    assert route.clientStateHash != sub["clientState"] and len(route.clientStateHash) == 64  # stored hashed


async def test_client_state_of_one_tenant_with_another_tenant_id_is_dropped(
        graph_host, capture_store, graph, graph_standin, graph_firm):
    a = await subscribed_firm(graph_firm, capture_store, graph, graph_host, "t-a", "firm-a.test", ["ann"])
    await subscribed_firm(graph_firm, capture_store, graph, graph_host, "t-b", "firm-b.test", ["bob"])
    sub = graph_standin.subscription_for(a.partners[0].mailbox, "messages")
    before = webhooks.STATS["dropped:tenant_mismatch"]
    status, _ = await graph_standin.post_notifications(
        f"{graph_host.base_url}{PUBLIC}", [graph_standin.change_item(sub, "created", "m1", tenant_id="t-b")])
    assert status == 202
    assert webhooks.STATS["dropped:tenant_mismatch"] - before == 1  # D4: our map beats the body
    assert await queued(capture_store, "t-a") == [] and await queued(capture_store, "t-b") == []


async def test_mixed_tenant_batch_with_one_poison_item(graph_host, capture_store, graph, graph_standin, graph_firm):
    firms = [await subscribed_firm(graph_firm, capture_store, graph, graph_host, f"t-{i}", f"firm{i}.test", ["p", "q"])
             for i in range(5)]
    items = []
    for n in range(99):  # D6: 100 items, 5 tenants, duplicates, one poison
        firm = firms[n % 5]
        partner = firm.partners[n % 2]
        msg = graph_standin.put_message(partner.mailbox, "inbox", sender=f"c{n}@client{n % 5}.test", to=[partner.mailbox.upn],
                                        subject=f"s{n}")
        items.append(graph_standin.change_item(graph_standin.subscription_for(partner.mailbox, "messages"), "created", msg["id"]))
    poison = dict(items[0], subscriptionId="00000000-dead-beef-0000-000000000000")
    items.insert(50, poison)
    before = webhooks.STATS["dropped:unknown_subscription"]
    status, elapsed = await graph_standin.post_notifications(f"{graph_host.base_url}{PUBLIC}", items)
    assert status == 202 and elapsed < 1.0
    assert webhooks.STATS["dropped:unknown_subscription"] - before == 1
    keys = set()
    for firm in firms:
        keys |= {w.key for w in await capture_store.find_all(WorkItem, firm.id) if w.kind == sync.SYNC_WORK}
    assert {f"{f.id}:{p.person.oid}:messages" for f in firms for p in f.partners} <= keys
    await settle(capture_store, *(f.id for f in firms))
    for firm in firms:
        await reconcile(capture_store, firm, graph_standin)


async def test_same_change_three_times_and_reordered(graph_host, capture_store, graph, graph_standin, graph_firm):
    firm = await subscribed_firm(graph_firm, capture_store, graph, graph_host, "t-a", "firm-a.test", ["ann"])
    mb = firm.partners[0].mailbox
    msg = graph_standin.put_message(mb, "inbox", sender="c@client.test", to=[mb.upn], subject="draft title")
    graph_standin.update_message(mb, "inbox", msg["id"], subject="final title")
    sub = graph_standin.subscription_for(mb, "messages")
    url = f"{graph_host.base_url}{PUBLIC}"
    # D9: `updated` before `created`, and each delivered three times, in separate batches.
    for change in ["updated", "updated", "created", "updated", "created", "created"]:
        status, _ = await graph_standin.post_notifications(url, [graph_standin.change_item(sub, change, msg["id"])])
        assert status == 202
    await settle(capture_store, "t-a")
    mails = [i for i in await capture_store.find_all(Interaction, "t-a") if i.channel == "email"]
    assert len(mails) == 1 and mails[0].subject == "final title"
    await reconcile(capture_store, firm, graph_standin)


async def test_burst_on_one_mailbox_is_serial_and_loses_nothing(graph_host, capture_store, graph, graph_standin, graph_firm):
    firm = await subscribed_firm(graph_firm, capture_store, graph, graph_host, "t-a", "firm-a.test", ["ann"])
    mb = firm.partners[0].mailbox
    sub = graph_standin.subscription_for(mb, "messages")
    url = f"{graph_host.base_url}{PUBLIC}"

    async def one(n: int) -> int:
        msg = graph_standin.put_message(mb, "inbox" if n % 2 else "sentitems", sender=f"c{n}@client.test" if n % 2 else mb.upn,
                                        to=[mb.upn if n % 2 else f"c{n}@client.test"], subject=f"burst {n}")
        status, _ = await graph_standin.post_notifications(url, [graph_standin.change_item(sub, "created", msg["id"])])
        return status

    statuses = await asyncio.gather(*(one(n) for n in range(60)))  # D10
    assert set(statuses) == {202}
    items = [w for w in await capture_store.find_all(WorkItem, "t-a") if w.kind == sync.SYNC_WORK]
    assert len([w for w in items if w.key.endswith(":messages")]) == 1  # the burst coalesced into one item
    await settle(capture_store, "t-a")
    await reconcile(capture_store, firm, graph_standin)
    assert graph_standin.max_inflight[mb.oid] == 1  # delta rounds ran one after another


async def test_missed_resyncs_to_ground_truth(graph_host, capture_store, graph, graph_standin, graph_firm):
    firm = await subscribed_firm(graph_firm, capture_store, graph, graph_host, "t-a", "firm-a.test", ["ann"])
    mb = firm.partners[0].mailbox
    seed_mail(graph_standin, firm.partners[0], 25)  # changes whose notifications never came
    graph_standin.put_event(mb, subject="call", start=datetime.now(UTC) + timedelta(days=1), attendees=["c@client.test"])
    for kind in ("messages", "events"):
        status, _ = await graph_standin.notify_lifecycle(graph_standin.subscription_for(mb, kind), "missed")
        assert status == 202
    await settle(capture_store, "t-a")
    await reconcile(capture_store, firm, graph_standin)  # D11


async def test_reauthorization_required(graph_host, capture_store, graph, graph_standin, graph_firm, graph_tokens):
    a = await subscribed_firm(graph_firm, capture_store, graph, graph_host, "t-a", "firm-a.test", ["ann"])
    b = await subscribed_firm(graph_firm, capture_store, graph, graph_host, "t-b", "firm-b.test", ["bob"])
    sub_a = graph_standin.subscription_for(a.partners[0].mailbox, "messages")
    sub_b = graph_standin.subscription_for(b.partners[0].mailbox, "events")
    assert (await graph_standin.notify_lifecycle(sub_a, "reauthorizationRequired"))[0] == 202
    await settle(capture_store, "t-a")
    assert graph_standin.reauthorized == [sub_a["id"]]
    # D12: consent gone -> the tenant is flagged, its work stops; tenant B carries on.
    graph_tokens.revoke("t-a")
    assert (await graph_standin.notify_lifecycle(sub_a, "reauthorizationRequired"))[0] == 202
    assert (await graph_standin.notify_lifecycle(sub_b, "reauthorizationRequired"))[0] == 202
    await settle(capture_store, "t-a", "t-b")
    assert (await capture_store.get_tenant("t-a")).consentState == "needs_admin_consent"
    assert (await capture_store.get_tenant("t-b")).consentState == "ok"
    assert graph_standin.reauthorized == [sub_a["id"], sub_b["id"]]
    assert not [w for w in await capture_store.find_all(WorkItem, "t-a") if w.state != "done"]


async def test_subscription_removed_recreates_and_resyncs(graph_host, capture_store, graph, graph_standin, graph_firm):
    firm = await subscribed_firm(graph_firm, capture_store, graph, graph_host, "t-a", "firm-a.test", ["ann"])
    mb = firm.partners[0].mailbox
    old = graph_standin.remove_subscription(graph_standin.subscription_for(mb, "messages")["id"])
    seed_mail(graph_standin, firm.partners[0], 6)
    status, _ = await graph_standin.post_notifications(old["lifecycleNotificationUrl"],
                                                       [graph_standin.lifecycle_item(old, "subscriptionRemoved")])
    assert status == 202
    await settle(capture_store, "t-a")
    new = graph_standin.subscription_for(mb, "messages")
    assert new["id"] != old["id"]
    assert (await capture_store.get(Subscription, "t-a", old["id"])).state == "removed"
    assert await capture_store.get(SubscriptionRoute, ROUTES_PARTITION, old["id"]) is None
    await reconcile(capture_store, firm, graph_standin)  # resynced what happened meanwhile
    # The new subscription's notifications are accepted, the old one's are not.
    msg = graph_standin.put_message(mb, "inbox", sender="late@client.test", to=[mb.upn], subject="late")
    before = webhooks.STATS["dropped:unknown_subscription"]
    url = f"{graph_host.base_url}{PUBLIC}"
    await graph_standin.post_notifications(url, [graph_standin.change_item(old, "created", msg["id"])])
    assert webhooks.STATS["dropped:unknown_subscription"] - before == 1
    await graph_standin.post_notifications(url, [graph_standin.change_item(new, "created", msg["id"])])
    await settle(capture_store, "t-a")
    await reconcile(capture_store, firm, graph_standin)


async def test_renewal_timer_renews_recreates_and_resyncs(graph_host, capture_store, graph, graph_standin, graph_firm):
    firm = await subscribed_firm(graph_firm, capture_store, graph, graph_host, "t-a", "firm-a.test", ["ann"])
    mb = firm.partners[0].mailbox
    now = datetime.now(UTC)
    assert await subscriptions.renewal_timer(capture_store, graph=graph, public_url=graph_host.base_url, now=now) == {"ok": 2}
    later = now + timedelta(days=2)  # inside RENEW_BEFORE of the 3-day lifetime
    assert await subscriptions.renewal_timer(capture_store, graph=graph, public_url=graph_host.base_url, now=later) == {"renewed": 2}
    sub = graph_standin.subscription_for(mb, "messages")
    assert sub["expirationDateTime"].startswith((later + subscriptions.LIFETIME).strftime("%Y-%m-%dT%H"))
    # D17: the timer was down past expiry: recreate, and resync every mailbox (past due).
    seed_mail(graph_standin, firm.partners[0], 5)
    much_later = now + timedelta(days=10)
    totals = await subscriptions.renewal_timer(capture_store, graph=graph, public_url=graph_host.base_url,
                                               now=much_later, past_due=True)
    assert totals["recreated"] == 2 and totals["resync"] == 2
    assert graph_standin.subscription_for(mb, "messages")["id"] != sub["id"]
    await settle(capture_store, "t-a", now=much_later)
    await reconcile(capture_store, firm, graph_standin)


async def test_store_down_answers_5xx_never_202(graph_host, capture_store, graph, graph_standin, graph_firm):
    firm = await subscribed_firm(graph_firm, capture_store, graph, graph_host, "t-a", "firm-a.test", ["ann"])
    sub = graph_standin.subscription_for(firm.partners[0].mailbox, "messages")
    capture_store.backend._conn.execute("PRAGMA busy_timeout=50")  # fail fast instead of waiting 10 s
    blocker = sqlite3.connect(capture_store.backend.path)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the database: our writes cannot land
    try:
        status, _ = await graph_standin.post_notifications(f"{graph_host.base_url}{PUBLIC}",
                                                           [graph_standin.change_item(sub, "created", "m1")])
        assert status == 503  # D7: Graph retries; nothing was acknowledged unpersisted
    finally:
        blocker.rollback()
        blocker.close()
    status, _ = await graph_standin.post_notifications(f"{graph_host.base_url}{PUBLIC}",
                                                       [graph_standin.change_item(sub, "created", "m1")])
    assert status == 202 and len(await queued(capture_store, "t-a")) >= 1
    await settle(capture_store, "t-a")


async def test_oversized_or_malformed_batches(graph_host, graph_standin):
    url = f"{graph_host.base_url}{PUBLIC}"
    status, _ = await graph_standin.post_notifications(url, [], raw=b'{"value": [' + b'{"a": "' + b"x" * (1024 * 1024) + b'"}]}')
    assert status == 413
    status, _ = await graph_standin.post_notifications(url, [], raw=b"not json")
    assert status == 400
    status, _ = await graph_standin.post_notifications(url, [], raw=b'{"value": "nope"}')
    assert status == 400
