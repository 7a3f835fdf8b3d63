"""The Cosmos DB backend (azure-cosmos, async): one database, one container per record family.

Layout: every container is partitioned on `/tenantId`, so each tenant is one logical partition of
each family. Every query is parameterized and names its tenant twice, as `c.tenantId = @tenantId`
in the WHERE clause *and* as the request's partition key (defense in depth; the local Cosmos server
ignores the partition-key header on queries, so the WHERE clause is what keeps tenants apart there).

What this relies on, and what it deliberately does not:
- ETags (`If-Match`) for optimistic concurrency; a 412 becomes errors.Conflict and Store.update re-reads
  and re-applies. Transactional batch, TTL and change feed are not used (the local server lacks them).
- Every write carries a fresh write mark. When a write is retried (by the SDK or here) after the
  first attempt landed but its answer was lost (503 mid-write, connection reset), the retry meets a
  409/412 from its own first attempt; reading the mark back tells "my write landed" from "someone
  else wrote first", so a retried write is neither duplicated nor reported as a false conflict.
- 429s are retried by the SDK, which waits the `x-ms-retry-after-ms` the service asks for (no fixed
  retry interval is configured, as one would override that header). Connection errors, timeouts and
  503s are retried a bounded number of times here and then surface as StoreUnavailable (a 503 at the HTTP boundary).
- Tenants are listed from a small directory container (partition `_directory`), written before a
  tenant document and removed last when a tenant is purged.

Partitioning (docs/scale.md has the capacity model behind it): a tenant's documents of one family
would share one logical partition, which Cosmos caps at 20 GB (and 10,000 RU/s); a large firm's
mail metadata passes that within a couple of years. So the families that grow without bound
(HIERARCHICAL_FAMILIES) get hierarchical partition keys: /tenantId, then /rapportPk, a bucket of
the document id. Every document of a tenant still shares the first level, so every query stays
tenant-first: on Cosmos DB it is given the tenant as a partition-key PREFIX and reads only that
tenant's physical partitions. The local server does not answer prefix queries ("missing partition
keys"); there the same query runs without a partition key and the WHERE filter on c.tenantId scopes
it (the only difference between the two, decided once per backend in `_query`). Point reads,
replaces and deletes give the full key, computed from the id. A container created before this
layout (partitioned on /tenantId alone) is detected when opened and used as it is.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from rapport import telemetry
from rapport.store.base import Backend
from rapport.store.cursor import cursor_in, cursor_out  # one cursor format: same meaning on both
from rapport.store.errors import AlreadyExists, Conflict, StoreUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

DIRECTORY = "tenant_directory"  # container of the tenant directory
DIRECTORY_PARTITION = "_directory"  # its one partition (never a real tenant id: those are GUIDs)
WRITE_MARK = "rapportWrite"  # per-write token, see the module docstring
PK_FIELD = "rapportPk"  # the second partition level of HIERARCHICAL_FAMILIES (module docstring)
SYSTEM_FIELDS = frozenset({"_rid", "_self", "_ts", "_attachments", "_etag", "_lsn", WRITE_MARK, PK_FIELD})
# The families whose documents grow with every mail and meeting (docs/scale.md): millions per firm.
HIERARCHICAL_FAMILIES = frozenset({"interactions", "meetings", "audit"})
# 256 logical partitions per tenant and family: 256 x 20 GB of room (a 5,000-lawyer firm's ten years
# of mail metadata is about 1.4 TB, docs/scale.md), and capture's write bursts spread over all of a
# tenant's physical partitions instead of one.
BUCKETS = 256


def bucket(doc_id: str) -> str:
    """The second partition level of a document: a stable bucket of its id, so a point read needs
    nothing but the id to build the full key."""
    return f"{int.from_bytes(hashlib.sha256(doc_id.encode('utf-8')).digest()[:4], 'big') % BUCKETS:02x}"
TENANT_FILTER = "c.tenantId = @tenantId"
# Cosmos refuses these in an id; such an id can only come from bad input, so a read treats it as missing.
_BAD_ID = re.compile(r"[/\\?#]")
# Status codes that mean "try again": timeout, throttled past the SDK's retries, server-side trouble.
_TRANSIENT = frozenset({408, 429, 449, 500, 502, 503, 504})

# ORDER BY on two properties needs a composite index (in Cosmos and in the local server, which
# wants the exact direction too, hence both).
INDEXING_POLICY: dict[str, Any] = {
    "indexingMode": "consistent",
    "automatic": True,
    "includedPaths": [{"path": "/*"}],
    "excludedPaths": [{"path": '/"_etag"/?'}],
    "compositeIndexes": [
        [{"path": "/ixAt", "order": "ascending"}, {"path": "/id", "order": "ascending"}],
        [{"path": "/ixAt", "order": "descending"}, {"path": "/id", "order": "descending"}],
    ],
}


def _clean(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored document as the Store expects it: the body plus `_etag`, no other system fields."""
    out = {k: v for k, v in doc.items() if k not in SYSTEM_FIELDS}
    out["_etag"] = doc.get("_etag")
    return out


def _brief(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text.splitlines()[0][:200] if text else ''}"


class CosmosBackend(Backend):
    name = "cosmos"

    def __init__(
        self, endpoint: str, *, key: str | None = None, database: str = "rapport", verify_tls: bool = True,
        attempts: int = 3, backoff_s: float = 0.2, sleep: Callable[[float], Awaitable[Any]] | None = None,
        write_width: int = 16, client_options: dict[str, Any] | None = None,
    ) -> None:
        if not endpoint:
            raise ValueError("a Cosmos endpoint is required")
        self.endpoint = endpoint
        self.database_name = database
        self._key = key
        self._verify_tls = verify_tls
        self._attempts = max(1, attempts)
        self._backoff_s = backoff_s
        self._sleep = sleep or asyncio.sleep
        self._write_width = max(1, write_width)
        self._client_options = dict(client_options or {})
        self._client: Any = None
        self._credential: Any = None
        self._database: Any = None
        self._containers: dict[str, Any] = {}
        self._hierarchical: dict[str, bool] = {}  # per family: the container's layout, read when opened
        self._prefix_queries = True  # False once the server refused a partition-key prefix (local server)
        self._known_tenants: set[str] = set()
        self._open_lock = asyncio.Lock()
        self._create_lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Any) -> CosmosBackend:
        """COSMOS_ENDPOINT, COSMOS_KEY (managed identity when unset), COSMOS_DATABASE, COSMOS_VERIFY_TLS."""
        if not settings.cosmos_endpoint:
            raise ValueError("setting COSMOS_ENDPOINT is required when RAPPORT_STORE=cosmos")
        return cls(
            settings.cosmos_endpoint, key=settings.cosmos_key, database=settings.cosmos_database,
            verify_tls=settings.cosmos_verify_tls,
        )

    # --- connection ------------------------------------------------------------------------

    async def open(self) -> None:
        await self._ensure_open()

    async def _ensure_open(self) -> Any:
        """The database proxy, opening the client first if needed. A store that was down at start-up
        is opened again by the next call, so the process recovers when it comes back."""
        if self._database is not None:
            return self._database
        async with self._open_lock:
            if self._database is not None:
                return self._database
            from azure.cosmos.aio import CosmosClient

            if self._key:
                credential: Any = self._key
            else:
                from azure.identity.aio import DefaultAzureCredential  # managed identity in Azure

                self._credential = credential = DefaultAzureCredential()
            options: dict[str, Any] = {
                "connection_verify": self._verify_tls,
                # 429: let the SDK wait what x-ms-retry-after-ms says, up to 9 times / 30 s in all.
                "retry_throttle_total": 9,
                "retry_throttle_backoff_max": 30,
                # Connection failures: a couple of quick retries in the SDK (its default is ten, a
                # second apart), then ours; an unreachable store answers 503 in about a second,
                # inside the Teams and add-in deadlines, instead of hanging the request.
                "retry_total": 2,
                "retry_backoff_factor": 0.2,
                "user_agent_suffix": "rapport",
            }
            options.update(self._client_options)
            client = CosmosClient(self.endpoint, credential=credential, **options)
            try:
                await self._call(client.__aenter__, "connect")
                database = await self._call(
                    lambda: client.create_database_if_not_exists(id=self.database_name), "open database"
                )
            except BaseException:
                await self._close_client(client)
                raise
            self._client = client
            self._database = database
            return database

    async def _close_client(self, client: Any) -> None:
        try:
            await client.close()
        except Exception:  # noqa: BLE001 - closing a broken client must not mask the real error
            log.debug("cosmos client close failed", exc_info=True)
        if self._credential is not None:
            try:
                await self._credential.close()
            except Exception:  # noqa: BLE001
                log.debug("credential close failed", exc_info=True)
            self._credential = None

    async def close(self) -> None:
        async with self._open_lock:
            if self._client is not None:
                await self._close_client(self._client)
            self._client = None
            self._database = None
            self._containers.clear()
            self._hierarchical.clear()
            self._known_tenants.clear()

    async def _call(self, op: Callable[[], Awaitable[T]], what: str) -> T:
        """Run one idempotent operation, retrying transient failures; then StoreUnavailable."""
        from azure.core.exceptions import AzureError, ClientAuthenticationError
        from azure.cosmos.exceptions import CosmosHttpResponseError

        last: BaseException | None = None
        op_name = what.split(" ", 1)[0]  # "read", "write", "find", ...: a fixed word, never an id
        for attempt in range(self._attempts):
            try:
                with telemetry.timed(telemetry.store_latency, **{"rapport.store.op": op_name}):
                    return await op()
            except CosmosHttpResponseError as exc:
                if exc.status_code in (401, 403):
                    raise StoreUnavailable(f"cosmos {what}: not authorized ({exc.status_code})") from None
                if exc.status_code not in _TRANSIENT:
                    raise
                if exc.status_code == 429:  # the SDK already waited and retried as told; give up
                    raise StoreUnavailable(f"cosmos {what}: throttled") from None
                last = exc
            except ClientAuthenticationError as exc:
                raise StoreUnavailable(f"cosmos {what}: credential failed: {_brief(exc)}") from None
            except (TimeoutError, AzureError, OSError) as exc:
                last = exc  # connection refused/reset, read timeout, DNS: the service is unreachable
            except Exception as exc:
                # aiohttp errors can escape the SDK's wrapping on some paths.
                if type(exc).__module__.startswith("aiohttp"):
                    last = exc
                else:
                    raise
            if attempt + 1 < self._attempts:
                await self._sleep(self._backoff_s * (2**attempt))
        assert last is not None
        log.warning("cosmos %s failed after %d attempts: %s", what, self._attempts, _brief(last))
        raise StoreUnavailable(f"cosmos {what}: {_brief(last)}")

    async def _container(self, family: str) -> Any:
        """The family's container, created (with its indexes) on first use and cached."""
        found = self._containers.get(family)
        if found is not None:
            return found
        database = await self._ensure_open()
        async with self._create_lock:
            found = self._containers.get(family)
            if found is not None:
                return found
            from azure.cosmos import PartitionKey
            from azure.cosmos.exceptions import CosmosResourceExistsError

            wanted = (PartitionKey(path=["/tenantId", f"/{PK_FIELD}"], kind="MultiHash")
                      if family in HIERARCHICAL_FAMILIES else PartitionKey(path="/tenantId"))

            async def create() -> Any:
                try:
                    return await database.create_container_if_not_exists(
                        id=family, partition_key=wanted, indexing_policy=INDEXING_POLICY
                    )
                except CosmosResourceExistsError:  # another process created it between read and create
                    return database.get_container_client(family)

            container = await self._call(create, f"open container {family}")
            # The layout the container HAS (one created before hierarchical keys keeps /tenantId).
            props = await self._call(container.read, f"read container {family}")
            paths = (props.get("partitionKey") or {}).get("paths") or ["/tenantId"]
            self._hierarchical[family] = len(paths) > 1
            self._containers[family] = container
            return container

    def _pk(self, family: str, tenant_id: str, doc_id: str) -> Any:
        """The full partition key of one document (after its container was opened)."""
        return [tenant_id, bucket(doc_id)] if self._hierarchical.get(family) else tenant_id

    # --- queries -----------------------------------------------------------------------------

    async def _query(
        self, container: Any, family: str, tenant_id: str, sql: str, params: dict[str, Any], what: str
    ) -> list[Any]:
        """All results of one query within a tenant.

        Refuses a query without the tenant filter: it is the only thing that scopes a query on the
        local server, and on Cosmos it keeps a wrong partition key from becoming a cross-tenant read.
        """
        from azure.cosmos.exceptions import CosmosHttpResponseError

        if TENANT_FILTER not in sql or params.get("@tenantId") != tenant_id:
            raise RuntimeError("refusing a Cosmos query without its c.tenantId = @tenantId filter")
        parameters = [{"name": k, "value": v} for k, v in params.items()]
        hierarchical = self._hierarchical.get(family, False)

        async def run() -> list[Any]:
            if not hierarchical:
                items = container.query_items(query=sql, parameters=parameters, partition_key=tenant_id)
            elif self._prefix_queries:  # PARTITION: the tenant's prefix: only its physical partitions
                items = container.query_items(query=sql, parameters=parameters, partition_key=[tenant_id])
            else:  # the local server: the WHERE filter on c.tenantId is what scopes it
                items = container.query_items(query=sql, parameters=parameters)
            return [item async for item in items]

        try:
            return await self._call(run, what)
        except CosmosHttpResponseError as exc:
            if not (hierarchical and self._prefix_queries and exc.status_code == 400
                    and "missing partition keys" in str(exc)):
                raise
            log.info("this Cosmos server does not answer partition-key prefix queries; scoping them by "
                     "the tenant filter alone (expected on the local server only)")
            self._prefix_queries = False
            return await self._call(run, what)

    # --- primitives --------------------------------------------------------------------------

    async def ping(self) -> None:
        database = await self._ensure_open()
        await self._call(database.read, "ping")

    async def get_doc(self, tenant_id: str, family: str, doc_id: str) -> dict[str, Any] | None:
        if not doc_id or _BAD_ID.search(doc_id) or not tenant_id:
            return None
        container = await self._container(family)
        doc = await self._read_item(container, self._pk(family, tenant_id, doc_id), doc_id, f"read {family}")
        if doc is None or doc.get("tenantId") != tenant_id:
            return None
        return _clean(doc)

    async def _read_item(self, container: Any, key: Any, doc_id: str, what: str) -> dict[str, Any] | None:
        """A point read (1 RU) under its full partition key, or None when there is no such document."""
        from azure.cosmos.exceptions import CosmosResourceNotFoundError

        async def read() -> dict[str, Any] | None:
            try:
                # This option (a header) is ignored by Cosmos DB on point reads; the local server needs it to
                # answer a missing document with 404 (without it, it fails with a 500). The read is
                # still keyed by (partition key, id) there, and get_doc re-checks the tenant.
                return await container.read_item(
                    doc_id, partition_key=key, request_options={"enableCrossPartitionQuery": True}
                )
            except CosmosResourceNotFoundError:
                return None

        return await self._call(read, what)

    def _body(self, family: str, tenant_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        if doc.get("tenantId") != tenant_id:
            raise ValueError("document tenantId does not match the partition it is written to")
        doc_id = doc.get("id")
        if not isinstance(doc_id, str) or not doc_id or _BAD_ID.search(doc_id):
            raise ValueError("document id is empty or has a character Cosmos DB refuses (/ \\ ? #)")
        body = {k: v for k, v in doc.items() if k not in SYSTEM_FIELDS}
        body.setdefault("ixKeys", [])
        body.setdefault("ixAt", "")
        body[WRITE_MARK] = uuid.uuid4().hex
        if self._hierarchical.get(family):
            body[PK_FIELD] = bucket(doc_id)
        return body

    async def _own_write(self, container: Any, key: Any, doc_id: str, mark: str) -> str | None:
        """The current ETag if the stored document carries our write mark (our retried write landed)."""
        current = await self._read_item(container, key, doc_id, "re-read after conflict")
        if current is not None and current.get(WRITE_MARK) == mark:
            return current.get("_etag")
        return None

    async def _remember_tenant(self, tenant_id: str) -> None:
        """Enter a tenant in the directory before its tenant document is written (so a crash in
        between leaves a directory entry without a tenant, which list_tenants skips, never the reverse)."""
        if tenant_id in self._known_tenants:
            return
        container = await self._container(DIRECTORY)
        entry = {"id": tenant_id, "tenantId": DIRECTORY_PARTITION, "docType": "directory"}
        await self._call(lambda: container.upsert_item(entry), "write tenant directory")
        self._known_tenants.add(tenant_id)

    async def put_doc(
        self, tenant_id: str, family: str, doc: dict[str, Any], *, if_match: str | None = None,
        create_only: bool = False,
    ) -> str:
        from azure.core import MatchConditions
        from azure.cosmos.exceptions import (
            CosmosAccessConditionFailedError,
            CosmosResourceExistsError,
            CosmosResourceNotFoundError,
        )

        if family == "tenants":
            await self._remember_tenant(tenant_id)
        container = await self._container(family)  # first: the body depends on the container's layout
        body = self._body(family, tenant_id, doc)
        mark = body[WRITE_MARK]
        key = self._pk(family, tenant_id, body["id"])

        async def write() -> dict[str, Any]:
            if create_only:
                return await container.create_item(body)
            if if_match is not None:
                return await container.replace_item(
                    body["id"], body, etag=if_match, match_condition=MatchConditions.IfNotModified
                )
            return await container.upsert_item(body)

        try:
            result = await self._call(write, f"write {family}")
        except CosmosResourceExistsError:
            landed = await self._own_write(container, key, body["id"], mark)
            if landed is not None:
                return landed
            raise AlreadyExists(body["id"]) from None
        except (CosmosAccessConditionFailedError, CosmosResourceNotFoundError):
            # 412: someone else wrote since the ETag was read; 404: the document is gone. Either way
            # the write bound to that ETag must not land, unless it already did (our retried write).
            landed = await self._own_write(container, key, body["id"], mark)
            if landed is not None:
                return landed
            raise Conflict() from None
        return result.get("_etag") or ""

    async def put_docs(self, tenant_id: str, family: str, docs: Sequence[dict[str, Any]]) -> None:
        if not docs:
            return
        if family == "tenants":
            await self._remember_tenant(tenant_id)
        container = await self._container(family)
        bodies = [self._body(family, tenant_id, d) for d in docs]

        async def upsert(body: dict[str, Any]) -> None:
            await self._call(lambda: container.upsert_item(body), f"bulk write {family}")

        # Upserts of deterministic ids: a failed bulk write can simply be run again.
        await self._each(bodies, upsert)

    async def _each(self, items: Iterable[T], fn: Callable[[T], Awaitable[Any]]) -> None:
        """Run fn over items with bounded concurrency; stop early and raise the first failure."""
        it = iter(items)
        errors: list[BaseException] = []

        async def worker() -> None:
            for item in it:  # one shared iterator: each item is taken by exactly one worker
                if errors:
                    return
                try:
                    await fn(item)
                except Exception as exc:  # noqa: BLE001 - re-raised below
                    errors.append(exc)
                    return

        await asyncio.gather(*(worker() for _ in range(self._write_width)))
        if errors:
            raise errors[0]

    async def delete_doc(self, tenant_id: str, family: str, doc_id: str) -> None:
        if not doc_id or _BAD_ID.search(doc_id):
            return
        container = await self._container(family)
        await self._delete(container, self._pk(family, tenant_id, doc_id), doc_id, f"delete {family}")

    async def _delete(self, container: Any, key: Any, doc_id: str, what: str) -> bool:
        from azure.cosmos.exceptions import CosmosResourceNotFoundError

        async def delete() -> bool:
            try:
                await container.delete_item(doc_id, partition_key=key)
                return True
            except CosmosResourceNotFoundError:  # already gone (or a retry of a delete that landed)
                return False

        return await self._call(delete, what)

    async def find_docs(
        self, tenant_id: str, family: str, doc_type: str, *, key: str | None = None,
        at_from: str | None = None, at_to: str | None = None, desc: bool = False, limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        limit = max(1, min(int(limit), 1000))
        where = [TENANT_FILTER, "c.docType = @docType"]
        params: dict[str, Any] = {"@tenantId": tenant_id, "@docType": doc_type, "@top": limit + 1}
        if key is not None:
            where.append("ARRAY_CONTAINS(c.ixKeys, @key)")
            params["@key"] = key
        if at_from is not None:
            where.append("c.ixAt >= @atFrom")
            params["@atFrom"] = at_from
        if at_to is not None:
            where.append("c.ixAt < @atTo")
            params["@atTo"] = at_to
        if cursor:
            # Keyset paging on (ixAt, id), exactly as SQLite pages: a page starts strictly after the
            # last row of the previous one, so writes between pages cause neither duplicates nor gaps.
            c_at, c_id = cursor_in(cursor)
            op = "<" if desc else ">"
            where.append(f"(c.ixAt {op} @curAt OR (c.ixAt = @curAt AND c.id {op} @curId))")
            params["@curAt"] = c_at
            params["@curId"] = c_id
        order = "DESC" if desc else "ASC"
        # PARTITION: the tenant's logical partition, or its prefix for a hierarchical family.
        sql = (
            f"SELECT TOP @top * FROM c WHERE {' AND '.join(where)} "
            f"ORDER BY c.ixAt {order}, c.id {order}"
        )
        container = await self._container(family)
        rows = await self._query(container, family, tenant_id, sql, params, f"find {family}")
        more = len(rows) > limit
        rows = rows[:limit]
        out = [_clean(r) for r in rows]
        nxt = cursor_out(rows[-1].get("ixAt", ""), rows[-1]["id"]) if more else None
        return out, nxt

    async def list_tenant_ids(self) -> list[str]:
        container = await self._container(DIRECTORY)
        # PARTITION: the whole directory is one small logical partition (one entry per firm).
        sql = f"SELECT VALUE c.id FROM c WHERE {TENANT_FILTER} ORDER BY c.id"
        ids = await self._query(container, DIRECTORY, DIRECTORY_PARTITION, sql, {"@tenantId": DIRECTORY_PARTITION},
                                "list tenants")
        return [str(i) for i in ids]

    async def purge_tenant(self, tenant_id: str) -> int:
        """Delete every document of a tenant, one by one (no batch or partition delete on the local
        server), in rounds of a few hundred; safe to run again after a failure."""
        from rapport.records import FAMILIES

        if not tenant_id or tenant_id == DIRECTORY_PARTITION:
            raise ValueError("not a tenant id")
        total = 0
        for family in FAMILIES:
            container = await self._container(family)
            # PARTITION: scans the tenant's logical partition of this family.
            sql = f"SELECT TOP 500 VALUE c.id FROM c WHERE {TENANT_FILTER}"
            while True:
                ids = await self._query(container, family, tenant_id, sql, {"@tenantId": tenant_id}, f"purge {family}")
                if not ids:
                    break
                deleted: list[bool] = []

                async def one(doc_id: str, container: Any = container, deleted: list[bool] = deleted,
                              family: str = family) -> None:
                    deleted.append(await self._delete(container, self._pk(family, tenant_id, doc_id), doc_id,
                                                      "purge"))

                await self._each(ids, one)
                total += sum(deleted)
                if not any(deleted):  # everything listed was already gone: do not spin
                    break
        directory = await self._container(DIRECTORY)
        await self._delete(directory, DIRECTORY_PARTITION, tenant_id, "purge directory entry")  # not hierarchical
        self._known_tenants.discard(tenant_id)
        return total
