"""pytest fixtures: identity (see tests/conftest.py).

- `test_ca`: a session-wide throwaway CA + 127.0.0.1 certificate for HTTPS stand-ins.
- `identity_server`: the Entra / Bot Framework stand-in (tests/doubles/identity_server.py), started
  per test (cheap: the RSA keys are made once per session), trusted through SSL_CERT_FILE and
  REQUESTS_CA_BUNDLE for the duration of the test.
- `entra`: settings + an open SQLite store + the process-wide validator wired to the stand-in,
  with three tenants: A (allowed by setting), B (onboarded record), C (onboarded, allowed=False).
  As in a real firm, the add-in API answers only onboarded people: `PERSON_OID` is a Person of A
  and B, and the world's minter signs as that person, through the add-in's own client app
  (RAPPORT_CLIENT_ID), unless a test names another oid; `await world.person(tid)` onboards one more.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rapport import runtime
from rapport.identity import dev as devauth
from rapport.identity import tokens
from rapport.identity.keys import KeySet
from rapport.records import Person, Tenant
from rapport.settings import Settings, load_settings
from rapport.store import Store, make_store
from tests.doubles.identity_server import IdentityServer
from tests.doubles.tokens import EntraMinter, SigningKey, TestCA

TENANT_A = "aaaaaaaa-0000-4000-8000-00000000000a"
TENANT_B = "bbbbbbbb-0000-4000-8000-00000000000b"
TENANT_C = "cccccccc-0000-4000-8000-00000000000c"
TENANT_X = "eeeeeeee-0000-4000-8000-00000000000e"  # a real Entra tenant we never onboarded
CLIENT_ID = "11111111-2222-4333-8444-555555555555"
AUDIENCE = f"api://rapport.test/{CLIENT_ID}"
PERSON_OID = "0e0e0e0e-1111-4222-8333-444444444444"  # a Person of tenants A and B


@dataclass
class FirmMinter(EntraMinter):
    """Tokens as the firm's seeded person by default (a test that names an oid seeds it, or wants
    it refused), from the add-in's own registration."""

    def claims(self, tid: str, oid: str | None = None, **kw) -> dict:  # type: ignore[override]
        return super().claims(tid, oid or PERSON_OID, **kw)


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA.create(tmp_path_factory.mktemp("test-ca"))


@pytest.fixture(scope="session")
def identity_keys() -> tuple[SigningKey, SigningKey]:
    return SigningKey.generate("entra-1"), SigningKey.generate("bot-1", ["msteams", "emulator"])


@pytest.fixture
async def identity_server(test_ca: TestCA, identity_keys, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[IdentityServer]:
    monkeypatch.setenv("SSL_CERT_FILE", str(test_ca.ca_path))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(test_ca.ca_path))
    server = await IdentityServer(test_ca, entra_keys=[identity_keys[0]], bot_keys=[identity_keys[1]]).start()
    try:
        yield server
    finally:
        await server.stop()


def identity_settings(server: IdentityServer, tmp_path: Path, **extra: str) -> Settings:
    env = {
        "RAPPORT_SQLITE_PATH": str(tmp_path / "rapport.db"),
        "ENTRA_AUTHORITY_HOST": server.base_url,
        "RAPPORT_CLIENT_ID": CLIENT_ID,
        "RAPPORT_CLIENT_SECRET": "s3cret-for-tests",
        "RAPPORT_API_AUDIENCE": AUDIENCE,
        "RAPPORT_ALLOWED_TENANTS": TENANT_A,
        **extra,
    }
    return load_settings(env)


@dataclass
class EntraWorld:
    settings: Settings
    server: IdentityServer
    store: Store
    minter: EntraMinter
    clock: list[float]  # the validator's and key set's monotonic clock, advanced by tests
    services: contextlib.ExitStack  # the world's runtime.override layers, closed by entra_world

    def now(self) -> float:
        return self.clock[0]

    async def person(self, tid: str = TENANT_A, oid: str | None = None, **kw) -> str:
        """Onboard a Person (as the firm would) and return its oid."""
        oid = oid or new_oid()
        kw.setdefault("upn", f"u{oid[:8]}@firm.test")
        kw.setdefault("name", "A Partner")
        await self.store.put(Person(id=oid, tenantId=tid, oid=oid, **kw))
        return oid

    def make_validator(self, **kw) -> tokens.EntraValidator:
        keys = KeySet(tokens.entra_metadata_url(self.settings), clock=self.now)
        v = tokens.EntraValidator(self.settings, keys, tokens._store_tenant_allowed,
                                  dev_keys=devauth.accepted_dev_keys(self.settings), clock=self.now, **kw)
        self.services.enter_context(runtime.override(entra_validator=v))
        return v


async def open_world(server: IdentityServer, tmp_path: Path, **extra: str) -> EntraWorld:
    settings = identity_settings(server, tmp_path, **extra)
    store = make_store(settings)
    await store.open()
    await store.put_tenant(Tenant(id=TENANT_B, tenantId=TENANT_B, name="Firm B", domains=["b.test"]))
    await store.put_tenant(Tenant(id=TENANT_C, tenantId=TENANT_C, name="Firm C", allowed=False))
    for tid in (TENANT_A, TENANT_B):
        await store.put(Person(id=PERSON_OID, tenantId=tid, oid=PERSON_OID, upn="ada@firm.test", name="Ada Partner"))
    services = contextlib.ExitStack()
    services.enter_context(runtime.override(settings=settings, store=store))
    minter = FirmMinter(server.entra_key, server.base_url, AUDIENCE, client_app=CLIENT_ID)
    world = EntraWorld(settings, server, store, minter, [1000.0], services)
    world.make_validator()
    return world


@pytest.fixture
async def entra(identity_server: IdentityServer, tmp_path: Path) -> AsyncIterator[EntraWorld]:
    async with entra_world(identity_server, tmp_path) as world:
        yield world


@contextlib.asynccontextmanager
async def entra_world(server: IdentityServer, tmp_path: Path, **extra: str) -> AsyncIterator[EntraWorld]:
    """open_world, undone afterwards: its services (settings, store, validator) end, the store closes."""
    world = await open_world(server, tmp_path, **extra)
    try:
        yield world
    finally:
        world.services.close()
        await world.store.close()


def new_oid() -> str:
    return str(uuid.uuid4())
