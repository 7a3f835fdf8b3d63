"""pytest fixtures: demo (see tests/conftest.py).

- `demo_now` : the fixed "now" the demo firm is seeded relative to (meetings today/this week).
- `demo_firm`: `build_demo(7, demo_now)` (pure; the mailboxes as Graph JSON, the firm's records).
- `demo_db`  (session): a SQLite file with the demo firm seeded once through capture.
- `demo_store`: an opened Store over a private copy of that file (tests may write freely).
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from local.demo import DemoFirm, build_demo, seed_demo
from rapport.store.base import Store
from rapport.store.sqlite import SqliteBackend

DEMO_NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # a Wednesday morning


@pytest.fixture(scope="session")
def demo_now() -> datetime:
    return DEMO_NOW


@pytest.fixture(scope="session")
def demo_firm() -> DemoFirm:
    return build_demo(7, DEMO_NOW)


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo-db") / "rapport.db"

    async def seed() -> None:
        store = await Store(SqliteBackend(str(path))).open()
        try:
            await seed_demo(store, now=DEMO_NOW)
        finally:
            await store.close()

    asyncio.run(seed())
    # Fold the WAL into the main file so a plain file copy is the whole database.
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
async def demo_store(tmp_path: Path, demo_db: Path) -> AsyncIterator[Store]:
    copy = tmp_path / "demo.db"
    shutil.copyfile(demo_db, copy)
    store = await Store(SqliteBackend(str(copy))).open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def capture_store(tmp_path: Path) -> AsyncIterator[Store]:
    """An empty opened SQLite store (capture and ingest tests)."""
    store = await Store(SqliteBackend(str(tmp_path / "capture.db"))).open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(params=["sqlite", "cosmos"])
async def ingest_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An empty opened store of each kind: capture must behave the same on both."""
    if request.param == "cosmos":
        # The local Cosmos server (tests/plugins/cosmos.py starts it); a fresh database per test.
        import uuid

        from rapport.store.cosmos import CosmosBackend
        from tests.doubles.cosmos_server import EMULATOR_KEY, drop_database

        endpoint = request.getfixturevalue("cosmos_endpoint")
        database = f"t{uuid.uuid4().hex[:12]}"
        store = Store(CosmosBackend(endpoint, key=EMULATOR_KEY, database=database, verify_tls=False))
        await store.open()
        try:
            yield store
        finally:
            await store.close()
            await drop_database(endpoint, database)
        return
    store = await Store(SqliteBackend(str(tmp_path / "ingest.db"))).open()
    try:
        yield store
    finally:
        await store.close()
