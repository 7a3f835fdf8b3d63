"""Timer triggers on asyncio: function_app's timerTrigger functions at their NCRONTAB schedules.

The local host (local/host.py) collects the timers of function_app and runs them here, as the
Functions host would: one run of a timer at a time, a failure logged and the timer carrying on at
its next occurrence (Azure does not retry), a late run marked past due. `rapport trigger NAME` fires
one now. Schedules are parsed by local/ncrontab.py. Local only: Azure runs its own timers.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.functions.timer import TimerRequest

from local.ncrontab import Schedule
from rapport.records import utcnow

log = logging.getLogger("rapport.devhost")

PAST_DUE_GRACE = 1.0  # seconds late before a timer run counts as past due

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class TimerTrigger:
    name: str
    schedule: Schedule
    fn: Callable[..., Any]
    arg: str
    run_on_startup: bool = False


async def call(fn: Callable[..., Any], **kwargs: Any) -> Any:
    if inspect.iscoroutinefunction(fn):
        return await fn(**kwargs)
    return await asyncio.to_thread(fn, **kwargs)  # Azure runs sync functions on a thread pool too


async def fire(timer: TimerTrigger, past_due: bool = False) -> None:
    """Run one timer trigger once, as the Functions host would invoke it."""
    request = TimerRequest(past_due=past_due, schedule={"AdjustForDST": False},
                           schedule_status={})
    await call(timer.fn, **{timer.arg: request})


class TimerRunner:
    """Runs timers at their schedules on asyncio. One run of a timer at a time, as on Azure; a
    failure is logged and the timer carries on at its next occurrence (Azure does not retry)."""

    def __init__(self, timers: list[TimerTrigger], *, clock: Clock = utcnow, sleep: Sleep = asyncio.sleep) -> None:
        self.timers = timers
        self.clock = clock
        self.sleep = sleep
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        for t in self.timers:
            self._tasks.append(asyncio.get_running_loop().create_task(self._loop(t), name=f"timer-{t.name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _run(self, t: TimerTrigger, past_due: bool) -> None:
        try:
            await fire(t, past_due)
        except Exception:  # noqa: BLE001 - a failing timer never takes the host down
            log.exception("timer %s failed", t.name)

    async def _loop(self, t: TimerTrigger) -> None:
        if t.run_on_startup:
            await self._run(t, False)
        due = t.schedule.next_after(self.clock())
        missed = False
        while True:
            wait = (due - self.clock()).total_seconds()
            if wait > 0:
                await self.sleep(wait)
                continue  # re-check: a real sleep may wake early, a test clock may jump
            await self._run(t, missed or -wait > PAST_DUE_GRACE)
            await asyncio.sleep(0)  # a run that never awaited must still let the host serve
            # Occurrences missed while it ran are not replayed: one run at once, marked past due.
            now = self.clock()
            nxt = t.schedule.next_after(due)
            missed = nxt <= now
            while missed and (after := t.schedule.next_after(nxt)) <= now:
                nxt = after
            due = nxt
