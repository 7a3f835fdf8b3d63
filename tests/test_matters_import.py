"""Matters from the firm's IP management system (issue 15, item 2), on SQLite and the local Cosmos server.

A generated docketing export of 10,000 rows with planted bad rows; idempotent re-import; matching
by domain then name, the unmatched listed and not written; the new key dates in briefs.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from local.cli import main
from rapport.firm.matters import import_matters
from rapport.records import Account, AuditEvent, Matter, Person, Tenant, account_id
from rapport.store import make_store
from rapport.store.base import Store
from tests.test_walls_import import ROWS, store_fixture  # noqa: F401 - `store`: SQLite and the local Cosmos server

T = "aaaaaaaa-0000-4000-8000-0000000000f2"
HEADER = ("Matter Reference,Client,Client Domain,Title,Mark,Jurisdictions,Responsible Partner,Renewal Date,"
          "Opposition Deadline,Office Action Due,Annuity Due")
CLIENTS = 40  # client i has domain c{i}.test; accounts exist for even i by domain, i % 4 == 1 by name only


async def seed(store: Store) -> None:
    recs = [Tenant(id=T, tenantId=T, name="Firm", domains=["firm.test"]),
            Person(id="oid-anna", tenantId=T, oid="oid-anna", upn="anna@firm.test", name="Anna A")]
    for i in range(CLIENTS):
        if i % 2 == 0:
            recs.append(Account.new(T, f"c{i}.test", name=f"Client {i}", kind="client"))
        elif i % 4 == 1:  # the account is known under another domain: matched by the client's name
            recs.append(Account.new(T, f"other{i}.test", name=f"  CLIENT {i} ", kind="client"))
    await store.put_many(recs)


def matched(i: int) -> bool:
    return (i % CLIENTS) % 2 == 0 or (i % CLIENTS) % 4 == 1


PLANTED = {  # kind -> (a row's cells replaced, the reason's words)
    "date": ({7: "31/03/2027"}, "is not a date"),
    "domain": ({2: "not a domain"}, "not a mail domain"),
    "upn": ({6: "anna at firm"}, "is not a UPN"),
    "noref": ({0: ""}, "no matter reference"),
    "noclient": ({1: "", 2: ""}, "no client name or domain"),
    "duplicate": ("dup", "repeats line"),
    "fields": ("fields", "fields, the header has"),
}


def generate(path: Path, n: int, *, seed: int = 11, bad_rate: float = 0.01, shift: int = 0) -> dict[int, str]:
    """A docketing export of n matters with planted bad rows: {line: expected reason}. `shift`
    moves every renewal date (a re-export after the dates changed)."""
    rng = random.Random(seed)
    bad: dict[int, str] = {}
    lines = [HEADER]
    base = datetime(2027, 1, 1, tzinfo=UTC)
    for i in range(n):
        line = i + 2
        c = i % CLIENTS
        d = lambda k, i=i: (base + timedelta(days=(i * 7 + k) % 700)).date().isoformat()  # noqa: E731
        cells = [f"TM-{i:06d}", f"Client {c}", f"c{c}.test" if c % 4 != 1 else "", f"Mark {i} \u2013 class 9",
                 f"W{i}", "EU; US" if i % 2 else "GB", "anna@firm.test" if i % 3 else "", d(shift),
                 d(30) if i % 5 == 0 else "", d(60) if i % 7 == 0 else "", d(90) if i % 11 == 0 else ""]
        kind = rng.choice(list(PLANTED)) if i > 10 and rng.random() < bad_rate else None
        if kind == "fields":
            lines.append("TM-broken,only,three")
            bad[line] = PLANTED[kind][1]
            continue
        if kind == "duplicate":
            cells[0] = "TM-000003"
        elif kind is not None:
            for k, v in PLANTED[kind][0].items():  # type: ignore[union-attr]
                cells[k] = v
        if kind is not None:
            bad[line] = PLANTED[kind][1]
        lines.append(",".join(f'"{v}"' if "," in v or ";" in v else v for v in cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return bad


async def count(store: Store) -> int:
    return len(await store.find_all(Matter, T))


async def test_a_generated_10000_row_export_idempotent_and_matched(store, tmp_path):
    await seed(store)
    n = ROWS[store.name]  # 10,000 rows on SQLite, 1,000 on the local Cosmos stand-in (tests/test_walls_import.py)
    path = tmp_path / "matters.csv"
    planted = generate(path, n, bad_rate=0.01 if n >= 10_000 else 0.03)
    assert n // 200 < len(planted) < n // 25
    opener = lambda: path.open(encoding="utf-8", newline="")  # noqa: E731
    bad: list = []
    unmatched: list = []
    progress: list = []
    r = await import_matters(store, T, opener, on_bad=bad.append, on_unmatched=unmatched.append,
                             progress=lambda phase, n: progress.append((phase, n)))
    # Every planted bad row, by its line and reason; nothing written.
    assert r.refused and await count(store) == 0 and not unmatched
    assert {p.line: p.reason for p in bad}.keys() == planted.keys()
    for p in bad:
        assert planted[p.line] in p.reason, (p, planted[p.line])
    assert ("checked", 10_000) in progress or n < 10_000
    # The rest, with --skip-bad-rows.
    good = [i for i in range(n) if i + 2 not in planted]
    r = await import_matters(store, T, opener, skip_bad=True, on_unmatched=unmatched.append)
    want = sum(matched(i) for i in good)
    assert (r.created, r.matched, r.unmatched, r.updated) == (want, want, len(good) - want, 0)
    assert await count(store) == want
    assert sorted(u.line for u in unmatched) == [i + 2 for i in good if not matched(i)]
    assert all(u.client and "no account for client" in str(u) for u in unmatched)
    # By domain, and by name (client 1's account has another domain).
    m0 = await store.get(Matter, T, Matter.id_for("TM-000000"))
    assert m0.accountId == account_id("c0.test") and m0.jurisdictions == ["GB"] and m0.rights == ["W0"]
    assert m0.officeActionDue and m0.annuityDue and m0.oppositionDeadline and m0.responsibleOid is None
    m1 = await store.get(Matter, T, Matter.id_for("tm-000001"))
    assert m1.accountId == account_id("other1.test") and m1.jurisdictions == ["EU", "US"]
    assert m1.responsibleOid == "oid-anna" and m1.title == "Mark 1 \u2013 class 9"
    # A second run of the same file changes nothing, and says so.
    audits = len(await store.find_all(AuditEvent, T))
    again = await import_matters(store, T, opener, skip_bad=True)
    assert (again.created, again.updated, again.written, again.unchanged) == (0, 0, 0, want)
    assert await count(store) == want and len(await store.find_all(AuditEvent, T)) == audits
    # A re-export with moved renewal dates updates in place, never duplicates.
    planted2 = generate(path, n, bad_rate=0.01 if n >= 10_000 else 0.03, shift=3)
    assert planted2 == planted
    moved = await import_matters(store, T, opener, skip_bad=True)
    assert (moved.created, moved.updated) == (0, want) and await count(store) == want


async def test_dry_run_writes_nothing(store, tmp_path):
    await seed(store)
    path = tmp_path / "m.csv"
    generate(path, 200, bad_rate=0)
    r = await import_matters(store, T, lambda: path.open(encoding="utf-8", newline=""), dry_run=True)
    assert r.created == sum(matched(i) for i in range(200)) and await count(store) == 0


async def test_briefs_show_the_new_key_dates():
    from rapport.sidebar import key_dates

    now = datetime(2027, 1, 1, tzinfo=UTC)
    m = Matter(id="m", tenantId=T, accountId="a", title="Widget", reference="R1",
               officeActionDue=now + timedelta(days=10), annuityDue=now + timedelta(days=40),
               renewalDate=now - timedelta(days=1))
    assert [(d["kind"], d["reference"]) for d in key_dates([m], now)] == [("office_action", "R1"), ("annuity", "R1")]


def test_cli_matters_import(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAPPORT_SQLITE_PATH", str(tmp_path / "cli.db"))
    from rapport.settings import load_settings

    async def prepare():
        s = await make_store(load_settings()).open()
        await seed(s)
        await s.close()

    asyncio.run(prepare())
    path = tmp_path / "matters.csv"
    planted = generate(path, 400, bad_rate=0.03)
    assert planted
    assert main(["matters", "import", str(path), "--tenant", T]) == 2
    err = capsys.readouterr().err
    assert all(f"line {n}:" in err for n in planted) and "nothing written" in err and "Traceback" not in err
    assert main(["matters", "import", str(path), "--tenant", T, "--skip-bad-rows"]) == 0
    out = capsys.readouterr().out
    assert "unmatched: line" in out and "new" in out
    assert main(["matters", "import", str(path), "--tenant", T, "--skip-bad-rows"]) == 0
    assert "nothing changed" in capsys.readouterr().out
    assert main(["matters", "import", str(path), "--tenant", "aaaaaaaa-0000-4000-8000-0000000000ff"]) == 2
    assert "not onboarded" in capsys.readouterr().err
    assert main(["matters", "import", str(tmp_path / "nope.csv"), "--tenant", T]) == 2
    (tmp_path / "empty.csv").write_text("")
    assert main(["matters", "import", str(tmp_path / "empty.csv"), "--tenant", T]) == 2
    assert "empty" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["matters", "import", "--help"])
    assert exc.value.code == 0 and "--dry-run" in capsys.readouterr().out
