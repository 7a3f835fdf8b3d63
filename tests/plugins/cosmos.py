"""pytest fixtures: the local Cosmos DB server and a fault-injecting proxy in front of it.

- `cosmos_server` (session): `@vercel/cosmosdb-server` on 127.0.0.1 and an ephemeral port. If it
  cannot start, every test that needs it FAILS (never skips): in CI, and locally too.
- `cosmos_endpoint` (session): its HTTPS endpoint. The well-known emulator key is COSMOS_KEY.
- `cosmos_env`: a function giving Rapport's environment for a Cosmos store (fresh database name).
- `cosmos_database`: a fresh database name, dropped after the test.
- `cosmos_proxy`: a FaultProxy in front of the server (per test: faults never leak between tests).
- `cosmos_store`: an opened Store over a fresh database, closed and dropped after the test.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from tests.doubles.cosmos_server import EMULATOR_KEY, CosmosServer, CosmosServerError, drop_database
from tests.doubles.fault_proxy import FaultProxy


@pytest.fixture(scope="session")
def cosmos_server() -> Iterator[CosmosServer]:
    server = CosmosServer()
    try:
        server.start()
    except CosmosServerError as exc:
        # A missing component is a failure, never a skip (CI=true or not).
        pytest.fail(f"the local Cosmos DB server could not start: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def cosmos_endpoint(cosmos_server: CosmosServer) -> str:
    return cosmos_server.endpoint


@pytest.fixture
async def cosmos_database(cosmos_endpoint: str) -> AsyncIterator[str]:
    name = f"t{uuid.uuid4().hex[:12]}"
    yield name
    await drop_database(cosmos_endpoint, name)


@pytest.fixture
def cosmos_env(cosmos_endpoint: str) -> Callable[..., dict[str, str]]:
    """cosmos_env(database=None, endpoint=None) -> env mapping for load_settings()."""

    def make(database: str | None = None, endpoint: str | None = None) -> dict[str, str]:
        return {
            "RAPPORT_STORE": "cosmos",
            "COSMOS_ENDPOINT": (endpoint or cosmos_endpoint).rstrip("/"),
            "COSMOS_KEY": EMULATOR_KEY,
            "COSMOS_DATABASE": database or f"t{uuid.uuid4().hex[:12]}",
            "COSMOS_VERIFY_TLS": "false",
        }

    return make


@pytest.fixture
def cosmos_proxy(cosmos_endpoint: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(cosmos_endpoint).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
async def cosmos_store(cosmos_endpoint: str, cosmos_database: str):
    from rapport.store.base import Store
    from rapport.store.cosmos import CosmosBackend

    store = Store(CosmosBackend(cosmos_endpoint, key=EMULATOR_KEY, database=cosmos_database, verify_tls=False))
    await store.open()
    try:
        yield store
    finally:
        await store.close()
