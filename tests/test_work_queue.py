"""Work items as Storage queue messages (rapport.work_queue), run by function_app's queue trigger.

Azurite's queue service (tests/plugins/azurite.py) with the real azure-storage-queue client; the
local host (local/queues.py) polls it and hands each message to function_app.work_message, as the
Functions host would. The follow-up is approved through the existing approval flow and sent by the
existing exactly-once send over the real Graph client to the Graph mail stand-in.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from local.commands.work import work_command
from local.host import DevHost, collect, load_function_app
from local.queues import QueueOptions
from local.timers import fire
from rapport import followups, runtime, telemetry, work, work_queue
from rapport.drafting import make_drafter
from rapport.followups import sending
from rapport.graph import GraphClient
from rapport.records import Draft, WorkItem
from rapport.settings import Settings, load_settings
from rapport.store.base import Store
from rapport.store.sqlite import SqliteBackend
from tests.doubles.graph_mail import GraphMailStandIn
from tests.plugins.azurite import free_port
from tests.plugins.graph import FakeGraphTokens, GraphClock
from tests.test_followups import NOW, OWNER, TENANT, seed, settle

ROOT = Path(__file__).resolve().parents[1]
# The local host as host.json configures it, but a failed message is visible again at once and an
# empty queue is polled at least every 0.2 s, so five deliveries take a moment, not minutes.
FAST = QueueOptions(batch_size=8, max_dequeue_count=5, visibility_timeout=0.0, max_polling_interval=0.2)


async def until(check: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        got = check()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class QueueWorld:
    store: Store
    graph: GraphMailStandIn
    settings: Settings  # with the work queue (Azurite)
    path: str
    draft_id: str

    async def draft(self) -> Draft:
        d = await self.store.get(Draft, TENANT, self.draft_id)
        assert d is not None
        return d

    async def sent(self) -> bool:
        return (await self.draft()).state == "sent"

    def host(self, **kw) -> DevHost:
        return DevHost(self.settings, store=self.store, timers=False, queue_options=FAST, **kw)

    async def queue_length(self, name: str = work_queue.QUEUE_NAME) -> int:
        async with work_queue.queue_client(self.settings, name) as q:
            return (await q.get_queue_properties()).approximate_message_count


@pytest.fixture
async def qworld(tmp_path, work_queue_env) -> AsyncIterator[QueueWorld]:
    path = str(tmp_path / "q.db")
    store = await Store(SqliteBackend(path)).open()
    plain = load_settings({"RAPPORT_SQLITE_PATH": path})
    graph = await GraphMailStandIn().start()
    graph.add_mailbox(TENANT, OWNER)
    clock = GraphClock()
    client = GraphClient(graph.base_url, FakeGraphTokens(), max_attempts=1, timeout=2.0, sleep=clock.sleep,
                         clock=clock.monotonic)
    with runtime.override(settings=plain, store=store, mail_transport=sending.GraphMailTransport(client),
                          send_limiter=sending.RateLimiter(), drafter=make_drafter(plain)):
        meeting = await seed(store)
        await followups.timer_pass(store, NOW, kick=False)
        await work.drain(store)  # the draft and its card, before any queue is configured
        world = QueueWorld(store, graph, load_settings({"RAPPORT_SQLITE_PATH": path, **work_queue_env}), path,
                           followups.draft_id_for(meeting.id, OWNER))
        assert (await world.draft()).state == "drafted"
        try:
            yield world
        finally:
            await settle()
            await client.close()
            await graph.stop()
            await store.close()


async def test_approve_sends_through_the_queue_trigger_once(qworld):
    async with qworld.host() as host:
        assert [t.name for t in host.queue_triggers] == ["work_message"]
        out = await followups.approve(qworld.store, TENANT, OWNER, qworld.draft_id, 1, now=NOW)
        assert out.status == "ok"
        assert work.kicks() == []  # no drain in this process: the message does it
        await until(qworld.sent, what="the mail sent by the queue trigger")
        await until(lambda: _empty(qworld), what="the message consumed")
    assert len(qworld.graph.sent) == 1
    assert len([p for m, p in qworld.graph.requests if p.endswith("/send")]) == 1
    item = (await qworld.store.work_in_state(TENANT, "done", 100)).items
    assert [w.kind for w in item if w.kind == "send-draft"] == ["send-draft"]
    assert await qworld.queue_length() == 0 and await qworld.queue_length(work_queue.POISON_QUEUE_NAME) == 0


async def test_duplicate_messages_send_once(qworld):
    sender = work_queue.StorageWorkQueue(qworld.settings)
    with runtime.override(settings=qworld.settings, work_queue=sender):
        # Approved while no host polls: the message waits on the queue; two copies join it.
        assert (await followups.approve(qworld.store, TENANT, OWNER, qworld.draft_id, 1, now=NOW)).status == "ok"
        queued = [w for w in (await qworld.store.work_in_state(TENANT, "queued")).items if w.kind == "send-draft"]
        assert len(queued) == 1
        for _ in range(2):
            await sender.send(work_queue.message_for(queued[0]))
        await sender.aclose()
    assert await qworld.queue_length() == 3
    async with qworld.host():  # one batch of three: delivered at once, racing for the one item
        await until(qworld.sent, what="the mail sent")
        await until(lambda: _empty(qworld), what="every message consumed")
    assert len(qworld.graph.sent) == 1
    assert len([p for m, p in qworld.graph.requests if p.endswith("/send")]) == 1
    assert await qworld.queue_length(work_queue.POISON_QUEUE_NAME) == 0


async def _empty(w: QueueWorld) -> bool:
    return await w.queue_length() == 0


async def test_a_lost_message_is_sent_by_the_timer(qworld, caplog):
    # The queue is unreachable between the write and the send: the answer still succeeds, the item is
    # written, and the minute timer (function_app.drain_work) sends it.
    dead_queue = load_settings({"RAPPORT_SQLITE_PATH": qworld.path,
                                "RAPPORT_WORK_QUEUE": work_queue.dev_connection_string("127.0.0.1", free_port())})
    sender = work_queue.StorageWorkQueue(dead_queue)
    with runtime.override(settings=dead_queue, work_queue=sender):
        started = time.monotonic()
        assert (await followups.approve(qworld.store, TENANT, OWNER, qworld.draft_id, 1, now=NOW)).status == "ok"
        assert time.monotonic() - started < work_queue.SEND_TIMEOUT + 2
        await sender.aclose()
    assert "queue message not sent" in caplog.text and qworld.graph.sent == []
    _, timers = collect(load_function_app().app)
    with runtime.override(settings=qworld.settings, store=qworld.store):
        await fire(next(t for t in timers if t.name == "drain_work"))
    assert await qworld.sent() and len(qworld.graph.sent) == 1


async def test_a_handler_that_always_fails_ends_on_the_poison_queue_and_in_rapport_work(qworld, capsys):
    calls: list[str] = []

    async def always_fails(store: Store, item: WorkItem) -> None:
        calls.append(item.id)
        raise RuntimeError("the far side is down; mail jane@acme.example")  # an error text that quotes an address

    with work.handling("t-always-fails", always_fails):
        async with qworld.host():
            item, created = await work.enqueue(qworld.store, TENANT, "t-always-fails", "k1", {})
            assert created
            await until(lambda: _poisoned(qworld), what="the message on the poison queue")
    assert len(calls) == work.MAX_ATTEMPTS  # one attempt per delivery, maxDequeueCount deliveries
    dead = await qworld.store.get(WorkItem, TENANT, item.id)
    assert dead is not None and dead.state == "dead" and dead.attempts == work.MAX_ATTEMPTS

    assert await work_command(qworld.settings, None, 20) == 0
    out = capsys.readouterr().out
    assert f"dead   {item.id}  t-always-fails" in out
    assert "poison queue rapport-work-poison: 1 message(s)" in out
    assert f"tenant {TENANT}  item {item.id} (dead)" in out
    assert "jane@acme.example" not in out and "far side" not in out  # the error's type only


async def _poisoned(w: QueueWorld) -> bool:
    return await w.queue_length(work_queue.POISON_QUEUE_NAME) >= 1


async def test_rapport_work_exit_codes(qworld, capsys):
    assert await work_command(qworld.settings, None, 0) == 2
    assert await work_command(qworld.settings, "no-such-tenant", 20) == 2
    plain = load_settings({"RAPPORT_SQLITE_PATH": qworld.path})
    assert await work_command(plain, TENANT, 20) == 0
    assert "work queue: none configured" in capsys.readouterr().out
    unreachable = load_settings({"RAPPORT_SQLITE_PATH": qworld.path,
                                 "RAPPORT_WORK_QUEUE": work_queue.dev_connection_string("127.0.0.1", free_port())})
    assert await work_command(unreachable, TENANT, 20) == 1
    assert "unreachable" in capsys.readouterr().err


async def test_a_message_that_is_not_rapports_is_refused(qworld):
    for body in (b"not json", b"[]", json.dumps({"tenantId": TENANT}).encode(),
                 json.dumps({"tenantId": "../x", "workItemId": "wi"}).encode()):
        with pytest.raises(work_queue.BadMessage):
            await work.drain_message(qworld.store, body)
    gone = work_queue.WorkMessage(TENANT, "wi-does-not-exist").encoded()
    assert await work.drain_message(qworld.store, gone) == "gone"


def test_host_json_matches_the_work_drain():
    options = QueueOptions.from_host_json(ROOT)
    assert options.max_dequeue_count == work.MAX_ATTEMPTS
    assert options.visibility_timeout == work.QUEUE_RETRY.total_seconds()
    assert options.max_polling_interval <= 2.0  # "approve -> mail sent" within 2 s needs a short poll
    host = json.loads((ROOT / "host.json").read_text())
    assert host["extensions"]["queues"]["messageEncoding"] == "base64"  # what work_queue sends


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=40), max_size=4),
       st.sampled_from(["send-draft", "sync-mailbox", "brief-delivery"]))
def test_a_message_carries_ids_only(payload, kind):
    canary = "CANARY-PAYLOAD-jane@acme.example"
    item = WorkItem(id=WorkItem.id_for(kind, f"key-{canary}"), tenantId=TENANT, kind=kind, key=f"key-{canary}",
                    payload={**payload, "to": canary, "body": canary,
                             "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
    text = work_queue.message_for(item).encoded()
    assert canary not in text and "acme" not in text and kind not in text
    assert json.loads(text) == {"tenantId": TENANT, "workItemId": item.id,
                                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    assert work_queue.parse(text) == work_queue.message_for(item)


def test_the_bicep_wires_the_queue_and_the_identity_roles():
    storage = (ROOT / "infra" / "modules" / "storage.bicep").read_text()
    app = (ROOT / "infra" / "modules" / "functionapp.bicep").read_text()
    assert f"var workQueueName = '{work_queue.QUEUE_NAME}'" in storage
    assert "name: '${workQueueName}-poison'" in storage and work_queue.POISON_QUEUE_NAME == "rapport-work-poison"
    for role in ("974c5e8b-45b9-4653-ba55-5f855dd0fb88",  # Storage Queue Data Contributor
                 "8a0f0c08-91a1-4084-bc3d-661d67233fed"):  # Storage Queue Data Message Processor
        assert f"'{role}'" in storage
    # the trigger's connection is identity-based: the service URI and the user-assigned identity
    assert f"{work_queue.CONNECTION}__queueServiceUri: queueServiceUrl" in app
    assert f"{work_queue.CONNECTION}__credential: 'managedidentity'" in app
    assert f"{work_queue.CONNECTION}__clientId: identityClientId" in app


def test_the_trigger_reads_the_queue_rapport_sends_to():
    from local.host import collect_queues

    (trigger,) = collect_queues(load_function_app().app)
    assert (trigger.name, trigger.queue_name, trigger.connection) == ("work_message", work_queue.QUEUE_NAME,
                                                                       work_queue.CONNECTION)
    assert load_settings({"RAPPORT_WORK_QUEUE__queueServiceUri": "https://x.queue.core.windows.net"}).work_queue
    assert not load_settings({}).work_queue
    from dataclasses import fields

    assert {f.metadata["env"] for f in fields(Settings) if f.name.startswith("work_queue")} == set(
        work_queue.SETTING_NAMES)


async def test_a_host_whose_queue_is_unreachable_does_not_start(tmp_path):
    from local.queues import QueueUnavailable

    settings = load_settings({"RAPPORT_SQLITE_PATH": str(tmp_path / "u.db"),
                              "RAPPORT_WORK_QUEUE": work_queue.dev_connection_string("127.0.0.1", free_port())})
    with pytest.raises(QueueUnavailable, match="unreachable"):
        await DevHost(settings, timers=False).start()
    svc = runtime.services()  # the host's overrides are gone again
    assert svc.settings is not settings and svc.work_queue is None


@pytest.fixture
def exported():
    from tests import test_telemetry  # one in-memory exporter per process: the providers are set once

    assert telemetry.begin(load_settings({}), span_exporter=test_telemetry.EXPORTER,
                           metric_reader=test_telemetry.READER) == "test"
    test_telemetry.EXPORTER.clear()
    yield test_telemetry.EXPORTER
    test_telemetry.EXPORTER.clear()


async def test_the_trigger_span_continues_the_trace_that_queued_the_item(qworld, exported):
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    ran: list[str] = []

    async def traced(store: Store, item: WorkItem) -> None:
        ran.append(item.id)

    with work.handling("t-traced", traced):
        async with qworld.host():
            with telemetry.span("test.request", traceparent=f"00-{trace_id}-b7ad6b7169203331-01"):
                item, _ = await work.enqueue(qworld.store, TENANT, "t-traced", "k", {"to": "jane@acme.example"})
            await until(lambda: ran, what="the traced item run")
            await until(lambda: [s for s in exported.get_finished_spans() if s.name == "work.message"])
    (span,) = [s for s in exported.get_finished_spans() if s.name == "work.message"]
    assert f"{span.context.trace_id:032x}" == trace_id  # the request's trace, through the queue
    assert dict(span.attributes) == {"rapport.trigger": "queue", "rapport.tenant_id": TENANT,
                                     "rapport.work.id": item.id, "rapport.outcome": "done"}
