"""Cosmos-only behaviour (docs/reliability.md section 8), through the fault-injecting proxy.

The real azure-cosmos client talks HTTPS to tests/doubles/fault_proxy.py, which forwards to the
local Cosmos server and records every request; faults are injected per test.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from rapport.records import Contact, Draft, Enquiry, Interaction, Meeting, Tenant, Wall, WorkItem, contact_id
from rapport.settings import load_settings
from rapport.store import StoreUnavailable, make_store
from rapport.store.base import Read, Store
from rapport.store.cosmos import HIERARCHICAL_FAMILIES, CosmosBackend
from rapport.web import refusal
from tests.doubles.cosmos_server import EMULATOR_KEY, drop_database
from tests.doubles.fault_proxy import FaultProxy, Seen
from tests.plugins import queued

A = "aaaaaaaa-0000-0000-0000-00000000000a"
B = "bbbbbbbb-0000-0000-0000-00000000000b"
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
# The tenant filter must be the first conjunct of the WHERE clause, followed by AND, ORDER BY or nothing
# (so an "OR ..." after it cannot widen the query).
_SCOPED = re.compile(r"\bWHERE\s+c\.tenantId\s*=\s*@tenantId(\s+AND\b|\s+ORDER\s+BY\b|\s*$)")


class Sleeps:
    """Injected backoff for the backend's own retries: records instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def proxied(cosmos_proxy: FaultProxy, cosmos_endpoint: str):
    """(store, proxy, sleeps): a Cosmos store whose every request goes through the proxy."""
    database = f"f{uuid.uuid4().hex[:12]}"
    sleeps = Sleeps()
    store = Store(CosmosBackend(cosmos_proxy.endpoint, key=EMULATOR_KEY, database=database, verify_tls=False,
                                sleep=sleeps))
    await store.open()
    try:
        yield store, cosmos_proxy, sleeps
    finally:
        cosmos_proxy.clear()
        await store.close()
        await drop_database(cosmos_endpoint, database)


def unscoped(seen: Seen) -> str | None:
    """Why a query the client sent is not confined to one tenant, or None when it is."""
    if not _SCOPED.search(seen.sql):
        return f"no leading c.tenantId = @tenantId filter: {seen.sql}"
    if seen.partition_key is None:
        # Only a hierarchical family's query may go without one, and only on the local server, which
        # refuses partition-key prefixes: there the leading tenant filter alone scopes it.
        family = seen.path.split("/colls/", 1)[-1].split("/", 1)[0]
        if family not in HIERARCHICAL_FAMILIES:
            return f"no partition key: {seen.sql}"
        return None if isinstance(seen.parameters.get("@tenantId"), str) else f"no tenant: {seen.sql}"
    if seen.parameters.get("@tenantId") != seen.partition_key:
        return f"@tenantId {seen.parameters.get('@tenantId')!r} is not the partition key {seen.partition_key!r}"
    return None


# --- F7: every query carries the tenant filter ---------------------------------------------------


async def test_every_query_the_backend_sends_is_tenant_scoped(proxied):  # F7
    store, proxy, _ = proxied
    cid = contact_id("same@client.com")
    for tid in (A, B):
        await store.put_tenant(Tenant(id=tid, tenantId=tid, name=tid[:4]))
        await store.put(Contact.new(tid, "same@client.com", name="n"))
        await store.put_many([
            Interaction(id=f"ix{n}", tenantId=tid, channel="email", at=T0 + timedelta(minutes=n), ownerOid="o",
                        contactIds=[cid]) for n in range(5)
        ])
        await store.put(Meeting(id="mt1", tenantId=tid, eventId="e", organizerOid="o", start=T0,
                                end=T0 + timedelta(hours=1), contactIds=[cid]))
        await store.put(Draft(id="dr1", tenantId=tid, ownerOid="o"))
        await store.put(Wall(id="w1", tenantId=tid, accountIds=["ac1"], screenedOids=["o"]))
        await queued(store, tid, "k", "key", {})
    page = await store.interactions_for_contact(A, cid, limit=2)
    await store.interactions_for_contact(A, cid, limit=2, cursor=page.cursor)
    await store.meetings_between(A, T0, T0 + timedelta(days=1), organizer_oid="o")
    await store.meetings_between(B, T0, T0 + timedelta(days=1))
    await store.drafts_by_state(A, "drafted", owner_oid="o")
    await store.due_work(B)
    await store.walls(A)
    await store.person_by_upn(A, "someone@firm.com")
    await store.read_many(A, [Read(Contact, record_id=cid), Read(Interaction, key=f"ct:{cid}", newest_first=True)])
    await store.list_tenants()
    await store.backend.purge_tenant(B)

    queries = proxy.queries()
    assert len(queries) >= 20  # the scenario really queried (a vacuous pass is a failure)
    assert any("ARRAY_CONTAINS" in q.sql for q in queries) and any("@curAt" in q.sql for q in queries)
    assert {q.partition_key for q in queries} - {None} == {A, B, "_directory"}
    assert any(q.partition_key is None for q in queries)  # the hierarchical families' queries ran too
    problems = [p for q in queries if (p := unscoped(q))]
    assert problems == []


async def test_the_interceptor_catches_an_unscoped_query(proxied):  # the F7 check can fail
    store, proxy, _ = proxied
    await store.put(Contact.new(A, "x@client.com"))
    container = await store.backend._container("contacts")
    sneaky = [
        ("SELECT * FROM c WHERE c.id = @id", [{"name": "@id", "value": "x"}]),
        ("SELECT * FROM c WHERE c.tenantId = @tenantId OR c.id = @id",
         [{"name": "@tenantId", "value": A}, {"name": "@id", "value": "x"}]),
        ("SELECT * FROM c WHERE c.tenantId = @tenantId", [{"name": "@tenantId", "value": B}]),
    ]
    proxy.forget()
    for sql, params in sneaky:
        try:  # a raw SDK call, bypassing the backend (the server may refuse it: it is seen either way)
            [x async for x in container.query_items(query=sql, parameters=params, partition_key=A)]
        except Exception:  # noqa: BLE001
            pass
    flagged = [unscoped(q) for q in proxy.queries()]
    assert len(flagged) >= 3 and all(flagged)


async def test_the_backend_refuses_to_send_an_unscoped_query(proxied):
    store, proxy, _ = proxied
    container = await store.backend._container("contacts")
    proxy.forget()
    with pytest.raises(RuntimeError):
        await store.backend._query(container, "contacts", A, "SELECT * FROM c WHERE c.id = @id", {"@id": "x"}, "t")
    with pytest.raises(RuntimeError):  # the filter names another tenant than the partition
        await store.backend._query(container, "contacts", A, "SELECT * FROM c WHERE c.tenantId = @tenantId",
                                   {"@tenantId": B}, "t")
    assert proxy.queries() == []


# --- F4: 429 with x-ms-retry-after-ms ------------------------------------------------------------


def _retry_gap(proxy: FaultProxy, kind: str) -> float:
    """Seconds between the throttled request and the client's next request of that kind."""
    seen = [s for s in proxy.seen if s.kind == kind]
    i = next(n for n, s in enumerate(seen) if s.status == 429)
    return seen[i + 1].at - seen[i].at


@pytest.mark.parametrize("kind", ["read", "query", "write"])
async def test_429_waits_as_told(proxied, kind):  # F4
    store, proxy, _ = proxied
    c = await store.put(Contact.new(A, "x@client.com", name="X", accountId="ac1"))
    proxy.forget()
    proxy.throttle(400, kind=kind)
    if kind == "read":
        assert (await store.get(Contact, A, c.id)).name == "X"
    elif kind == "query":
        assert [x.name for x in await store.contacts_of_account(A, "ac1")] == ["X"]
    else:
        await store.put(c.model_copy(update={"name": "Y"}))
        assert (await store.get(Contact, A, c.id)).name == "Y"
    assert _retry_gap(proxy, kind) >= 0.4


async def test_429_that_never_ends_becomes_unavailable(proxied):
    store, proxy, _ = proxied
    c = await store.put(Contact.new(A, "x@client.com"))
    proxy.throttle(5, kind="read", times=1000)
    with pytest.raises(StoreUnavailable):
        await store.get(Contact, A, c.id)
    assert sum(1 for s in proxy.seen if s.status == 429) == 10  # the first try and the SDK's 9 retries


# --- F5: 503 (and resets) mid-write ------------------------------------------------------------


async def test_503_mid_bulk_write_is_retried_without_duplicates(proxied):  # F5
    store, proxy, _ = proxied
    cid = contact_id("p@client.com")
    batch = [Interaction(id=Interaction.id_for("graph", f"m{n}"), tenantId=A, channel="email",
                         at=T0 + timedelta(minutes=n), ownerOid="o", contactIds=[cid]) for n in range(20)]
    proxy.unavailable(after_forward=True, kind="write", times=3)  # the writes land, their answers are lost
    assert await store.put_many(batch) == 20
    assert sum(1 for s in proxy.seen if s.status == 503) == 3
    items = await store.find_all(Interaction, A, key=f"ct:{cid}")
    assert sorted(i.id for i in items) == sorted(i.id for i in batch)


async def test_503_after_a_conditional_write_landed_applies_it_once(proxied):  # F5 + F3
    store, proxy, _ = proxied
    e = await store.put(Enquiry(id="enq", tenantId=A))

    def bump(x: Enquiry) -> Enquiry:
        x.followUpCount += 1
        return x

    proxy.unavailable(after_forward=True, kind="write", method="PUT")
    # The SDK retries the replace; the retry meets 412 from our own landed write. Taking that for
    # someone else's write would re-read and increment a second time.
    result = await store.update(Enquiry, A, e.id, bump)
    assert result.followUpCount == 1
    assert (await store.get(Enquiry, A, e.id)).followUpCount == 1
    assert [s.status for s in proxy.seen if s.method == "PUT"] == [503, 412]


async def test_reset_after_a_create_landed_is_not_a_duplicate(proxied):  # F5
    store, proxy, _ = proxied
    proxy.reset(after_forward=True, kind="write", method="POST")
    item = await queued(store, A, "send", "draft-1:v1", {"n": 1})
    assert item.payload == {"n": 1} and item.etag
    # The create landed, its answer was cut; the retry met 409 from our own write and took it as done.
    assert [(s.fault, s.status) for s in proxy.seen if s.method == "POST" and s.kind == "write"] == [
        ("reset", None), (None, 409)]
    stored = await store.find_all(WorkItem, A)
    assert [w.id for w in stored] == [item.id]
    again = await queued(store, A, "send", "draft-1:v1", {"n": 2})
    assert again.payload == {"n": 1}


async def test_store_down_mid_request_is_unavailable_and_loses_nothing(proxied):
    store, proxy, sleeps = proxied
    kept = await store.put(Contact.new(A, "kept@client.com", name="Kept"))
    proxy.unavailable(times=None)
    with pytest.raises(StoreUnavailable) as err:
        await store.put(Contact.new(A, "new@client.com"))
    assert refusal(err.value).status == 503
    assert len(sleeps.waits) == 2  # three attempts, backing off between them
    proxy.clear()
    proxy.reset(times=None)
    with pytest.raises(StoreUnavailable):
        await store.get(Contact, A, kept.id)
    proxy.clear()
    assert (await store.get(Contact, A, kept.id)).name == "Kept"


async def test_store_down_at_start_up_then_back(cosmos_proxy: FaultProxy, cosmos_endpoint: str):
    database = f"f{uuid.uuid4().hex[:12]}"
    store = Store(CosmosBackend(cosmos_proxy.endpoint, key=EMULATOR_KEY, database=database, verify_tls=False,
                                sleep=Sleeps()))
    cosmos_proxy.reset(times=None)
    try:
        with pytest.raises(StoreUnavailable):
            await store.open()
        cosmos_proxy.clear()
        # The same store opens itself on the next call once Cosmos answers again.
        await store.put(Contact.new(A, "x@client.com", name="X"))
        assert (await store.contact_by_email(A, "x@client.com")).name == "X"
    finally:
        await store.close()
        await drop_database(cosmos_endpoint, database)


# --- configuration ------------------------------------------------------------------------------


async def test_made_from_settings(cosmos_env, cosmos_endpoint):
    env = cosmos_env()
    store = make_store(load_settings(env))
    assert store.name == "cosmos"
    await store.open()
    try:
        await store.ping()
        await store.put_tenant(Tenant(id=A, tenantId=A, name="Alder"))
        assert [t.name for t in await store.list_tenants()] == ["Alder"]
    finally:
        await store.close()
        await drop_database(cosmos_endpoint, env["COSMOS_DATABASE"])


def test_settings_reach_the_backend(cosmos_env):
    env = {k: v for k, v in cosmos_env(database="firmdb").items() if k not in ("COSMOS_KEY", "COSMOS_VERIFY_TLS")}
    backend = make_store(load_settings(env)).backend
    assert isinstance(backend, CosmosBackend)
    assert backend._key is None  # no key: managed identity (DefaultAzureCredential) at open()
    assert backend._verify_tls is True  # verified unless COSMOS_VERIFY_TLS=false
    assert backend.database_name == "firmdb"
    assert make_store(load_settings(cosmos_env())).backend._verify_tls is False
