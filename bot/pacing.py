"""Pacing proactive Teams sends within Teams' limits, shared by the briefs' and the follow-ups' sends.

Teams throttles a bot's proactive messages per conversation thread (7 in 1 s, 8 in 2 s, 60 in 30 s,
1,800 an hour) and per tenant (30 a second). `TeamsPacer` waits before a send that would break a
window; a send Teams still refuses with 412/429/502/504 (`RETRY_STATUSES`) is retried after
`backoff_seconds` (the connector's Retry-After when given, else exponential with jitter).

One pacer per process (`shared_pacer()`): bot/briefs.py and bot/followups.py send on the same
threads, so they must count against the same windows. Imports the standard library only.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

THREAD_WINDOWS = ((1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))
TENANT_WINDOWS = ((1.0, 30),)
RETRY_STATUSES = frozenset({412, 429, 502, 504})


class TeamsPacer:
    """Sliding-window limits per conversation thread and per tenant (Teams' own, THREAD_WINDOWS and
    TENANT_WINDOWS).

    `acquire` waits (on the injected sleep) until a send fits every window, then records it. One
    pacer is shared by a process's sends; an asyncio lock keeps the check-and-record atomic.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.clock = clock
        self.sleep = sleep
        self._sent: dict[tuple[str, str], deque[float]] = {}
        self._lock = asyncio.Lock()
        self.waited: list[float] = []

    def _wait_for(self, key: tuple[str, str], windows: tuple[tuple[float, int], ...], now: float) -> float:
        q = self._sent.setdefault(key, deque())
        longest = max(span for span, _ in windows)
        while q and q[0] <= now - longest:
            q.popleft()
        wait = 0.0
        for span, limit in windows:
            inside = [t for t in q if t > now - span]
            if len(inside) >= limit:
                wait = max(wait, inside[-limit] + span - now)
        return wait

    async def acquire(self, tenant_id: str, thread_id: str) -> None:
        async with self._lock:
            while True:
                now = self.clock()
                wait = max(self._wait_for(("t", tenant_id), TENANT_WINDOWS, now),
                           self._wait_for(("c", thread_id), THREAD_WINDOWS, now))
                if wait <= 0:
                    self._sent[("t", tenant_id)].append(now)
                    self._sent[("c", thread_id)].append(now)
                    return
                self.waited.append(wait)
                await self.sleep(wait + 0.001)


def backoff_seconds(attempt: int, retry_after: float | None, rng: random.Random | None = None) -> float:
    """Retry-After when given, else exponential with full jitter (1, 2, 4 ... s, capped at 30)."""
    if retry_after is not None and retry_after >= 0:
        return retry_after
    step = min(30.0, 2.0 ** max(0, attempt - 1))
    return step * (0.5 + 0.5 * (rng or random).random())


_shared = TeamsPacer()


def shared_pacer() -> TeamsPacer:
    """The process's pacer: every proactive send of this process counts against the same windows."""
    return _shared


__all__ = ["RETRY_STATUSES", "TENANT_WINDOWS", "THREAD_WINDOWS", "TeamsPacer", "backoff_seconds", "shared_pacer"]
