"""Export, import and purge of a firm (rapport.firmdata, `rapport tenant export|import|purge`).

- export -> purge -> a fresh store -> import gives equal records, on SQLite and on the local Cosmos
  server, and an export from SQLite imported into Cosmos is the way a firm moves (equal records);
- a second import changes nothing;
- a corrupted export (checksum, truncated file, another tenant's records, another tenant's
  manifest) is refused before anything is written;
- purge needs the typed confirmation, deletes the firm's Graph subscriptions (the Graph stand-in)
  and leaves one audit line outside the firm's data, with no personal data in it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import pytest

from local.commands.firmdata import export_command, import_command, purge_command
from local.demo.data import DEMO_TENANT_ID
from rapport.firmdata import Refused
from rapport.firmdata.portability import MANIFEST, export_tenant, import_tenant
from rapport.firmdata.purge import purge_audit, purge_tenant
from rapport.records import (
    FAMILIES,
    ROUTES_PARTITION,
    SYSTEM_PARTITION,
    Contact,
    Subscription,
    SubscriptionRoute,
    Tenant,
)
from rapport.settings import load_settings
from rapport.store.base import Store
from rapport.store.cosmos import CosmosBackend
from rapport.store.sqlite import SqliteBackend
from tests.doubles.cosmos_server import EMULATOR_KEY, drop_database

T = DEMO_TENANT_ID
OTHER = "0b0b0b0b-0000-4000-8000-00000000000b"


async def snapshot(store: Store, tenant_id: str) -> dict[str, list[dict]]:
    """Every record of a firm, family by family, as plain data (no ETags)."""
    out: dict[str, list[dict]] = {}
    for family in FAMILIES:
        out[family] = sorted([r.model_dump(mode="json") | {"_type": r.doc_type}
                              async for r in store.scan_records(tenant_id, family)], key=lambda d: d["id"])
    return out


async def nothing_of(store: Store, tenant_id: str) -> bool:
    for family in FAMILIES:
        if (await store.scan(tenant_id, family, limit=1)).items:
            return False
    return True


async def add_other_firm(store: Store) -> None:
    await store.put_tenant(Tenant(id=OTHER, tenantId=OTHER, name="Other LLP", domains=["other.test"]))
    await store.put(Contact.new(OTHER, "someone@client.test", name="Other's Contact"))


def sqlite_store(path: Path) -> Store:
    return Store(SqliteBackend(str(path)))


@pytest.fixture
async def fresh_cosmos(cosmos_endpoint):
    made: list[str] = []

    async def make() -> Store:
        name = f"x{uuid.uuid4().hex[:12]}"
        made.append(name)
        return await Store(CosmosBackend(cosmos_endpoint, key=EMULATOR_KEY, database=name, verify_tls=False)).open()

    yield make
    for name in made:
        await drop_database(cosmos_endpoint, name)


async def test_export_purge_import_gives_equal_records_on_sqlite(demo_store, tmp_path):
    await add_other_firm(demo_store)
    before = await snapshot(demo_store, T)
    assert sum(map(len, before.values())) > 500 and len([f for f in before if before[f]]) >= 8
    seen: list[tuple[str, int]] = []
    report = await export_tenant(demo_store, T, tmp_path / "export", progress=lambda f, n: seen.append((f, n)))
    manifest = json.loads((tmp_path / "export" / MANIFEST).read_text())
    assert manifest["tenantId"] == T and manifest["schemaVersion"] == 1 and manifest["exportedAt"]
    for family in FAMILIES:
        entry = manifest["families"][family]
        data = (tmp_path / "export" / entry["file"]).read_bytes()
        assert entry["count"] == len(before[family]) == data.count(b"\n")
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert report.total == sum(map(len, before.values())) and {f for f, _ in seen} == set(FAMILIES)
    assert OTHER.encode() not in b"".join((tmp_path / "export" / f"{fam}.jsonl").read_bytes() for fam in FAMILIES)

    done = await purge_tenant(demo_store, T, confirm=T, graph=None)
    assert done.records == report.total
    assert await nothing_of(demo_store, T)
    assert await demo_store.contact_by_email(OTHER, "someone@client.test") is not None  # the other firm stays

    fresh = await sqlite_store(tmp_path / "fresh.db").open()
    try:
        await import_tenant(fresh, tmp_path / "export", T)
        assert await snapshot(fresh, T) == before
        assert [t.id for t in await fresh.list_tenants()] == [T]
        await import_tenant(fresh, tmp_path / "export", T)  # again: nothing changes
        assert await snapshot(fresh, T) == before
    finally:
        await fresh.close()


def sample_export(src: Path, dst: Path, per_family: int = 12) -> None:
    """The first records of each family of an export, with a manifest that fits (the local Cosmos
    server takes one HTTP request per record: the whole demo firm would take minutes)."""
    dst.mkdir()
    manifest = json.loads((src / MANIFEST).read_text())
    for entry in manifest["families"].values():
        data = b"".join((src / entry["file"]).read_bytes().splitlines(keepends=True)[:per_family])
        (dst / entry["file"]).write_bytes(data)
        entry.update(count=data.count(b"\n"), sha256=hashlib.sha256(data).hexdigest())
    (dst / MANIFEST).write_text(json.dumps(manifest))


async def test_a_firm_moves_from_sqlite_to_cosmos_and_back_through_purge(demo_store, tmp_path, fresh_cosmos):
    await export_tenant(demo_store, T, tmp_path / "whole")
    sample_export(tmp_path / "whole", tmp_path / "sample")
    sqlite = await sqlite_store(tmp_path / "firm.db").open()
    try:
        await import_tenant(sqlite, tmp_path / "sample", T)
        before = await snapshot(sqlite, T)
        await export_tenant(sqlite, T, tmp_path / "export")  # the firm's own export from its SQLite store
    finally:
        await sqlite.close()
    assert len([f for f in before if before[f]]) >= 10
    cosmos = await fresh_cosmos()
    try:
        await import_tenant(cosmos, tmp_path / "export", T)
        assert await snapshot(cosmos, T) == before
        assert [t.id for t in await cosmos.list_tenants()] == [T]
        # On Cosmos too: export -> purge -> a fresh store -> import gives equal records.
        await export_tenant(cosmos, T, tmp_path / "from-cosmos")
        await purge_tenant(cosmos, T, confirm=before["tenants"][0]["name"], graph=None)
        assert await nothing_of(cosmos, T) and await cosmos.list_tenants() == []
        assert len(await purge_audit(cosmos, T)) == 1
    finally:
        await cosmos.close()
    again = await fresh_cosmos()
    try:
        await import_tenant(again, tmp_path / "from-cosmos", T)
        assert await snapshot(again, T) == before
        await import_tenant(again, tmp_path / "from-cosmos", T)  # again: nothing changes
        assert await snapshot(again, T) == before
    finally:
        await again.close()


# --- a corrupted export is refused before any write ---------------------------------------------


def _rewrite(export: Path, family: str, change, *, fix_manifest: bool) -> None:
    path = export / f"{family}.jsonl"
    path.write_bytes(change(path.read_bytes()))
    if fix_manifest:  # a forger who also fixed the manifest: the records themselves must be checked
        manifest = json.loads((export / MANIFEST).read_text())
        data = path.read_bytes()
        manifest["families"][family].update(count=data.count(b"\n"), sha256=hashlib.sha256(data).hexdigest())
        (export / MANIFEST).write_text(json.dumps(manifest))


def _other_tenant_line(data: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    doc = json.loads(lines[-1])
    doc["tenantId"] = OTHER
    return b"".join(lines[:-1]) + json.dumps(doc).encode() + b"\n"


CORRUPTIONS = {
    "checksum": (lambda d: d.replace(b"Head", b"Hexd", 1), False, "checksum"),
    "truncated": (lambda d: d[:-40], False, "cut short"),
    "truncated at a line": (lambda d: d[: d.rindex(b"\n", 0, len(d) - 1) + 1], False, "holds"),
    "another tenant's record": (_other_tenant_line, True, "another tenant"),
    "not a record": (lambda d: d + b'{"id":"x","tenantId":"' + T.encode() + b'","docType":"contact"}\n', True,
                     "not a valid contact"),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
async def test_a_corrupted_export_is_refused_before_any_write(demo_store, tmp_path, kind):
    await export_tenant(demo_store, T, tmp_path / "export")
    change, fix, reason = CORRUPTIONS[kind]
    _rewrite(tmp_path / "export", "contacts", change, fix_manifest=fix)
    fresh = await sqlite_store(tmp_path / "fresh.db").open()
    try:
        with pytest.raises(Refused, match=reason):
            await import_tenant(fresh, tmp_path / "export", T)
        assert await nothing_of(fresh, T) and await fresh.list_tenants() == []
    finally:
        await fresh.close()


async def test_an_export_of_another_tenant_is_refused(demo_store, tmp_path, capsys):
    await export_tenant(demo_store, T, tmp_path / "export")
    settings = load_settings({"RAPPORT_SQLITE_PATH": str(tmp_path / "fresh.db")})
    assert await import_command(settings, tmp_path / "export", OTHER) == 2
    assert "another tenant" in capsys.readouterr().err
    fresh = await sqlite_store(tmp_path / "fresh.db").open()
    try:
        assert await nothing_of(fresh, OTHER) and await nothing_of(fresh, T)
    finally:
        await fresh.close()
    (tmp_path / "empty").mkdir()
    assert await import_command(settings, tmp_path / "empty", T) == 2  # no manifest: not an export


async def test_cli_export_import_and_purge(tmp_path, demo_db, capsys, monkeypatch):
    import shutil

    shutil.copyfile(demo_db, tmp_path / "a.db")
    a = load_settings({"RAPPORT_SQLITE_PATH": str(tmp_path / "a.db")})
    b = load_settings({"RAPPORT_SQLITE_PATH": str(tmp_path / "b.db")})
    assert await export_command(a, T, tmp_path / "out") == 0
    out = capsys.readouterr()
    assert "exported" in out.out and "contacts" in out.err  # progress on stderr
    assert await export_command(a, T, tmp_path / "out") == 2  # never over an existing export
    assert await export_command(a, OTHER, tmp_path / "out2") == 2  # unknown tenant
    assert await import_command(b, tmp_path / "out", T) == 0
    # Purge: without the exact typed confirmation, exit 2 and nothing deleted.
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert await purge_command(a, T, None) == 2
    assert await purge_command(a, T, T.upper()) == 2
    assert await purge_command(a, T, "Harrow") == 2
    store = await sqlite_store(tmp_path / "a.db").open()
    try:
        assert not await nothing_of(store, T)
    finally:
        await store.close()
    assert await purge_command(a, T, T) == 0
    store = await sqlite_store(tmp_path / "a.db").open()
    try:
        assert await nothing_of(store, T)
        (line,) = await purge_audit(store, T)
        assert line.tenantId == SYSTEM_PARTITION and line.actorOid == "cli" and line.details["state"] == "done"
    finally:
        await store.close()


async def test_purge_deletes_the_firms_graph_subscriptions_and_leaves_one_audit_line(
        graph_host, capture_store, graph, graph_standin, graph_firm):
    from tests.test_webhooks import subscribed_firm

    await subscribed_firm(graph_firm, capture_store, graph, graph_host, "t-a", "firm-a.test", ["ann", "bob"])
    await subscribed_firm(graph_firm, capture_store, graph, graph_host, "t-b", "firm-b.test", ["cat"])
    assert len(graph_standin.subscriptions) == 6
    ours = [s for s in graph_standin.subscriptions.values() if s["_user"] != graph_standin.mailbox("cat@firm-b.test").oid]
    with pytest.raises(Refused):
        await purge_tenant(capture_store, "t-a", confirm="firm-a", graph=graph)
    assert len(graph_standin.subscriptions) == 6
    report = await purge_tenant(capture_store, "t-a", confirm="firm-a.test", graph=graph, actor="admin-api")
    assert report.subscriptions == 4
    assert len(graph_standin.subscriptions) == 2  # only the other firm's remain at Graph
    for s in ours:
        assert await capture_store.get(SubscriptionRoute, ROUTES_PARTITION, s["id"]) is None
    assert await capture_store.find_all(Subscription, "t-b")
    (line,) = await purge_audit(capture_store, "t-a")
    text = line.model_dump_json()
    assert line.details == {"state": "done", "records": report.records, "subscriptions": 4}
    for personal in ("ann", "bob", "firm-a.test", graph_standin.mailbox("ann@firm-a.test").oid):
        assert personal not in text


async def test_import_rederives_the_webhook_routes(graph_host, capture_store, graph, graph_standin, graph_firm,
                                                    tmp_path):
    from tests.test_webhooks import subscribed_firm

    await subscribed_firm(graph_firm, capture_store, graph, graph_host, "t-a", "firm-a.test", ["ann"])
    routes = {s.id: await capture_store.get(SubscriptionRoute, ROUTES_PARTITION, s.id)
              for s in await capture_store.find_all(Subscription, "t-a")}
    await export_tenant(capture_store, "t-a", tmp_path / "export")
    fresh = await sqlite_store(tmp_path / "fresh.db").open()
    try:
        await import_tenant(fresh, tmp_path / "export", "t-a")
        for sid, route in routes.items():
            got = await fresh.get(SubscriptionRoute, ROUTES_PARTITION, sid)
            assert got.model_dump() == route.model_dump()
    finally:
        await fresh.close()
