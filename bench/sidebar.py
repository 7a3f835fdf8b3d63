"""Benchmark: the Outlook sidebar (GET /api/addin/context) on the embedded store, over real HTTP.

    .venv/bin/python bench/sidebar.py [--db PATH] [--contacts 50000] [--interactions 1000000]
                                      [--requests 2000] [--clients 100] [--duration 30]

What it does, and the budgets it prints figures against (it reports; it does not pass or fail):
1. builds (once; reused while the scale matches) a SQLite store with the demo firm (local.demo)
   scaled up with generated records to --contacts contacts and --interactions interactions;
2. starts the dev host (local.host.DevHost running function_app's triggers) in a FRESH
   process with RAPPORT_DEV_AUTH=1 on 127.0.0.1, and times cold start: process spawn to the first
   context answer (budget < 1.5 s);
3. one client, keep-alive: context latency p50/p95/p99 with full token validation (dev token,
   same validation code as Entra tokens) interleaved with /api/health in the same run (budgets:
   p95 < 30 ms, context/health ratio < 3x), and the store calls per request from the
   x-rapport-store-calls header (budget <= 3);
4. --clients concurrent clients for --duration seconds: errors (budget 0), throughput, p50/p99.
The server runs in its own process so the load generator never shares its event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rapport.records import (  # noqa: E402
    Account,
    Contact,
    Enquiry,
    Interaction,
    Matter,
    Meeting,
    Owner,
    Record,
    account_id,
    contact_id,
)

BENCH_DOMAIN = "bench.example"
KINDS = ("client", "client", "prospect", "foreign_associate")
CHUNK = 20_000


# --- the data ----------------------------------------------------------------------------------

def bench_email(i: int, accounts: int) -> str:
    return f"person{i}@acct{i % accounts}.{BENCH_DOMAIN}"


def scale_records(tenant: str, partners: list[tuple[str, str, str]], n_contacts: int, n_interactions: int,
                  now: datetime, seed: int = 11) -> Iterator[list[Record]]:
    """Generated accounts, contacts, interactions, meetings, matters and enquiries, in chunks."""
    rng = random.Random(seed)
    n_accounts = max(1, n_contacts // 25)
    accounts = [Account.new(tenant, f"acct{j}.{BENCH_DOMAIN}", name=f"Bench Account {j}", kind=KINDS[j % 4])
                for j in range(n_accounts)]
    yield accounts
    chunk: list[Record] = []
    for i in range(n_contacts):
        owners = []
        for oid, _, name in rng.sample(partners, rng.choice((1, 1, 2))):
            roll = rng.random()
            vis = "firm" if roll < 0.9 else ("team" if roll < 0.97 else "private")
            owners.append(Owner(oid=oid, name=name, visibility=vis, lastTouch=now - timedelta(days=rng.randint(0, 400))))
        email = bench_email(i, n_accounts)
        chunk.append(Contact.new(tenant, email, name=f"Bench Person {i}", title="Counsel",
                                 accountId=account_id(f"acct{i % n_accounts}.{BENCH_DOMAIN}"), owners=owners,
                                 lastSeen=now - timedelta(days=rng.randint(0, 400))))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    for k in range(n_interactions):
        # Skewed: a few contacts have thousands of interactions, most a handful (worst cases included).
        i = min(n_contacts - 1, int(n_contacts * rng.random() ** 2))
        acct = account_id(f"acct{i % n_accounts}.{BENCH_DOMAIN}")
        roll = rng.random()
        channel = "email" if roll < 0.85 else ("meeting" if roll < 0.95 else "call")
        chunk.append(Interaction(
            id=Interaction.id_for("bench", str(k)), tenantId=tenant, channel=channel,
            at=now - timedelta(minutes=rng.randint(1, 730 * 24 * 60)), subject=f"Bench subject {k}",
            direction="inbound" if rng.random() < 0.5 else "outbound", ownerOid=rng.choice(partners)[0],
            contactIds=[contact_id(bench_email(i, n_accounts))], accountIds=[acct], source="bench", sourceId=str(k),
        ))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    for j in range(n_accounts):
        acct = account_id(f"acct{j}.{BENCH_DOMAIN}")
        chunk.append(Matter(id=f"mat_bench_{j}", tenantId=tenant, accountId=acct, title=f"Bench mark {j}",
                            reference=f"B-{j}", renewalDate=now + timedelta(days=rng.randint(-100, 700))))
        if j % 4 == 0:
            chunk.append(Enquiry(id=f"enq_bench_{j}", tenantId=tenant, accountId=acct, subject=f"Bench enquiry {j}",
                                 stage="new", receivedAt=now - timedelta(days=rng.randint(0, 60))))
        if j % 2 == 0:
            i = j  # person j works at account j
            start = now + timedelta(days=rng.randint(0, 50), hours=rng.randint(8, 17))
            chunk.append(Meeting(id=f"mt_bench_{j}", tenantId=tenant, eventId=f"ev{j}", organizerOid=partners[0][0],
                                 subject=f"Bench meeting {j}", start=start, end=start + timedelta(hours=1),
                                 contactIds=[contact_id(bench_email(i, n_accounts))], accountIds=[acct]))
    yield chunk


async def build_store(db: Path, n_contacts: int, n_interactions: int) -> dict:
    from local.demo import DEMO_PARTNERS, DEMO_TENANT_ID, seed_demo
    from rapport.settings import load_settings
    from rapport.store import make_store

    marker = db.with_suffix(".json")
    want = {"contacts": n_contacts, "interactions": n_interactions, "version": 1}
    if db.exists() and marker.exists() and json.loads(marker.read_text()).get("scale") == want:
        return json.loads(marker.read_text())
    for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"), marker):
        p.unlink(missing_ok=True)
    db.parent.mkdir(parents=True, exist_ok=True)
    store = make_store(load_settings({"RAPPORT_SQLITE_PATH": str(db)}))
    await store.open()
    started = time.perf_counter()
    try:
        demo = await seed_demo(store)
        partners = [(p[0], p[1], p[2]) for p in DEMO_PARTNERS]
        extra_contacts = max(0, n_contacts - int(demo["contacts"]))
        extra_ix = max(0, n_interactions - int(demo["interactions"]))
        written = 0
        for chunk in scale_records(DEMO_TENANT_ID, partners, extra_contacts, extra_ix, datetime.now(UTC)):
            written += await store.put_many(chunk)
            print(f"\r  generated {written:,} records", end="", flush=True)
        print()
        db_conn = store.backend._db()  # counting rows is a bench concern, not a Store operation
        counts = dict(db_conn.execute(
            "SELECT doc_type, COUNT(*) FROM docs WHERE tenant_id=? GROUP BY doc_type", (DEMO_TENANT_ID,)).fetchall())
        db_conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db_conn.execute("ANALYZE")
    finally:
        await store.close()
    info = {"scale": want, "counts": counts, "extra_accounts": max(1, extra_contacts // 25),
            "extra_contacts": extra_contacts, "build_seconds": round(time.perf_counter() - started, 1)}
    marker.write_text(json.dumps(info, indent=1))
    return info


# --- the server process ----------------------------------------------------------------------------

def serve(db: str) -> None:
    """Child process: the dev host on 127.0.0.1, a free port. Prints READY <url> once listening."""

    async def main() -> None:
        from local.host import DevHost
        from rapport.settings import load_settings

        settings = load_settings({"RAPPORT_SQLITE_PATH": db, "RAPPORT_DEV_AUTH": "1"})
        host = DevHost(settings)  # the store opens lazily on the first request, as on Azure
        await host.start()  # binds 127.0.0.1 and declares it, so dev tokens are accepted
        print(f"READY {host.base_url}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# --- measuring ---------------------------------------------------------------------------------

def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))] if s else float("nan")


def ms(v: float) -> str:
    return f"{v * 1000:.2f} ms"


def start_server(db: Path) -> tuple[subprocess.Popen, str, float]:
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(db)], stdout=subprocess.PIPE, env=env,
                            text=True, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"the dev host did not start: {line!r}")
    return proc, line.split()[1], t0


async def run(args: argparse.Namespace) -> None:
    from urllib.parse import quote

    import aiohttp
    from yarl import URL

    from local.demo import DEMO_PARTNERS, DEMO_TENANT_ID
    from rapport.identity import dev as devauth
    from rapport.settings import load_settings

    db = Path(args.db).resolve()
    print(f"store: {db}")
    info = await build_store(db, args.contacts, args.interactions)
    counts = info["counts"]
    print(f"  {counts.get('contact', 0):,} contacts, {counts.get('interaction', 0):,} interactions, "
          f"{counts.get('account', 0):,} accounts, {counts.get('meeting', 0):,} meetings, "
          f"{counts.get('matter', 0):,} matters (built in {info['build_seconds']} s)")

    settings = load_settings({"RAPPORT_SQLITE_PATH": str(db), "RAPPORT_DEV_AUTH": "1"})
    viewer = DEMO_PARTNERS[0]
    token = devauth.mint_dev_token(settings, DEMO_TENANT_ID, viewer[0], name=viewer[2], upn=viewer[1])
    auth = {"Authorization": f"Bearer {token}"}
    rng = random.Random(5)
    n_accounts = info["extra_accounts"]
    heavy = [bench_email(i, n_accounts) for i in range(5)]  # the contacts with the most interactions
    sample = heavy + [bench_email(rng.randrange(info["extra_contacts"]), n_accounts) for _ in range(800)]
    sample += [f"nobody{i}@acct{i}.{BENCH_DOMAIN}" for i in range(100)]  # unknown at a known domain
    sample += [f"x{i}@nowhere{i}.example" for i in range(100)]  # unknown altogether

    # --- cold start: fresh process to the first context answer -----------------------------------
    proc, base, t0 = start_server(db)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            async with http.get(f"{base}/api/addin/context", params={"email": heavy[0]}, headers=auth) as r:
                await r.read()
                cold = time.perf_counter() - t0
                assert r.status == 200, r.status
            print(f"\ncold start (spawn -> first context answer): {cold * 1000:.0f} ms   (budget < 1500 ms)")

            # --- one client: context vs health, interleaved -------------------------------------
            # URLs built once, as a load generator does: building a query string per request is the
            # client's cost, not the server's, and would count in context's latency but not health's.
            ctx_url = {e: URL(f"{base}/api/addin/context?email={quote(e, safe='')}", encoded=True) for e in sample}
            health_url = URL(f"{base}/api/health", encoded=True)
            for _ in range(50):  # warm both paths
                async with http.get(ctx_url[rng.choice(sample)], headers=auth) as r:
                    await r.read()
                async with http.get(health_url) as r:
                    await r.read()
            ctx: list[float] = []
            health: list[float] = []
            calls: list[int] = []
            statuses: dict[str, int] = {}
            for i in range(args.requests):
                email = sample[i % len(sample)]
                t = time.perf_counter()
                async with http.get(ctx_url[email], headers=auth) as r:
                    raw = await r.read()  # the answer received; parsing it is the client's time
                ctx.append(time.perf_counter() - t)
                body = json.loads(raw)
                assert r.status == 200, (r.status, body)
                calls.append(int(r.headers["x-rapport-store-calls"]))
                statuses[body["status"]] = statuses.get(body["status"], 0) + 1
                t = time.perf_counter()
                async with http.get(health_url) as r:
                    await r.read()
                health.append(time.perf_counter() - t)
            print(f"\nsequential, {args.requests} context + {args.requests} health requests (keep-alive, 1 client)")
            print(f"  context  p50 {ms(pct(ctx, 50))}  p95 {ms(pct(ctx, 95))}  p99 {ms(pct(ctx, 99))}  "
                  f"max {ms(max(ctx))}   (budget p95 < 30 ms)")
            print(f"  health   p50 {ms(pct(health, 50))}  p95 {ms(pct(health, 95))}  p99 {ms(pct(health, 99))}")
            print(f"  ratio context/health  p50 {pct(ctx, 50) / pct(health, 50):.2f}x  "
                  f"p95 {pct(ctx, 95) / pct(health, 95):.2f}x   (budget < 3x)")
            dist = {c: calls.count(c) for c in sorted(set(calls))}
            print(f"  store calls per request: max {max(calls)}, mean {statistics.mean(calls):.2f}, "
                  f"distribution {dist}   (budget <= 3)")
            print(f"  answers: {statuses}")

            # --- concurrency ---------------------------------------------------------------------
            lat: list[float] = []
            errors: list[str] = []
            deadline = time.perf_counter() + args.duration

            async def client(n: int) -> None:
                r_ = random.Random(n)
                while time.perf_counter() < deadline:
                    t = time.perf_counter()
                    try:
                        async with http.get(ctx_url[r_.choice(sample)], headers=auth) as r:
                            await r.read()
                            if r.status != 200:
                                errors.append(str(r.status))
                    except Exception as exc:  # noqa: BLE001 - counted and reported
                        errors.append(type(exc).__name__)
                    lat.append(time.perf_counter() - t)

            started = time.perf_counter()
            await asyncio.gather(*(client(n) for n in range(args.clients)))
            took = time.perf_counter() - started
            print(f"\n{args.clients} concurrent clients for {args.duration} s: {len(lat):,} requests, "
                  f"{len(lat) / took:.0f} req/s, errors {len(errors)}"
                  + (f" {sorted(set(errors))}" if errors else "") + "   (budget: no errors)")
            print(f"  p50 {ms(pct(lat, 50))}  p95 {ms(pct(lat, 95))}  p99 {ms(pct(lat, 99))}  max {ms(max(lat))}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", default=str(ROOT / ".rapport/bench/sidebar.db"))
    p.add_argument("--contacts", type=int, default=50_000)
    p.add_argument("--interactions", type=int, default=1_000_000)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--serve", metavar="DB", help=argparse.SUPPRESS)  # the child process
    args = p.parse_args()
    if args.serve:
        serve(args.serve)
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
