"""pytest fixtures: graph (see tests/conftest.py).

- `graph_standin`: the Graph stand-in (tests/doubles/graph_server.py) on 127.0.0.1:<free port>.
- `graph_clock`: virtual monotonic time for GraphClient: `sleep(s)` records s and advances at once.
- `graph_tokens`: an app-token provider (`test-token:<tenant>`); `revoke(tenant)` makes it raise
  identity's ConsentRequired for that tenant; `calls` counts requests per tenant.
- `graph`: the real GraphClient (msgraph-sdk over HTTP) against the stand-in, installed as the
  process's client for the sync/lifecycle work handlers, with the virtual clock.
- `capture_store`: an open SQLite Store in the test's tmp dir.
- `graph_firm`: factory: onboard a firm (Tenant + Person records) and its partners' stand-in mailboxes.
- `graph_host`: function_app's real triggers on DevHost, sharing `capture_store`, with
  RAPPORT_PUBLIC_URL pointing at the host itself (so Graph's handshake and webhooks reach it).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from rapport import runtime
from rapport.graph import GraphClient
from rapport.identity.errors import ConsentRequired, TenantRevoked  # identity's typed failures
from rapport.records import Person, Tenant
from rapport.store.base import Store
from rapport.store.sqlite import SqliteBackend
from tests.doubles.graph_server import GraphStandIn, Mailbox


class GraphClock:
    """Monotonic virtual time: `sleep` returns at once, having advanced the clock."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)


class FakeGraphTokens:
    def __init__(self) -> None:
        self.revoked: set[str] = set()
        self.removed: set[str] = set()
        self.calls: Counter[str] = Counter()

    def revoke(self, tenant_id: str) -> None:
        """The firm's admin withdrew consent (AADSTS65001 from the token endpoint)."""
        self.revoked.add(tenant_id)

    def remove_app(self, tenant_id: str) -> None:
        """Rapport's app was deleted or disabled in the firm's directory."""
        self.removed.add(tenant_id)

    async def app_token(self, tenant_id: str) -> str:
        self.calls[tenant_id] += 1
        if tenant_id in self.revoked:
            raise ConsentRequired(tenant_id, f"https://login.example.test/{tenant_id}/adminconsent")
        if tenant_id in self.removed:
            raise TenantRevoked(tenant_id, "app disabled")
        return f"test-token:{tenant_id}"


@dataclass
class Partner:
    person: Person
    mailbox: Mailbox


@dataclass
class Firm:
    tenant: Tenant
    partners: list[Partner]

    @property
    def id(self) -> str:
        return self.tenant.id


@pytest.fixture
async def graph_standin() -> AsyncIterator[GraphStandIn]:
    standin = await GraphStandIn().start()
    yield standin
    await standin.stop()


@pytest.fixture
def graph_clock() -> GraphClock:
    return GraphClock()


@pytest.fixture
def graph_tokens() -> FakeGraphTokens:
    return FakeGraphTokens()


@pytest.fixture
async def graph(graph_standin, graph_tokens, graph_clock) -> AsyncIterator[GraphClient]:
    from rapport import runtime

    client = GraphClient(graph_standin.base_url, graph_tokens, sleep=graph_clock.sleep, clock=graph_clock.monotonic,
                         page_size=50)
    with runtime.override(graph=client):
        yield client
    await client.close()


@pytest.fixture
async def capture_store(tmp_path) -> AsyncIterator[Store]:
    store = await Store(SqliteBackend(str(tmp_path / "capture.db"))).open()
    yield store
    await store.close()


@pytest.fixture
def graph_firm(capture_store, graph_standin) -> Callable[..., Awaitable[Firm]]:
    async def make(tenant_id: str, domain: str, partners: list[str], *, name: str = "") -> Firm:
        upns = [f"{p}@{domain}" for p in partners]
        tenant = Tenant(id=tenant_id, tenantId=tenant_id, name=name or domain, domains=[domain], partners=upns)
        await capture_store.put_tenant(tenant)
        out = []
        for upn in upns:
            mb = graph_standin.add_mailbox(tenant_id, upn)
            person = Person(id=mb.oid, tenantId=tenant_id, oid=mb.oid, upn=upn, name=mb.name)
            await capture_store.put(person)
            out.append(Partner(person, mb))
        return Firm(tenant, out)

    return make


@pytest.fixture
async def graph_host(start_devhost, dev_settings, capture_store, graph) -> AsyncIterator[Any]:
    host = await start_devhost(dev_settings, store=capture_store)
    # Graph must reach this host: its own URL is the public one (for as long as the host runs).
    with runtime.override(settings=dataclasses.replace(dev_settings, public_url=host.base_url)):
        yield host
