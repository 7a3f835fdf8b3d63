"""pytest fixtures: devhost (see tests/conftest.py).

- `dev_settings`: settings of the embedded default with a SQLite file in the test's tmp dir.
- `devhost`: function_app's real triggers served by local.host.DevHost on 127.0.0.1:<free port>.
- `start_devhost`: factory for a DevHost with another FunctionApp, web root, clock... (stopped after).
- `http`: an aiohttp client session.
- `fake_clock`: a virtual clock (`fake_clock()` is now, `await fake_clock.sleep(s)` advances it), so
  timer tests run their schedules without real sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from local.host import DevHost
from rapport.settings import Settings, load_settings


@pytest.fixture
def dev_settings(tmp_path) -> Settings:
    return load_settings({"RAPPORT_SQLITE_PATH": str(tmp_path / "rapport.db")})


@pytest.fixture
async def start_devhost(dev_settings) -> AsyncIterator[Callable[..., Awaitable[DevHost]]]:
    started: list[DevHost] = []

    async def start(settings: Settings | None = None, **kw: Any) -> DevHost:
        host = DevHost(settings or dev_settings, **kw)
        await host.start()
        started.append(host)
        return host

    yield start
    for host in reversed(started):
        await host.stop()


@pytest.fixture
async def devhost(start_devhost) -> DevHost:
    return await start_devhost()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class FakeClock:
    """Virtual time for schedulers: sleepers wake in order of their deadlines, instantly.

    The earliest sleeper moves the clock to its deadline once the other tasks have had a turn,
    so several timers sharing the clock each see time pass as they would for real.
    """

    def __init__(self, start: datetime) -> None:
        self.now = start
        self._deadlines: list[datetime] = []

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        target = self.now + timedelta(seconds=seconds)
        self._deadlines.append(target)
        try:
            while self.now < target:
                await asyncio.sleep(0)
                if self.now < target and target == min(self._deadlines):
                    self.now = target
        finally:
            self._deadlines.remove(target)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC))
