"""rapport.work: the drain of work items (docs/architecture.md, "Work after the answer")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import UTC, datetime, timedelta

import pytest

from rapport import work
from rapport.records import Tenant, WorkItem
from rapport.store import make_store
from tests.plugins import queued

TENANT = "11111111-1111-1111-1111-111111111111"
OTHER = "22222222-2222-2222-2222-222222222222"


def t0() -> datetime:
    """Items are enqueued due at the real 'now'; drains run at injected times after that."""
    return datetime.now(UTC) + timedelta(seconds=5)


@pytest.fixture
async def store(dev_settings):
    s = await make_store(dev_settings).open()
    for tid, name in ((TENANT, "Alder & Finch"), (OTHER, "Bramble IP")):
        await s.put_tenant(Tenant(id=tid, tenantId=tid, name=name))
    yield s
    await s.close()


@pytest.fixture
def kinds():
    """Register throw-away work kinds; forgotten after the test."""
    with contextlib.ExitStack() as made:

        def register(kind: str, fn):
            return made.enter_context(work.handling(kind, fn))

        yield register


async def get(store, item: WorkItem) -> WorkItem:
    return await store.get(WorkItem, item.tenantId, item.id)


async def test_enqueue_is_idempotent_and_the_item_runs_once(store, kinds):
    ran: list[dict] = []

    async def deliver(st, item):
        ran.append(item.payload)

    kinds("t-deliver", deliver)
    a = await queued(store, TENANT, "t-deliver", "meeting-1:partner-a", {"n": 1})
    b = await queued(store, TENANT, "t-deliver", "meeting-1:partner-a", {"n": 2})
    assert a.id == b.id and b.payload == {"n": 1}
    report = await work.drain(store, now=t0() + timedelta(seconds=1))
    assert report.done == [a.id] and ran == [{"n": 1}]
    assert (await get(store, a)).state == "done"
    # Enqueued again after it ran: still one item, not run twice.
    await queued(store, TENANT, "t-deliver", "meeting-1:partner-a", {"n": 3})
    assert (await work.drain(store, now=t0() + timedelta(minutes=10))).done == []
    assert ran == [{"n": 1}]


async def test_not_due_until_its_time(store, kinds):
    ran = []

    async def h(st, item):
        ran.append(item.id)

    kinds("t-later", h)
    item = await queued(store, TENANT, "t-later", "k", {})
    assert (await work.drain(store, now=item.notBefore - timedelta(seconds=5))).done == []
    assert ran == []
    assert (await work.drain(store, now=item.notBefore + timedelta(seconds=1))).done == [item.id]


async def test_retry_with_exponential_backoff_then_success(store, kinds):
    calls = []

    async def flaky(st, item):
        calls.append(item.attempts)
        if len(calls) <= 2:
            raise ConnectionError("graph said 503")

    kinds("t-flaky", flaky)
    item = await queued(store, TENANT, "t-flaky", "k", {})
    now = t0() + timedelta(minutes=1)
    r1 = await work.drain(store, now=now, rng=random.Random(1))
    assert r1.retrying == [item.id]
    w = await get(store, item)
    assert w.state == "queued" and w.attempts == 1 and "ConnectionError" in w.lastError
    first_wait = w.notBefore - now
    assert timedelta(seconds=15) <= first_wait <= timedelta(seconds=30)
    # Not retried before its time, even by another drain.
    assert (await work.drain(store, now=now + timedelta(seconds=14))).retrying == []
    assert calls == [0]

    now2 = w.notBefore
    r2 = await work.drain(store, now=now2, rng=random.Random(2))
    assert r2.retrying == [item.id]
    w = await get(store, item)
    second_wait = w.notBefore - now2
    assert w.attempts == 2 and timedelta(seconds=30) <= second_wait <= timedelta(seconds=60)

    r3 = await work.drain(store, now=w.notBefore)
    assert r3.done == [item.id] and calls == [0, 1, 2]
    w = await get(store, item)
    assert w.state == "done" and w.lastError is None


async def test_dead_after_five_attempts_with_an_alert_never_dropped(store, kinds, caplog):
    calls = []

    async def broken(st, item):
        calls.append(1)
        raise ValueError("bad payload")

    kinds("t-broken", broken)
    item = await queued(store, TENANT, "t-broken", "k", {"draft": "d1"})
    now = t0() + timedelta(minutes=1)
    with caplog.at_level(logging.INFO, logger="rapport.work"):
        for _ in range(7):
            await work.drain(store, now=now)
            now += timedelta(hours=2)  # past any backoff
    assert len(calls) == 5
    w = await get(store, item)
    assert w is not None and w.state == "dead" and w.attempts == 5
    assert w.payload == {"draft": "d1"} and "ValueError" in w.lastError
    alerts = [r for r in caplog.records if "ALERT" in r.getMessage()]
    assert len(alerts) == 1 and item.id in alerts[0].getMessage()
    assert getattr(alerts[0], "tenant_id", None) == TENANT


async def test_one_failing_item_does_not_block_the_others(store, kinds):
    done = []

    async def h(st, item):
        if item.key == "poison":
            raise RuntimeError("poison")
        done.append(item.key)

    kinds("t-mixed", h)
    for key in ("a", "poison", "b"):
        await queued(store, TENANT, "t-mixed", key, {})
    await queued(store, OTHER, "t-mixed", "c", {})
    report = await work.drain(store, now=t0() + timedelta(minutes=1))
    assert sorted(done) == ["a", "b", "c"]
    assert len(report.done) == 3 and len(report.retrying) == 1


async def test_a_handler_that_hangs_times_out_and_is_retried(store, kinds):
    async def hang(st, item):
        await asyncio.Event().wait()

    kinds("t-hang", hang)
    item = await queued(store, TENANT, "t-hang", "k", {})
    report = await work.drain(store, now=t0() + timedelta(minutes=1), timeout=0.01)
    assert report.retrying == [item.id]
    assert (await get(store, item)).lastError == "timed out"


async def test_unknown_kind_is_left_queued_not_failed(store):
    item = await queued(store, TENANT, "t-nobody-handles-this", "k", {})
    report = await work.drain(store, now=t0() + timedelta(minutes=1))
    assert report.unhandled == [item.id]
    w = await get(store, item)
    assert w.state == "queued" and w.attempts == 0


async def test_concurrent_drains_run_an_item_once(store, kinds):
    ran = []

    async def slow(st, item):
        for _ in range(5):
            await asyncio.sleep(0)
        ran.append(item.key)

    kinds("t-once", slow)
    for key in "abcde":
        await queued(store, TENANT, "t-once", key, {})
    now = t0() + timedelta(minutes=1)
    await asyncio.gather(*(work.drain(store, now=now) for _ in range(3)))
    assert sorted(ran) == list("abcde")


async def test_kick_drains_one_tenant_at_once(store, kinds):
    ran = []

    async def h(st, item):
        ran.append(item.tenantId)

    kinds("t-kick", h)
    await queued(store, TENANT, "t-kick", "k", {})
    await queued(store, OTHER, "t-kick", "k", {})
    task = work.kick(store, TENANT)
    assert task is not None
    await task
    assert ran == [TENANT]


async def test_kick_is_safe_with_nothing_registered(store, monkeypatch):
    monkeypatch.setattr(work, "_handlers", {})
    await queued(store, TENANT, "t-none", "k", {})
    assert work.kick(store, TENANT) is None


def test_kick_outside_an_event_loop_does_nothing(kinds):
    async def h(st, item):
        raise AssertionError("must not run")

    kinds("t-noloop", h)
    assert work.kick(object(), TENANT) is None  # type: ignore[arg-type]


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    rng = random.Random(7)
    for attempts in range(1, 12):
        step = min(work.MAX_DELAY, work.BASE_DELAY * 2 ** (attempts - 1))
        delays = {work.backoff(attempts, rng) for _ in range(20)}
        assert all(step / 2 <= d <= step for d in delays)
        assert len(delays) > 1  # jittered: retries of many items spread out
    assert work.backoff(20, rng) <= work.MAX_DELAY


def test_a_kind_has_one_handler():
    async def one(st, item): ...

    async def two(st, item): ...

    with work.handling("t-dup", one), pytest.raises(ValueError, match="already has a handler"):
        work.handler("t-dup")(two)


async def test_drain_timer_of_function_app_runs_the_drain(store, kinds, dev_settings):
    """function_app's drain_work timer, as `rapport trigger drain_work` runs it."""
    from local.host import run_trigger

    ran = []

    async def h(st, item):
        ran.append(item.key)

    kinds("t-timer", h)
    await queued(store, TENANT, "t-timer", "via-timer", {})
    assert await run_trigger(dev_settings, "drain_work") == 0
    assert ran == ["via-timer"]


def test_every_handler_module_is_loaded_by_the_drain():
    """A module that registers a work kind but is never imported by the drain's process would leave
    its items queued for ever on a fresh Azure instance: list it in work.HANDLER_MODULES."""
    import re
    import sys
    from pathlib import Path

    import function_app  # noqa: F401 - what Azure imports

    root = Path(__file__).resolve().parents[1]
    registering = []
    for top in ("rapport", "bot", "addin"):
        for path in (root / top).rglob("*.py"):
            if path.name != "work.py" and re.search(r"@work\.handler\(", path.read_text(encoding="utf-8")):
                registering.append(".".join(path.relative_to(root).with_suffix("").parts))
    assert registering, "expected some work handlers"
    for module in registering:
        if module.startswith("rapport."):
            assert module in work.HANDLER_MODULES, f"{module} registers work handlers; add it to HANDLER_MODULES"
        else:  # rapport/ may not import bot/ or addin/: function_app must
            assert module in sys.modules, f"{module} registers work handlers; function_app.py must import it"
    kinds = work.load_handlers()
    assert kinds and all(callable(fn) for fn in kinds.values())


async def test_drain_timer_alerts_on_a_kind_nobody_handles(store, caplog):
    await queued(store, TENANT, "t-orphan-kind", "k", {})
    with caplog.at_level(logging.ERROR, logger="rapport.work"):
        report = await work.drain_timer(store)
    assert report.unhandled and any("ALERT" in r.getMessage() for r in caplog.records)


async def test_a_spent_budget_leaves_the_rest_queued(store, kinds):
    ran = []

    async def h(st, item):
        ran.append(item.key)

    kinds("t-budget", h)
    for key in "abc":
        await queued(store, TENANT, "t-budget", key, {})
    report = await work.drain(store, now=t0(), budget=0)
    assert ran == [] and report.done == []
    assert len(await store.due_work(TENANT, now=t0())) == 3


# --- one way to queue: work.enqueue (once per key) and work.requeue (ask again) ---------------------

async def test_work_enqueue_writes_once_per_key(store):
    a, created = await work.enqueue(store, TENANT, "t-once-per-key", "k", {"n": 1})
    b, again = await work.enqueue(store, TENANT, "t-once-per-key", "k", {"n": 2})
    assert (created, again) == (True, False)
    assert a.id == b.id == WorkItem.id_for("t-once-per-key", "k")
    assert b.payload == {"n": 1}  # the first write stands


async def test_work_enqueue_keeps_a_later_start_and_leaves_a_done_item_done(store):
    later = t0() + timedelta(hours=2)
    item, created = await work.enqueue(store, TENANT, "t-later-start", "k", {}, not_before=later)
    assert created and item.notBefore == later and item.createdAt == later
    await store.update(WorkItem, TENANT, item.id, lambda w: setattr(w, "state", "done") or w)
    again, created = await work.enqueue(store, TENANT, "t-later-start", "k", {})
    assert not created and again.state == "done"


async def test_work_requeue_bumps_rev_and_rearms_a_done_item(store):
    now = t0()
    first = await work.requeue(store, TENANT, "t-requeue", "k", {"a": 1}, now=now)
    assert first.payload == {"a": 1, "rev": 1} and first.state == "queued"
    await store.update(WorkItem, TENANT, first.id, lambda w: setattr(w, "state", "done") or w)
    rearmed = await work.requeue(store, TENANT, "t-requeue", "k", {"a": 2}, now=now + timedelta(minutes=1))
    assert rearmed.state == "queued" and rearmed.payload == {"a": 2, "rev": 2}
    assert rearmed.notBefore == now + timedelta(minutes=1)
