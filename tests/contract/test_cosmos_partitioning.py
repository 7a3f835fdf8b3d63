"""Hierarchical partition keys for the families that grow without bound (docs/scale.md), on the
local Cosmos server: the container layout, full-key point operations, tenant-first queries, and a
container made before this layout (partitioned on /tenantId alone) still served as it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.cosmos import PartitionKey
from azure.cosmos.aio import CosmosClient

from rapport.records import Contact, Interaction, Meeting, contact_id
from rapport.store.base import Store
from rapport.store.cosmos import (
    BUCKETS,
    HIERARCHICAL_FAMILIES,
    INDEXING_POLICY,
    PK_FIELD,
    CosmosBackend,
    bucket,
)
from tests.doubles.cosmos_server import EMULATOR_KEY

pytestmark = pytest.mark.cosmos

A = "aaaaaaaa-0000-0000-0000-00000000000a"
B = "bbbbbbbb-0000-0000-0000-00000000000b"
T0 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


def _mail(tenant: str, n: int, email: str) -> Interaction:
    return Interaction(id=f"ix-{n}", tenantId=tenant, channel="email", at=T0 + timedelta(minutes=n),
                       ownerOid="o1", contactIds=[contact_id(email)], subject=f"Filing {n}")


async def _raw(endpoint: str, database: str, container: str):
    client = CosmosClient(endpoint, credential=EMULATOR_KEY, connection_verify=False)
    return client, client.get_database_client(database).get_container_client(container)


def test_buckets_are_stable_and_spread():
    ids = [f"ix_{n}" for n in range(BUCKETS * 100)]
    counts: dict[str, int] = {}
    for i in ids:
        counts[bucket(i)] = counts.get(bucket(i), 0) + 1
    assert bucket("ix_1") == bucket("ix_1")
    assert len(counts) == BUCKETS
    assert max(counts.values()) < 1.5 * 100  # no bucket takes half as much again as its share


async def test_growing_families_are_hierarchical_and_tenant_first(cosmos_endpoint, cosmos_database):
    store = await Store(CosmosBackend(cosmos_endpoint, key=EMULATOR_KEY, database=cosmos_database,
                                      verify_tls=False)).open()
    try:
        email = "rosa@client.example"
        await store.put(Contact.new(A, email))
        for n in range(30):
            await store.put(_mail(A, n, email))
            await store.put(_mail(B, n, email))  # the same ids in another tenant
        client, raw = await _raw(cosmos_endpoint, cosmos_database, "interactions")
        async with client:
            props = await raw.read()
            assert props["partitionKey"]["paths"] == ["/tenantId", f"/{PK_FIELD}"]
            assert props["partitionKey"]["kind"] == "MultiHash"
            stored = await raw.read_item("ix-7", partition_key=[A, bucket("ix-7")])  # the full key
            assert stored[PK_FIELD] == bucket("ix-7") and stored["tenantId"] == A
        contacts = await _raw(cosmos_endpoint, cosmos_database, "contacts")
        async with contacts[0]:
            assert (await contacts[1].read())["partitionKey"]["paths"] == ["/tenantId"]  # small family

        got = await store.get(Interaction, A, "ix-7")
        assert got is not None and got.tenantId == A and PK_FIELD not in got.model_dump()
        page = await store.interactions_for_contact(A, contact_id(email), limit=50)
        assert len(page.items) == 30 and {i.tenantId for i in page.items} == {A}
        await store.delete(Interaction, A, "ix-7")
        assert await store.get(Interaction, A, "ix-7") is None
        assert await store.get(Interaction, B, "ix-7") is not None  # B's document of that id stays
        assert await store.backend.purge_tenant(A) >= 30
        assert await store.get(Interaction, B, "ix-8") is not None
    finally:
        await store.close()


async def test_a_container_made_before_hierarchical_keys_is_used_as_it_is(cosmos_endpoint, cosmos_database):
    client = CosmosClient(cosmos_endpoint, credential=EMULATOR_KEY, connection_verify=False)
    async with client:
        db = await client.create_database_if_not_exists(cosmos_database)
        for family in sorted(HIERARCHICAL_FAMILIES):
            await db.create_container_if_not_exists(id=family, partition_key=PartitionKey(path="/tenantId"),
                                                    indexing_policy=INDEXING_POLICY)
    store = await Store(CosmosBackend(cosmos_endpoint, key=EMULATOR_KEY, database=cosmos_database,
                                      verify_tls=False)).open()
    try:
        email = "ana@client.example"
        await store.put(_mail(A, 1, email))
        await store.put(Meeting(id="m1", tenantId=A, eventId="e1", subject="Catch-up", start=T0,
                                end=T0 + timedelta(hours=1),
                                organizerOid="o1"))
        assert (await store.get(Interaction, A, "ix-1")) is not None
        assert len((await store.interactions_for_contact(A, contact_id(email))).items) == 1
        assert [m.id for m in await store.meetings_between(A, T0 - timedelta(days=1), T0 + timedelta(days=1))] == ["m1"]
        client, raw = await _raw(cosmos_endpoint, cosmos_database, "interactions")
        async with client:
            doc = await raw.read_item("ix-1", partition_key=A)  # still keyed by the tenant alone
            assert PK_FIELD not in doc
    finally:
        await store.close()
