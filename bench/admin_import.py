"""Admin import benchmark (issue 15): `rapport matters import` of a 100,000-row docketing export.

    .venv/bin/python bench/admin_import.py            # 100,000 rows on SQLite
    .venv/bin/python bench/admin_import.py --rows 20000

Prints rows/s (wall clock and per CPU second) for the first import (check pass + match and write
pass: 100k new matters) and for the same file again (nothing changes, nothing is written), and the
process's peak memory after a 10,000-row import and after the 100,000-row one: the import streams
its rows, so the second figure should be about the first.
Budgets (printed beside): first import >= 5,000 rows/s, re-import >= 10,000 rows/s, peak memory
growth over the 10,000-row import < 50 MB, and < 200 MB in all. A miss makes the exit status 1.
SQLite only: on the local Cosmos stand-in the figures would describe the stand-in, not Azure.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rapport.firm.matters import import_matters  # noqa: E402
from rapport.records import Account, Person, Tenant  # noqa: E402
from rapport.store.base import Store  # noqa: E402
from rapport.store.sqlite import SqliteBackend  # noqa: E402

TENANT = "bench000-0000-4000-8000-0000000000a1"
CLIENTS = 2_000
BUDGET_FIRST, BUDGET_AGAIN = 5_000, 10_000  # rows/s
BUDGET_GROWTH_MB, BUDGET_PEAK_MB = 50, 200


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def generate(path: Path, n: int, offset: int = 0) -> None:
    """A docketing export of n matters (streamed to disk: the file is never held in memory)."""
    base = datetime(2027, 1, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("Matter Reference,Client,Client Domain,Title,Mark,Jurisdictions,Responsible Partner,"
                "Renewal Date,Opposition Deadline,Office Action Due,Annuity Due\n")
        for i in range(offset, offset + n):
            c = i % CLIENTS
            d = [(base + timedelta(days=(i * 7 + k) % 900)).date().isoformat() for k in (0, 30, 60, 90)]
            f.write(f"TM-{i:07d},Client {c},c{c}.com,Mark {i},EUTM {18_000_000 + i},EU;US;GB,"
                    f"p{i % 40}@firm.com,{d[0]},{d[1] if i % 5 == 0 else ''},{d[2] if i % 7 == 0 else ''},"
                    f"{d[3] if i % 11 == 0 else ''}\n")


async def timed(store: Store, path: Path) -> tuple[float, float, object]:
    opener = lambda: path.open(encoding="utf-8", newline="")  # noqa: E731
    t0, c0 = time.perf_counter(), time.process_time()
    report = await import_matters(store, TENANT, opener)
    return time.perf_counter() - t0, time.process_time() - c0, report


async def run(rows: int) -> int:
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        store = await Store(SqliteBackend(str(d / "bench.db"))).open()
        try:
            await store.put_many([
                Tenant(id=TENANT, tenantId=TENANT, name="Bench firm", domains=["firm.com"]),
                *[Person(id=f"oid-{k}", tenantId=TENANT, oid=f"oid-{k}", upn=f"p{k}@firm.com", name=f"P {k}")
                  for k in range(40)],
                *[Account.new(TENANT, f"c{c}.com", name=f"Client {c}", kind="client") for c in range(CLIENTS)],
            ])
            small, big = d / "small.csv", d / "big.csv"
            generate(small, 10_000, offset=10_000_000)
            generate(big, rows)
            base = peak_mb()
            await timed(store, small)
            after_small = peak_mb()
            wall, cpu, r1 = await timed(store, big)
            after_big = peak_mb()
            wall2, cpu2, r2 = await timed(store, big)
        finally:
            await store.close()
    first, again = rows / wall, rows / wall2
    print(f"matters import, SQLite, {rows:,} rows ({CLIENTS:,} client accounts):")
    print(f"  first import:  {wall:6.1f} s  {first:8,.0f} rows/s  ({rows / cpu:,.0f}/CPU s)   "
          f"budget >= {BUDGET_FIRST:,}/s   [{r1.created:,} new]")  # type: ignore[attr-defined]
    print(f"  same file again: {wall2:4.1f} s  {again:8,.0f} rows/s  ({rows / cpu2:,.0f}/CPU s)   "
          f"budget >= {BUDGET_AGAIN:,}/s   [{r2.unchanged:,} unchanged, {r2.written} written]")  # type: ignore[attr-defined]
    growth = after_big - after_small
    print(f"  peak memory: {base:.0f} MB before, {after_small:.0f} MB after 10,000 rows, {after_big:.0f} MB after "
          f"{rows:,} rows (growth {growth:+.0f} MB, budget < {BUDGET_GROWTH_MB} MB; peak budget < {BUDGET_PEAK_MB} MB)")
    for name, good in (("first import rows/s", first >= BUDGET_FIRST), ("re-import rows/s", again >= BUDGET_AGAIN),
                       ("memory growth", growth < BUDGET_GROWTH_MB), ("peak memory", after_big < BUDGET_PEAK_MB)):
        if not good:
            ok = False
            print(f"  MISSED: {name}")
    return 0 if ok else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=100_000)
    return asyncio.run(run(p.parse_args().rows))


if __name__ == "__main__":
    sys.exit(main())
