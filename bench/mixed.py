"""Benchmark: the Outlook sidebar under a webhook flood and a mailbox delta sync (issue 12).

    .venv/bin/python -m bench.mixed [--db PATH] [--small] [--clients 20] [--duration 10]
                                    [--batches 10] [--messages 20000]

What it does (it reports figures beside the budget; it does not pass or fail):
1. builds (once; reused while the scale matches) bench.sidebar's store: the demo firm scaled to
   50k contacts / 1M interactions (--small: 5k / 100k, a quick run while iterating);
2. starts the Graph stand-in (tests/doubles) in its own process with one partner mailbox of
   --messages messages, and the dev host (function_app's triggers) in a FRESH process on
   127.0.0.1 with RAPPORT_DEV_AUTH=1, the real GraphClient installed for the sync;
3. quiet: --clients sidebar clients (GET /api/addin/context, dev token) for --duration seconds,
   each opening a mail every --interval seconds (default 0.1: 20 partners, ~200 requests/s; with
   --interval 0 they run back to back, which measures saturation, not latency);
4. loaded: the same clients for the same time while a mailbox delta sync of the stand-in's mailbox
   runs (sync.sync_folder, as bench.capture runs it) in a WORK process of its own on the same store,
   and, from another process, --batches senders each POST 1 MB notification batches (2,200
   Graph-shaped items of subscriptions nobody has: a flood) back to back, without pause;
   budget: sidebar p99 < 50 ms under load (issue 12 measured 4.5 s before the fix).
   Why a process of its own: in Azure a sync is queue-triggered work, and the Flex Consumption
   plan scales each non-HTTP function on instances of its own, apart from the HTTP functions the
   sidebar is served by; here both share one small machine, so the figure still includes the CPU
   the sync takes from the sidebar.
5. shared (unless --no-shared): the same load with the sync inside the HTTP host's process, as the
   embedded `rapport serve` runs it on a laptop; printed beside, with no budget.
The far ends (the Graph stand-in, the flood's senders) run at niceness 10, as the work process
does: in production their CPU is on Graph's and the attacker's machines, not beside the sidebar's.
Everything stays on 127.0.0.1; each phase is bounded by --duration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.sidebar import BENCH_DOMAIN, bench_email, build_store, ms, pct  # noqa: E402

SYNC_TENANT = "t-bench"  # bench.capture's stand-in mailbox lives in this tenant
BUDGET_P99 = 0.050


# --- the flood (its own process: Graph's CPU is not Rapport's) ---------------------------------

def flood_batch(rng: random.Random, n_items: int = 2200) -> bytes:
    """~1 MB of Graph-shaped items naming subscriptions nobody has."""
    items = [{"subscriptionId": str(uuid.UUID(int=rng.getrandbits(128))), "clientState": "x" * 64,
              "changeType": "created", "tenantId": str(uuid.UUID(int=rng.getrandbits(128))),
              "subscriptionExpirationDateTime": "2026-12-31T00:00:00+00:00",
              "resource": "Users/" + "0" * 36 + "/Messages/" + "A" * 120} for _ in range(n_items)]
    body = json.dumps({"value": items}).encode()
    assert len(body) <= 1024 * 1024, len(body)
    return body


def _far_end(target, *args) -> None:
    """Run a far end (the Graph stand-in, the flood's senders) at a lower priority: in production
    their CPU is Graph's and the attacker's, on other machines; here they share two cores with
    Rapport's processes, and niceness keeps them from taking what would be the sidebar's."""
    os.nice(10)
    target(*args)


def _flood_process(conn, url: str, senders: int, seconds: float) -> None:
    import aiohttp

    async def run() -> None:
        rng = random.Random(3)
        bodies = [flood_batch(rng) for _ in range(senders)]
        statuses: dict[int | str, int] = {}
        latencies: list[float] = []
        conn.send("ready")
        conn.recv()  # go
        deadline = time.perf_counter() + seconds
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=senders)) as session:
            async def sender(body: bytes) -> None:
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    try:
                        async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                            await resp.read()
                        status: int | str = resp.status
                    except aiohttp.ClientError:
                        # A batch refused unread (past the big-batch credit) has its connection closed
                        # under it; the sender sees a reset rather than the 503, and goes again.
                        status = "reset"
                    latencies.append(time.perf_counter() - started)
                    statuses[status] = statuses.get(status, 0) + 1

            await asyncio.gather(*(sender(b) for b in bodies))
        conn.send((statuses, latencies, len(bodies[0])))

    asyncio.run(run())


# --- the server process --------------------------------------------------------------------------

def serve(db: str, graph_url: str, oid: str, upn: str) -> None:
    """Child process: the dev host on 127.0.0.1 with the Graph client installed. Prints READY <url>;
    then `sync` on stdin runs one delta round of the stand-in mailbox's inbox (SYNCED n seconds),
    `stop` removes the sync tenant's records and exits."""

    async def main() -> None:
        from bench.capture import Tokens
        from local.host import DevHost
        from rapport import runtime
        from rapport.capture import sync
        from rapport.graph import GraphClient
        from rapport.records import Person, Tenant
        from rapport.settings import load_settings

        settings = load_settings({"RAPPORT_SQLITE_PATH": db, "RAPPORT_DEV_AUTH": "1"})
        host = DevHost(settings)
        await host.start()
        store = await runtime.store()
        firm = Tenant(id=SYNC_TENANT, tenantId=SYNC_TENANT, name="Bench LLP", domains=["firm.example"], partners=[upn])
        person = Person(id=oid, tenantId=SYNC_TENANT, oid=oid, upn=upn, name="Partner")
        await store.backend.purge_tenant(SYNC_TENANT)  # a run that was killed leaves nothing behind
        await store.put_tenant(firm)
        await store.put(person)
        graph = GraphClient(graph_url, Tokens(), page_size=500)
        graph_services = contextlib.ExitStack()  # the drain's syncs reach the stand-in too
        graph_services.enter_context(runtime.override(graph=graph))
        print(f"READY {host.base_url}", flush=True)
        loop = asyncio.get_running_loop()
        task: asyncio.Task | None = None

        async def one_sync() -> None:
            started = time.perf_counter()
            _stats, count, _ = await sync.sync_folder(store, graph, firm, person, "inbox")
            print(f"SYNCED {count} {time.perf_counter() - started:.2f}", flush=True)

        while True:
            line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if line == "sync":
                task = asyncio.create_task(one_sync())
            elif line == "reset":  # a fresh mailbox for the next phase: the delta starts over
                if task is not None:
                    await task
                    task = None
                await store.backend.purge_tenant(SYNC_TENANT)
                await store.put_tenant(firm)
                await store.put(person)
                print("RESET", flush=True)
            elif line in ("stop", ""):
                break
        if task is not None:
            await task
        await store.backend.purge_tenant(SYNC_TENANT)
        graph_services.close()
        await graph.close()
        await host.stop()
        await store.close()

    asyncio.run(main())


def work(db: str, graph_url: str, oid: str, upn: str) -> None:
    """Child process: a work instance. One delta round of the stand-in mailbox's inbox into the same
    store as the HTTP host (the tenant and partner records the host wrote), then SYNCED n seconds."""

    # Background work yields the CPU to interactive answers: in Azure it has instances of its own;
    # on one machine, the scheduler's niceness is how the sidebar keeps its share.
    os.nice(10)

    async def main() -> None:
        from bench.capture import Tokens
        from rapport.capture import sync
        from rapport.graph import GraphClient
        from rapport.records import Person, Tenant
        from rapport.store import Store
        from rapport.store.sqlite import SqliteBackend

        store = await Store(SqliteBackend(db)).open()
        firm = await store.get_tenant(SYNC_TENANT)
        person = await store.get(Person, SYNC_TENANT, oid)
        assert isinstance(firm, Tenant) and person is not None, "the host writes the sync tenant first"
        graph = GraphClient(graph_url, Tokens(), page_size=500)
        try:
            started = time.perf_counter()
            _stats, count, _ = await sync.sync_folder(store, graph, firm, person, "inbox")
            print(f"SYNCED {count} {time.perf_counter() - started:.2f}", flush=True)
        finally:
            await graph.close()
            await store.close()

    asyncio.run(main())


# --- measuring -----------------------------------------------------------------------------------

async def sidebar_load(http, urls: list, auth: dict, clients: int, seconds: float,
                       interval: float) -> tuple[list[float], list[str]]:
    """`clients` partners, each opening a mail every `interval` seconds (0: back to back)."""
    lat: list[float] = []
    errors: list[str] = []
    deadline = time.perf_counter() + seconds

    async def client(n: int) -> None:
        r_ = random.Random(n)
        await asyncio.sleep(interval * n / clients)  # spread out, not in lockstep
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            try:
                async with http.get(r_.choice(urls), headers=auth) as r:
                    await r.read()
                    if r.status != 200:
                        errors.append(str(r.status))
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors.append(type(exc).__name__)
            lat.append(time.perf_counter() - t)
            if interval:
                await asyncio.sleep(max(0.0, interval - (time.perf_counter() - t)))

    await asyncio.gather(*(client(n) for n in range(clients)))
    return lat, errors


def line(name: str, lat: list[float], errors: list[str], seconds: float) -> str:
    return (f"  {name:<7} {len(lat):6,} requests ({len(lat) / seconds:,.0f}/s), errors {len(errors)}"
            f"{' ' + str(sorted(set(errors))) if errors else ''}: p50 {ms(pct(lat, 50))}  p95 {ms(pct(lat, 95))}  "
            f"p99 {ms(pct(lat, 99))}  max {ms(max(lat))}")


async def run(args: argparse.Namespace) -> None:
    import aiohttp
    from yarl import URL

    from bench.capture import _standin_process
    from local.demo import DEMO_PARTNERS, DEMO_TENANT_ID
    from rapport.identity import dev as devauth
    from rapport.settings import load_settings

    contacts, interactions = (5_000, 100_000) if args.small else (50_000, 1_000_000)
    db = Path(args.db or ROOT / f".rapport/bench/{'mixed-small' if args.small else 'sidebar'}.db").resolve()
    print(f"store: {db}")
    info = await build_store(db, contacts, interactions)
    counts = info["counts"]
    print(f"  {counts.get('contact', 0):,} contacts, {counts.get('interaction', 0):,} interactions")

    ctx = multiprocessing.get_context("spawn")
    g_parent, g_child = ctx.Pipe()
    standin = ctx.Process(target=_far_end, args=(_standin_process, g_child, args.messages), daemon=True)
    standin.start()
    graph_url, oid, upn = await asyncio.get_running_loop().run_in_executor(None, g_parent.recv)
    print(f"Graph stand-in: {graph_url}, one mailbox of {args.messages:,} messages")

    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(db), graph_url, oid, upn],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None and proc.stdin is not None
    ready = proc.stdout.readline()
    if not ready.startswith("READY "):
        proc.kill()
        raise SystemExit(f"the dev host did not start: {ready!r}")
    base = ready.split()[1]

    settings = load_settings({"RAPPORT_SQLITE_PATH": str(db), "RAPPORT_DEV_AUTH": "1"})
    viewer = DEMO_PARTNERS[0]
    token = devauth.mint_dev_token(settings, DEMO_TENANT_ID, viewer[0], name=viewer[2], upn=viewer[1])
    auth = {"Authorization": f"Bearer {token}"}
    rng = random.Random(5)
    n_accounts = info["extra_accounts"]
    sample = [bench_email(i, n_accounts) for i in range(5)]
    sample += [bench_email(rng.randrange(info["extra_contacts"]), n_accounts) for _ in range(800)]
    sample += [f"nobody{i}@acct{i}.{BENCH_DOMAIN}" for i in range(100)]
    urls = [URL(f"{base}/api/addin/context?email={quote(e, safe='')}", encoded=True) for e in sample]

    def synced_line(words: list[str]) -> str:
        if len(words) == 3 and words[0] == "SYNCED":
            n, secs = int(words[1]), float(words[2])
            return f"mailbox delta sync through the Graph stand-in: {n:,} messages in {secs:.1f} s ({n / secs:,.0f} msgs/s)"
        return f"mailbox delta sync: no report ({words})"

    async def loaded_phase(http, where: str) -> tuple[list[float], list[str], dict, list[float], int, str]:
        """Sidebar load while the flood runs and a delta sync runs `where` ("work": its own process;
        "host": inside the HTTP host; "": none)."""
        loop = asyncio.get_running_loop()
        proc.stdin.write("reset\n")
        proc.stdin.flush()
        assert (await loop.run_in_executor(None, proc.stdout.readline)).strip() == "RESET"
        f_parent, f_child = ctx.Pipe()
        flood = ctx.Process(target=_far_end, args=(_flood_process, f_child, f"{base}/api/graph/notifications",
                                                   args.batches, args.duration), daemon=True)
        if args.batches:
            flood.start()
            await loop.run_in_executor(None, f_parent.recv)  # bodies built
        worker = None
        if where == "work":
            worker = subprocess.Popen([sys.executable, __file__, "--work", str(db), graph_url, oid, upn],
                                      stdout=subprocess.PIPE, text=True, cwd=ROOT,
                                      env={**os.environ, "PYTHONUNBUFFERED": "1"})
        elif where == "host":
            proc.stdin.write("sync\n")
            proc.stdin.flush()
        if args.batches:
            f_parent.send("go")
        lat, err = await sidebar_load(http, urls, auth, args.clients, args.duration, args.interval)
        statuses, hook_lat, body_size = {}, [float("nan")], 0
        if args.batches:
            statuses, hook_lat, body_size = await loop.run_in_executor(None, f_parent.recv)
            flood.join(10)
        report = ""
        if worker is not None:
            out, _ = await loop.run_in_executor(None, lambda: worker.communicate(timeout=300))
            report = synced_line(out.split())
        elif where == "host":
            report = synced_line((await loop.run_in_executor(None, proc.stdout.readline)).split())
        return lat, err, statuses, hook_lat, body_size, report

    shared = None
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            await sidebar_load(http, urls, auth, args.clients, 2.0, args.interval)  # warm
            quiet, quiet_err = await sidebar_load(http, urls, auth, args.clients, args.duration, args.interval)
            loaded = await loaded_phase(http, "" if args.no_sync else "work")
            if not args.no_sync and not args.no_shared:
                shared = await loaded_phase(http, "host")
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        g_parent.send("stop")
        standin.join(10)

    pace = f"each every {args.interval * 1000:.0f} ms" if args.interval else "back to back"
    print(f"\nsidebar, {args.clients} clients ({pace}), {args.duration:.0f} s each (host: {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f})")
    print(line("quiet", quiet, quiet_err, args.duration))
    lat, err, statuses, hook_lat, body_size, report = loaded
    print(line("loaded", lat, err, args.duration) + f"   (budget p99 < {BUDGET_P99 * 1000:.0f} ms)")
    print(f"  sidebar p99 quiet {ms(pct(quiet, 99))} vs under load {ms(pct(lat, 99))}")
    print(f"load: {args.batches} senders of {body_size / 1024:.0f} KB notification batches back to back: "
          f"{sum(statuses.values())} batches, statuses {statuses}, answer p50 {ms(pct(hook_lat, 50))} "
          f"p99 {ms(pct(hook_lat, 99))}")
    if report:
        print(f"      {report}, in a work process of its own (as the queue trigger runs in Azure)")
    if shared is not None:
        lat, err, _statuses, _hook, _size, report = shared
        print(line("shared", lat, err, args.duration) + "   (the sync inside the HTTP host, as `rapport serve` "
              "runs it; no budget)")
        print(f"      {report}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", help="the sidebar store (default: bench.sidebar's, or a small one with --small)")
    p.add_argument("--small", action="store_true", help="5k contacts / 100k interactions, to iterate quickly")
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--interval", type=float, default=0.1,
                   help="seconds between one client's requests (0: back to back, a saturation test)")
    p.add_argument("--batches", type=int, default=10, help="concurrent flood senders (0: no flood)")
    p.add_argument("--no-sync", action="store_true", help="no mailbox delta sync during the loaded phase")
    p.add_argument("--no-shared", action="store_true", help="skip the phase with the sync inside the HTTP host")
    p.add_argument("--messages", type=int, default=20_000)
    p.add_argument("--serve", nargs=4, metavar=("DB", "GRAPH", "OID", "UPN"), help=argparse.SUPPRESS)
    p.add_argument("--work", nargs=4, metavar=("DB", "GRAPH", "OID", "UPN"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(*args.serve)
        return
    if args.work:
        work(*args.work)
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
