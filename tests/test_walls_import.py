"""Walls from the firm's walls system (issue 15, item 1): import, sync, fail closed when stale.

Every test runs on SQLite and on the local Cosmos server (the `store` fixture). The walls' effect
on every surface at once is tests/test_walls_surfaces.py.
"""

from __future__ import annotations

import io
import json
import logging
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from local.cli import main
from rapport.firm.rows import ImportFileError
from rapport.firm.walls import COLUMNS, import_walls, walls_watch
from rapport.records import Account, AuditEvent, Matter, Person, Tenant, TenantSettings, Wall, account_id
from rapport.store import ScopedStore, make_store
from rapport.store.base import Store
from rapport.store.cosmos import CosmosBackend
from rapport.store.sqlite import SqliteBackend
from tests.doubles.cosmos_server import EMULATOR_KEY, drop_database

T = "aaaaaaaa-0000-4000-8000-0000000000f1"
ANNA, BEN, CARL = "oid-anna", "oid-ben", "oid-carl"  # Carl has no Person record yet: known by UPN only
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(name="store", params=["sqlite", pytest.param("cosmos", marks=pytest.mark.cosmos)])
async def store_fixture(request, tmp_path):
    """A fresh Store on SQLite, and on the local Cosmos server (a database per test)."""
    database = None
    if request.param == "sqlite":
        s = Store(SqliteBackend(str(tmp_path / "walls.db")))
    else:
        endpoint = request.getfixturevalue("cosmos_endpoint")
        database = f"w{uuid.uuid4().hex[:12]}"
        s = Store(CosmosBackend(endpoint, key=EMULATOR_KEY, database=database, verify_tls=False))
    await s.open()
    try:
        yield s
    finally:
        await s.close()
        if database:
            await drop_database(endpoint, database)


async def seed(store: Store, **settings) -> None:
    await store.put_many([
        Tenant(id=T, tenantId=T, name="Firm", domains=["firm.test"], settings=TenantSettings(**settings)),
        Person(id=ANNA, tenantId=T, oid=ANNA, upn="anna@firm.test", name="Anna A"),
        Person(id=BEN, tenantId=T, oid=BEN, upn="ben@firm.test", name="Ben B"),
        Account.new(T, "halcyon.test", name="Halcyon Ltd", kind="client"),
        Account.new(T, "acme.test", name="Acme Corp", kind="client"),
        Matter(id=Matter.id_for("M-1"), tenantId=T, accountId=account_id("acme.test"), reference="M-1", title="Acme TM"),
    ])


def csv_text(rows: list[dict]) -> str:
    head = ["wall_id", "name", "matters", "clients", "accounts", "insiders", "excluded", "status"]
    return "\n".join([",".join(head)] + [",".join(str(r.get(h, "")) for h in head) for r in rows]) + "\n"


async def sees(store: Store, oid: str) -> tuple[bool, bool, bool]:
    """(Halcyon account, Acme account, matter M-1 of Acme) as this viewer sees them."""
    s = ScopedStore(store, T, oid)
    return (await s.account(account_id("halcyon.test")) is not None,
            await s.account(account_id("acme.test")) is not None,
            await s.get(Matter, Matter.id_for("M-1")) is not None)


async def test_exclusionary_and_inclusionary_walls_by_upn(store):
    await seed(store)
    text = csv_text([
        {"wall_id": "W1", "name": "Halcyon v Acme", "clients": "halcyon.test", "excluded": "anna@firm.test;carl@firm.test"},
        {"wall_id": "W2", "accounts": "acme corp", "matters": "M-1", "insiders": "ben@firm.test"},
    ])
    report = await import_walls(store, T, io.StringIO(text), now=NOW)
    assert (report.bad, report.created, report.walls) == (0, 2, 2) and not report.refused
    assert await sees(store, ANNA) == (False, False, False)  # W1 screens her; W2 has insiders, she is not one
    assert await sees(store, BEN) == (True, True, True)  # insider of W2, not named in W1
    # Carl had no Person when the walls came in: the wall holds his UPN, and screens him once he exists.
    await store.put(Person(id=CARL, tenantId=T, oid=CARL, upn="Carl@Firm.test", name="Carl C"))
    assert await sees(store, CARL) == (False, False, False)
    w1 = await store.get(Wall, T, Wall.id_for("W1"))
    assert w1.screenedOids == [ANNA] and w1.screenedUpns == ["anna@firm.test", "carl@firm.test"]
    assert (await store.get_tenant(T)).wallsSyncedAt == NOW
    audit = (await store.find(AuditEvent, T, key="action:admin.walls.import")).items
    assert len(audit) == 1 and audit[0].details["created"] == 2
    # Imported again, W1 also holds Carl's oid; a third time the same file changes nothing (and
    # still records the sync).
    again = await import_walls(store, T, io.StringIO(text), now=NOW)
    assert (again.created, again.updated, again.unchanged) == (0, 1, 1)
    assert (await store.get(Wall, T, Wall.id_for("W1"))).screenedOids == [ANNA, CARL]
    again = await import_walls(store, T, io.StringIO(text), now=NOW + timedelta(hours=1))
    assert (again.created, again.updated, again.unchanged, again.written) == (0, 0, 2, 0)
    assert (await store.get_tenant(T)).wallsSyncedAt == NOW + timedelta(hours=1)


async def test_a_full_import_ends_walls_it_does_not_list_a_partial_one_does_not(store):
    await seed(store)
    both = csv_text([{"wall_id": "W1", "clients": "halcyon.test", "excluded": "anna@firm.test"},
                     {"wall_id": "W2", "clients": "acme.test", "excluded": "anna@firm.test"}])
    await import_walls(store, T, io.StringIO(both), now=NOW)
    assert await sees(store, ANNA) == (False, False, False)
    only_w1 = csv_text([{"wall_id": "W1", "clients": "halcyon.test", "excluded": "anna@firm.test"}])
    partial = await import_walls(store, T, io.StringIO(only_w1), now=NOW)
    assert partial.ended == 0 and await sees(store, ANNA) == (False, False, False)
    full = await import_walls(store, T, io.StringIO(only_w1), full=True, now=NOW)
    assert full.ended == 1 and await sees(store, ANNA) == (False, True, True)
    assert (await store.get(Wall, T, Wall.id_for("W2"))).endedAt == NOW
    # A status column ends a wall too (a push of one change), and listing it again reopens it.
    await import_walls(store, T, io.StringIO(csv_text([{"wall_id": "W1", "status": "inactive"}])), now=NOW)
    assert await sees(store, ANNA) == (True, True, True)
    await import_walls(store, T, io.StringIO(only_w1), now=NOW)
    assert await sees(store, ANNA) == (False, True, True)


async def test_a_bad_row_never_lifts_a_screen(store):
    """With --skip-bad-rows and --full, a wall whose row is bad is kept as it was; a bad row without
    a readable wall id makes the full import end nothing."""
    await seed(store)
    both = csv_text([{"wall_id": "W1", "clients": "halcyon.test", "excluded": "anna@firm.test"},
                     {"wall_id": "W2", "clients": "acme.test", "excluded": "anna@firm.test"}])
    await import_walls(store, T, io.StringIO(both), now=NOW)
    w2_bad = csv_text([{"wall_id": "W1", "clients": "halcyon.test", "excluded": "anna@firm.test"},
                       {"wall_id": "W2", "clients": "acme.test", "excluded": "not-a-upn"}])
    r = await import_walls(store, T, io.StringIO(w2_bad), full=True, now=NOW)
    assert r.refused and r.written == 0 and [p.line for p in r.problems] == [3]
    r = await import_walls(store, T, io.StringIO(w2_bad), full=True, skip_bad=True, now=NOW)
    assert not r.refused and r.ended == 0 and await sees(store, ANNA) == (False, False, False)
    no_id = csv_text([{"wall_id": "W1", "clients": "halcyon.test", "excluded": "anna@firm.test"},
                      {"wall_id": "", "clients": "acme.test", "excluded": "anna@firm.test"}])
    r = await import_walls(store, T, io.StringIO(no_id), full=True, skip_bad=True, now=NOW)
    assert r.ended == 0 and any("ends no wall" in n for n in r.notes)
    assert await sees(store, ANNA) == (False, False, False)


async def test_a_stale_sync_fails_closed_and_alerts_once(store, caplog):
    await seed(store, wallsMaxAgeHours=24)
    # Ben is screened; Anna is an insider of the inclusionary W2; nobody names Carl.
    await import_walls(store, T, io.StringIO(csv_text([
        {"wall_id": "W1", "clients": "halcyon.test", "excluded": "ben@firm.test"},
        {"wall_id": "W2", "clients": "acme.test", "insiders": "anna@firm.test;ben@firm.test"}])), now=NOW)
    await store.put(Person(id=CARL, tenantId=T, oid=CARL, upn="carl@firm.test", name="Carl C"))
    fresh = await store.get_tenant(T)
    fresh.wallsSyncedAt = datetime.now(UTC) - timedelta(hours=23)
    await store.put(fresh)
    assert await sees(store, ANNA) == (True, True, True) and await sees(store, CARL) == (True, False, False)
    assert await walls_watch(store) == 0
    stale = await store.get_tenant(T)
    stale.wallsSyncedAt = datetime.now(UTC) - timedelta(hours=25)
    await store.put(stale)
    # Stale: every wall screens everyone but its insiders (Anna is W2's insider, not W1's).
    assert await sees(store, ANNA) == (False, True, True)
    assert await sees(store, CARL) == (False, False, False)
    caplog.clear()
    assert await walls_watch(store) == 1
    assert await walls_watch(store) == 0  # once per stale episode
    alerts = [r for r in caplog.records if r.levelno >= logging.ERROR and r.getMessage().startswith("ALERT")]
    assert len(alerts) == 1 and T in alerts[0].getMessage() and getattr(alerts[0], "alert", False)
    assert len((await store.find(AuditEvent, T, key="action:walls.stale")).items) == 1
    # The next sync lifts the fail-closed rule.
    await import_walls(store, T, io.StringIO(csv_text([
        {"wall_id": "W1", "clients": "halcyon.test", "excluded": "ben@firm.test"}])), now=datetime.now(UTC))
    assert await sees(store, CARL) == (True, False, False)
    # A firm that never synced, with a maximum age set, is stale from the start.
    never = await store.get_tenant(T)
    never.wallsSyncedAt = None
    await store.put(never)
    assert await sees(store, CARL) == (False, False, False)


# --- generated files ------------------------------------------------------------------------------

BAD = {  # planted bad rows: kind -> (cells, the reason's words)
    "upn": ({"excluded": "anna at firm"}, "not a user principal name"),
    "domain": ({"clients": "not a domain!"}, "not a mail domain"),
    "status": ({"status": "maybe"}, "not active or inactive"),
    "empty": ({"clients": "", "matters": "", "accounts": ""}, "screens nothing"),
    "nobody": ({"excluded": "", "insiders": ""}, "names no insiders"),
    "fields": (None, "fields, the header has"),
}


def generate(path: Path, n: int, *, seed: int = 7, jsonl: bool = False) -> dict[int, str]:
    """A walls export of n rows (one wall per row) with planted bad rows: {line: expected reason}."""
    rng = random.Random(seed)
    bad: dict[int, str] = {}
    lines = [] if jsonl else ["wall_id,name,matters,clients,accounts,insiders,excluded,status"]
    for i in range(n):
        line = i + (1 if jsonl else 2)
        row = {"wall_id": f"W{i}", "name": f"Wall {i}", "matters": f"M-{i};M-{i + 1}",
               "clients": f"c{i}.test|c{i + 7}.test", "accounts": "", "insiders": "",
               "excluded": f"p{i % 50}@firm.test;anna@firm.test", "status": "active"}
        if i % 3 == 0:
            row["insiders"], row["excluded"] = row["excluded"], ""
        kind = rng.choice(list(BAD)) if rng.random() < 0.01 else None
        if kind is not None:
            bad[line] = BAD[kind][1]
            if BAD[kind][0] is None:
                lines.append(f"W{i},too,few" if not jsonl else "[1, 2]")
                bad[line] = "fields, the header has" if not jsonl else "not a JSON object"
                continue
            row.update(BAD[kind][0])
        if jsonl:
            row["matters"] = row["matters"].split(";")  # JSON arrays and ";" text both work
            lines.append(json.dumps(row))
        else:
            lines.append(",".join(f'"{v}"' if "," in v else v for v in row.values()))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return bad


ROWS = {"sqlite": 10_000, "cosmos": 1_000}


@pytest.mark.parametrize("jsonl", [False, True], ids=["csv", "jsonl"])
async def test_a_generated_10000_row_file_reports_each_planted_bad_row(store, tmp_path, jsonl):
    await seed(store)
    # 10,000 rows on SQLite; 1,000 on the local Cosmos stand-in (the same reader and checks: what the
    # store adds is the write and the read back, and the stand-in writes ~10 walls/s on this machine).
    n = ROWS[store.name]
    path = tmp_path / ("walls.jsonl" if jsonl else "walls.csv")
    planted = generate(path, n, jsonl=jsonl)
    assert n // 200 < len(planted) < n // 50
    seen: list = []
    with path.open(encoding="utf-8") as f:
        r = await import_walls(store, T, f, full=True, on_bad=seen.append, now=NOW)
    assert r.refused and r.written == 0 and await store.walls(T) == []
    assert (await store.get_tenant(T)).wallsSyncedAt is None  # a refused file is no sync
    assert {p.line: p.reason for p in seen}.keys() == planted.keys()
    for p in seen:
        assert planted[p.line] in p.reason, (p, planted[p.line])
    with path.open(encoding="utf-8") as f:
        r = await import_walls(store, T, f, full=True, skip_bad=True, now=NOW)
    assert (r.created, r.bad) == (n - len(planted), len(planted))
    walls = await store.walls(T)
    assert len(walls) == n - len(planted)
    w = next(w for w in walls if w.externalId == "W1")
    assert w.matterIds == sorted([Matter.id_for("M-1"), Matter.id_for("M-2")])
    assert w.accountIds == sorted([account_id("c1.test"), account_id("c8.test")])
    assert w.screenedOids == [ANNA] and "p1@firm.test" in w.screenedUpns


def test_cli_walls_import(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAPPORT_SQLITE_PATH", str(tmp_path / "cli.db"))
    import asyncio

    from rapport.settings import load_settings

    async def prepare():
        s = await make_store(load_settings()).open()
        await seed(s)
        await s.close()

    asyncio.run(prepare())
    path = tmp_path / "walls.csv"
    planted = generate(path, 300, seed=3)
    assert planted
    assert main(["walls", "import", str(path), "--tenant", T, "--full"]) == 2
    err = capsys.readouterr().err
    assert all(f"line {n}:" in err for n in planted) and "nothing written" in err and "Traceback" not in err
    assert main(["walls", "import", str(path), "--tenant", T, "--full", "--skip-bad-rows", "--dry-run"]) == 0
    assert "dry run: nothing written" in capsys.readouterr().out
    assert main(["walls", "import", str(path), "--tenant", T, "--full", "--skip-bad-rows"]) == 0
    assert f"{300 - len(planted)} new" in capsys.readouterr().out
    assert main(["walls", "import", str(path), "--tenant", T, "--skip-bad-rows"]) == 0
    assert "nothing changed" in capsys.readouterr().out
    assert main(["walls", "import", str(tmp_path / "missing.csv"), "--tenant", T]) == 2
    assert main(["walls", "import", str(path), "--tenant", "not-a-guid"]) == 2
    (tmp_path / "nohead.csv").write_text("name,clients\nx,a.test\n")
    assert main(["walls", "import", str(tmp_path / "nohead.csv"), "--tenant", T]) == 2
    assert "no wall_id column" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["walls", "import", "--help"])
    assert exc.value.code == 0 and "--skip-bad-rows" in capsys.readouterr().out


def test_column_aliases_cover_an_intapp_like_header():
    from rapport.firm.rows import rows

    text = "Wall ID,Wall Name,Matter References,Client Domains,Insiders,Screened\nX,Y,M-1,a.test,,b@f.test\n"
    [(line, row)] = list(rows(io.StringIO(text), COLUMNS, ("wall_id",)))
    assert line == 2 and row == {"wall_id": "X", "name": "Y", "matters": "M-1", "clients": "a.test",
                                 "insiders": "", "excluded": "b@f.test"}
    with pytest.raises(ImportFileError):
        list(rows(io.StringIO(""), COLUMNS, ("wall_id",)))


# --- the push over HTTP (the handler; routed behind admin/auth.py's admin_only once merged) ------

async def test_the_walls_system_pushes_the_same_import_over_http(store):
    from admin.walls import import_walls_handler
    from rapport import runtime
    from rapport.identity.caller import Caller
    from rapport.web import ApiError, Request

    await seed(store)

    def request(body: str, ctype: str = "text/csv", **params) -> Request:
        return Request("POST", "/api/admin/walls/import", {"content-type": ctype}, params, body.encode(), "corr-1")

    admin = Caller(tenant_id=T, oid="oid-admin")
    good = csv_text([{"wall_id": "W1", "clients": "halcyon.test", "excluded": "anna@firm.test"}])
    with runtime.override(store=store):
        a = await import_walls_handler(request(good), admin)
        assert a.status == 200 and a.body["created"] == 1 and a.body["syncedAt"]
        assert await sees(store, ANNA) == (False, True, True)
        bad = good + "W2,,,not a domain,,,anna@firm.test,\n"
        a = await import_walls_handler(request(bad, mode="full"), admin)
        assert a.status == 422 and a.body["problems"] == [{"line": 3, "reason": "clients: 'not a domain' is not a mail domain"}]
        assert a.body["error"]["correlationId"] == "corr-1"
        jl = json.dumps({"wall_id": "W1", "status": "deleted"}) + "\n"
        a = await import_walls_handler(request(jl, "application/x-ndjson", mode="full"), admin)
        assert a.status == 200 and a.body["ended"] == 1 and await sees(store, ANNA) == (True, True, True)
        audit = (await store.find(AuditEvent, T, key="action:admin.walls.import")).items
        assert {e.actorOid for e in audit} == {"oid-admin"}
        for req, status in ((request(good, "application/json"), 415), (request(good, mode="all"), 400),
                            (request("name\nx\n"), 400), (request(good, dryRun="maybe"), 400)):
            with pytest.raises(ApiError) as exc:
                await import_walls_handler(req, admin)
            assert exc.value.status == status
        # Another firm's admin cannot reach this firm's walls: the tenant is the token's.
        with pytest.raises(ApiError) as exc:
            await import_walls_handler(request(good), Caller(tenant_id="bbbbbbbb-0000-4000-8000-00000000000b", oid="x"))
        assert exc.value.status == 404


def test_bad_input_is_reported_by_the_line_it_starts_on():
    from rapport.firm.rows import rows
    from rapport.firm.walls import BadRow, parse_row

    text = ('wall_id,name,clients,excluded\n'
            'A,"a name\nover two lines",a.test,x@f.test\n'  # lines 2-3
            'B,\ufffdbroken,b.test,x@f.test\n'  # line 4: undecodable bytes, read as U+FFFD
            'C,"unclosed,c.test,x@f.test\n')  # line 5: a quote never closed runs to the end
    got = list(rows(io.StringIO(text), COLUMNS, ("wall_id",)))
    assert [line for line, _ in got] == [2, 4, 5]
    with pytest.raises(BadRow, match="not valid UTF-8"):
        parse_row(got[1][1])
    assert parse_row(got[0][1]).name == "a name over two lines"  # one line, cleaned
    # JSON Lines: a lone surrogate escape and a bidi override are cleaned; a non-object is a bad row.
    jl = ('{"wall_id": "X\\ud800", "name": "evil\\u202ename", "clients": ["x.test"], "excluded": "a@f.test"}\n'
          '\n[1]\n{"name": "no id"}\n')
    got = list(rows(io.StringIO(jl), COLUMNS, ("wall_id",)))
    assert [line for line, _ in got] == [1, 3, 4]
    first = parse_row(got[0][1])
    assert (first.wall_id, first.name) == ("X", "evilname")
    assert "not a JSON object" in str(got[1][1])
    with pytest.raises(BadRow, match="no wall id"):
        parse_row(got[2][1])


async def test_the_walls_route_is_admin_only_and_acts_on_the_tokens_tenant(entra):
    """Over function_app's adapter with Entra tokens from the identity stand-in (tests/test_admin_auth.py)."""
    import azure.functions as func

    import function_app
    from admin.walls import walls_import
    from tests.plugins.identity import TENANT_B
    from tests.test_admin_auth import app_token, user_token

    body = csv_text([{"wall_id": "W-push", "clients": "halcyon.test", "excluded": "anna@firm.test"}]).encode()

    async def post(token: str) -> tuple[int, dict]:
        req = func.HttpRequest("POST", "http://127.0.0.1:7071/api/admin/walls/import?mode=partial",
                               headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}, body=body)
        resp = await function_app._http(req, walls_import)
        return resp.status_code, json.loads(resp.get_body())

    status, answer = await post(user_token(entra, TENANT_B, roles=[]))
    assert status == 403 and await entra.store.walls(TENANT_B) == []
    status, answer = await post(app_token(entra, TENANT_B))
    assert status == 200 and answer["created"] == 1, answer
    [wall] = await entra.store.walls(TENANT_B)
    assert wall.externalId == "W-push" and wall.screenedUpns == ["anna@firm.test"]
    assert (await entra.store.get_tenant(TENANT_B)).wallsSyncedAt is not None
    actions = {e.action for e in await entra.store.find_all(AuditEvent, TENANT_B)}
    assert "admin.walls.import" in actions
