"""rapport.graph: msgraph-sdk over real HTTP against the Graph stand-in (docs/reliability.md section 5, Graph limits)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from rapport.graph import GraphClient, GraphError, GraphThrottled, retry_after_seconds


async def _all_pages(gen):
    pages = []
    async for page in gen:
        pages.append(page)
    return pages


async def test_message_delta_pages_select_and_delta_link(graph, graph_standin):
    mb = graph_standin.add_mailbox("t-a", "ann@firm.test")
    for i in range(120):
        graph_standin.put_message(mb, "inbox", sender=f"c{i}@client.test", to=[mb.upn], subject=f"s{i}", body="BODY-CANARY")
    pages = await _all_pages(graph.message_delta("t-a", mb.oid, "inbox"))
    assert [len(p.items) for p in pages] == [50, 50, 20]  # Prefer: odata.maxpagesize=50 honoured
    assert all(p.next_link for p in pages[:-1]) and pages[-1].delta_link and not pages[-1].next_link
    first = pages[0].items[0]
    assert {"from", "toRecipients", "ccRecipients", "subject", "receivedDateTime"} <= set(first)
    assert "body" not in first and "bodyPreview" not in first  # $select keeps metadata only
    # The stored deltaLink gives only what changed since.
    graph_standin.put_message(mb, "inbox", sender="new@client.test", to=[mb.upn])
    again = await _all_pages(graph.message_delta("t-a", mb.oid, "inbox", link=pages[-1].delta_link))
    assert [i["from"]["emailAddress"]["address"] for p in again for i in p.items] == ["new@client.test"]
    # Every request carried the tenant's own app token.
    assert {t for _, _, t in graph_standin.requests} == {"t-a"}


async def test_excerpts_add_body_preview_only_when_asked(graph, graph_standin):
    mb = graph_standin.add_mailbox("t-a", "ann@firm.test")
    graph_standin.put_message(mb, "sentitems", sender=mb.upn, to=["x@client.test"], body="hello")
    pages = await _all_pages(graph.message_delta("t-a", mb.oid, "sentitems", excerpts=True))
    assert pages[0].items[0]["bodyPreview"] == "hello" and "body" not in pages[0].items[0]


async def test_calendar_view_delta_window(graph, graph_standin):
    mb = graph_standin.add_mailbox("t-a", "ann@firm.test")
    now = datetime.now(UTC)
    inside = graph_standin.put_event(mb, subject="in", start=now + timedelta(days=3), attendees=["x@client.test"], online=True)
    graph_standin.put_event(mb, subject="too far", start=now + timedelta(days=60))
    pages = await _all_pages(graph.event_delta("t-a", mb.oid, start=now - timedelta(days=90), end=now + timedelta(days=30)))
    items = [i for p in pages for i in p.items]
    assert [i["id"] for i in items] == [inside["id"]]
    assert items[0]["attendees"][0]["emailAddress"]["address"] == "x@client.test"


async def test_429_waits_for_retry_after(graph, graph_standin, graph_clock):
    mb = graph_standin.add_mailbox("t-a", "ann@firm.test")
    graph_standin.throttle(mb, retry_after=7)
    user = await graph.get_user("t-a", mb.upn)
    assert user["id"] == mb.oid
    assert graph_standin.status_counts[429] == 1
    assert graph_clock.slept and max(graph_clock.slept) >= 7  # G1: never retried at once
    # The retry went out only after the wait (virtual time moved by the wait before the 2nd request).
    assert graph_clock.t >= 1000 + 7


async def test_retry_after_too_long_is_handed_back(graph_standin, graph_tokens, graph_clock):
    client = GraphClient(graph_standin.base_url, graph_tokens, sleep=graph_clock.sleep, clock=graph_clock.monotonic,
                         max_inline_wait=60)
    mb = graph_standin.add_mailbox("t-a", "ann@firm.test")
    graph_standin.throttle(mb, retry_after=3600)
    try:
        with pytest.raises(GraphThrottled) as info:
            await client.get_user("t-a", mb.oid)
        assert info.value.retry_after >= 3600 and graph_clock.slept == []
    finally:
        await client.close()


async def test_fifth_concurrent_request_is_held_at_four(graph, graph_standin):
    mb = graph_standin.add_mailbox("t-a", "ann@firm.test")
    graph_standin.hold = asyncio.Event()
    calls = [asyncio.create_task(graph.get_user("t-a", mb.oid)) for _ in range(9)]
    for _ in range(200):
        await asyncio.sleep(0.005)
        if graph_standin.inflight[mb.oid] == 4:
            break
    await asyncio.sleep(0.05)
    assert graph_standin.inflight[mb.oid] == 4  # G2: the 5th waits on our side, not at Graph
    graph_standin.hold.set()
    results = await asyncio.gather(*calls)
    assert all(r["id"] == mb.oid for r in results)
    assert graph_standin.max_inflight[mb.oid] == 4 and graph_standin.concurrency_429s == 0
    assert graph_standin.status_counts[429] == 0


async def test_throttled_tenant_does_not_slow_another(graph_standin, graph_tokens):
    release = asyncio.Event()
    waits: list[float] = []

    async def blocking_sleep(seconds: float) -> None:  # tenant A's wait lasts until the test says so
        waits.append(seconds)
        await release.wait()

    client = GraphClient(graph_standin.base_url, graph_tokens, sleep=blocking_sleep)
    a = graph_standin.add_mailbox("t-a", "ann@a.test")
    b = graph_standin.add_mailbox("t-b", "bob@b.test")
    for i in range(30):
        graph_standin.put_message(b, "inbox", sender=f"c{i}@client.test", to=[b.upn])
    graph_standin.throttle(a, retry_after=30)
    try:
        slow = asyncio.create_task(client.get_user("t-a", a.oid))
        while not waits:
            await asyncio.sleep(0.005)
        pages = await asyncio.wait_for(_all_pages(client.message_delta("t-b", b.oid, "inbox")), 5)  # G4
        assert sum(len(p.items) for p in pages) == 30
        assert not slow.done() and len(waits) == 1 and waits[0] == pytest.approx(30, abs=1)
        release.set()
        assert (await slow)["id"] == a.oid
    finally:
        await client.close()


async def test_foreign_links_are_not_followed(graph, graph_standin):
    mb = graph_standin.add_mailbox("t-a", "ann@firm.test")
    with pytest.raises(GraphError) as info:
        await _all_pages(graph.message_delta("t-a", mb.oid, "inbox", link="http://attacker.test/v1.0/x?$deltatoken=1"))
    assert info.value.code == "foreignLink"
    assert graph_standin.requests == []


async def test_subscription_calls_through_the_sdk(graph, graph_standin):
    graph_standin.validate_subscriptions = False
    mb = graph_standin.add_mailbox("t-a", "ann@firm.test")
    expires = datetime.now(UTC) + timedelta(days=2)
    sub = await graph.create_subscription("t-a", mb.oid, resource=f"/users/{mb.oid}/messages",
                                          notification_url="https://rapport.test/api/graph/notifications",
                                          lifecycle_url="https://rapport.test/api/graph/lifecycle", expires=expires,
                                          client_state="s" * 64)
    stored = graph_standin.subscriptions[sub["id"]]
    assert stored["clientState"] == "s" * 64 and stored["changeType"] == "created,updated,deleted"
    assert stored["lifecycleNotificationUrl"].endswith("/api/graph/lifecycle")
    renewed = await graph.renew_subscription("t-a", mb.oid, sub["id"], expires + timedelta(days=1))
    assert renewed["expirationDateTime"].startswith((expires + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"))
    await graph.reauthorize_subscription("t-a", mb.oid, sub["id"])
    assert graph_standin.reauthorized == [sub["id"]]
    await graph.delete_subscription("t-a", mb.oid, sub["id"])
    await graph.delete_subscription("t-a", mb.oid, sub["id"])  # already gone: fine
    with pytest.raises(GraphError) as info:
        await graph.renew_subscription("t-a", mb.oid, sub["id"], expires)
    assert info.value.status == 404


def test_retry_after_header_forms():
    assert retry_after_seconds("7") == 7
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == pytest.approx(10)
