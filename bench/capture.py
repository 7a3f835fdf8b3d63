"""Capture benchmark: prints figures, passes no judgement (budgets from issue 4 shown beside them).

1. Messages per second from Graph delta pages to stored interactions, on the embedded store
   (then an incremental round of as many new mails with the enquiry intake on, rapport.pipeline),
   (SQLite, one process): the real GraphClient (msgraph-sdk over HTTP) reads a mailbox's delta from
   the Graph stand-in and capture writes the records. Budget: at least 5,000/s.
   Also shown: the ingest alone (pages already in memory), to tell transport from capture.
2. Webhook answer latency under a burst: the Graph stand-in POSTs notifications to function_app's
   real trigger served by DevHost (aiohttp), many at once; p50/p99 of the time to the 202.
   Budget: p99 under 200 ms.

    .venv/bin/python -m bench.capture [--messages 20000] [--page-size 500] [--posts 2000] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from local.demo.data import FIRST_NAMES, LAST_NAMES  # noqa: E402
from local.host import DevHost  # noqa: E402
from rapport import capture, runtime, work  # noqa: E402
from rapport.capture import subscriptions, sync  # noqa: E402
from rapport.graph import GraphClient  # noqa: E402
from rapport.records import Interaction, Person, Tenant  # noqa: E402
from rapport.settings import load_settings  # noqa: E402
from rapport.store.base import Store  # noqa: E402
from rapport.store.sqlite import SqliteBackend  # noqa: E402
from tests.doubles.graph_server import GraphStandIn  # noqa: E402


class Tokens:
    async def app_token(self, tenant_id: str) -> str:
        return f"test-token:{tenant_id}"


def _fill(standin: GraphStandIn, mb, n: int, rng: random.Random) -> None:
    now = datetime.now(UTC)
    domains = [f"client{d}.example" for d in range(150)] + ["gmail.com"]
    # Distinct, realistic display names: capture groups contacts by name to spot counsel moves.
    names = [f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]
    rng.shuffle(names)
    people = [(f"person{p}@{rng.choice(domains)}", names[p % len(names)]) for p in range(2000)]
    for i in range(n):
        sender, name = rng.choice(people)
        cc = [rng.choice(people)[0] for _ in range(rng.randint(0, 2))]
        standin.put_message(mb, "inbox", sender=sender, sender_name=name, to=[mb.upn], cc=cc,
                            subject=f"Trade mark filing {i}", at=now - timedelta(minutes=i))


def _fill_new_day(standin: GraphStandIn, mb, n: int, rng: random.Random) -> None:
    """A busy incremental round: n new mails, 95% from the first round's people (replies, auto-replies,
    newsletters among them), 5% from 500 people never seen before (each a candidate enquiry)."""
    now = datetime.now(UTC)
    old = sorted({m["from"]["emailAddress"]["address"] for m in standin.truth(mb, "inbox").values() if m})
    new = [f"new{p}@prospect{p % 300}.example" for p in range(500)]
    for i in range(n):
        if i % 20 == 0:
            sender, subject = new[(i // 20) % len(new)], "Trade mark enquiry"
        else:
            sender = rng.choice(old)
            subject = rng.choice(["RE: Trade mark filing", "Automatic reply: renewal", "Invoice", "Filing receipt"])
        standin.put_message(mb, "inbox", sender=sender, to=[mb.upn], subject=subject,
                            at=now - timedelta(seconds=i), reply=subject.startswith("RE:"),
                            inference="other" if subject == "Invoice" else "focused")


def _standin_process(conn, n: int) -> None:
    """The Graph stand-in in its own process: Graph's CPU is not Rapport's. Told "more", it adds a
    new day of mail (_fill_new_day) and answers; told "stop", it stops."""

    async def run() -> None:
        standin = await GraphStandIn(validate_subscriptions=False).start()
        mb = standin.add_mailbox("t-bench", "partner@firm.example")
        _fill(standin, mb, n, random.Random(7))
        conn.send((standin.base_url, mb.oid, mb.upn))
        while True:
            order = await asyncio.get_running_loop().run_in_executor(None, conn.recv)
            if order != "more":
                break
            _fill_new_day(standin, mb, n, random.Random(8))
            conn.send("ok")
        await standin.stop()

    asyncio.run(run())


async def bench_delta(n: int, page_size: int) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_standin_process, args=(child, n), daemon=True)
    proc.start()
    base_url, oid, upn = await asyncio.get_running_loop().run_in_executor(None, parent.recv)
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store(SqliteBackend(str(Path(tmp) / "bench.db"))).open()
        firm = Tenant(id="t-bench", tenantId="t-bench", name="Bench LLP", domains=["firm.example"], partners=[upn])
        person = Person(id=oid, tenantId="t-bench", oid=oid, upn=upn, name="Partner")
        await store.put_tenant(firm)
        await store.put(person)
        graph = GraphClient(base_url, Tokens(), page_size=page_size)
        try:
            started, cpu = time.perf_counter(), time.process_time()
            stats, count, _ = await sync.sync_folder(store, graph, firm, person, "inbox")
            end_to_end, end_to_end_cpu = time.perf_counter() - started, time.process_time() - cpu
            stored = len(await store.find_all(Interaction, "t-bench"))
            assert stored == n == count, (stored, n, count)
            # The transport alone (SDK + HTTP + JSON), then capture alone on the pages in memory.
            pages = []
            started = time.perf_counter()
            async for page in graph.message_delta("t-bench", oid, "inbox"):
                pages.append(page.items)
            transport = time.perf_counter() - started
            started, cpu = time.perf_counter(), time.process_time()
            run = capture.Ingestion(store, firm, person)  # one round, as sync runs it
            per_batch = max(1, sync.INGEST_BATCH // page_size)  # pages per batch, as sync fills them
            for k in range(0, len(pages), per_batch):
                batch = [m for items in pages[k:k + per_batch] for m in items]
                await run.add(messages=batch, folder="inbox")
            await run.finish()
            ingest_only, ingest_cpu = time.perf_counter() - started, time.process_time() - cpu
            assert len(await store.find_all(Interaction, "t-bench")) == n
            # An incremental round from the delta link, with the enquiry intake on (rapport.pipeline.mail).
            parent.send("more")
            await asyncio.get_running_loop().run_in_executor(None, parent.recv)
            started, cpu = time.perf_counter(), time.process_time()
            stats2, count2, _ = await sync.sync_folder(store, graph, firm, person, "inbox")
            intake_s, intake_cpu = time.perf_counter() - started, time.process_time() - cpu
            assert count2 == n, count2
        finally:
            await graph.close()
            await store.close()
            parent.send("stop")
            proc.join(10)
    return {"messages": n, "page_size": page_size, "seconds": end_to_end, "per_second": n / end_to_end,
            "per_cpu_second": n / end_to_end_cpu, "transport_per_second": n / transport,
            "ingest_again_per_second": n / ingest_only, "ingest_again_per_cpu_second": n / ingest_cpu,
            "contacts_new": stats.contacts_new, "intake_per_second": count2 / intake_s,
            "intake_per_cpu_second": count2 / intake_cpu, "enquiries": stats2.enquiries}


def _load_process(conn, url: str, bodies: list[bytes], concurrency: int) -> None:
    """Graph's side of the burst, in its own process: POSTs `bodies`, `concurrency` at once."""
    import aiohttp

    async def run() -> None:
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        sem = asyncio.Semaphore(concurrency)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
            async def one(body: bytes) -> None:
                async with sem:
                    started = time.perf_counter()
                    async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                        await resp.read()
                    latencies.append(time.perf_counter() - started)
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1

            started = time.perf_counter()
            await asyncio.gather(*(one(b) for b in bodies))
            wall = time.perf_counter() - started
        conn.send((latencies, statuses, wall))

    asyncio.run(run())


async def bench_webhook(posts: int, concurrency: int, items_per_post: int) -> dict[str, float]:
    standin = await GraphStandIn().start()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings({"RAPPORT_SQLITE_PATH": str(Path(tmp) / "hook.db")})
        store = await Store(SqliteBackend(settings.sqlite_path)).open()
        host = await DevHost(settings, store=store).start()
        services = contextlib.ExitStack()  # Graph must reach this host: its URL is the public one while it runs
        services.enter_context(runtime.override(settings=dataclasses.replace(settings, public_url=host.base_url)))
        graph = GraphClient(standin.base_url, Tokens())
        services.enter_context(runtime.override(graph=graph))
        try:
            mailboxes = []
            for t in range(5):
                tid = f"t-{t}"
                upns = [f"p{i}@firm{t}.example" for i in range(10)]
                firm = Tenant(id=tid, tenantId=tid, name=f"Firm {t}", domains=[f"firm{t}.example"], partners=upns)
                await store.put_tenant(firm)
                for upn in upns:
                    mb = standin.add_mailbox(tid, upn)
                    await store.put(Person(id=mb.oid, tenantId=tid, oid=mb.oid, upn=upn, name=upn))
                    mailboxes.append(mb)
                await subscriptions.ensure_tenant(store, graph, firm, public_url=host.base_url)
            subs = [standin.subscription_for(mb, kind) for mb in mailboxes for kind in ("messages", "events")]
            url = f"{host.base_url}/api/graph/notifications"
            rng = random.Random(11)
            bodies = [json.dumps({"value": [standin.change_item(rng.choice(subs), "created", f"AAMk{i}-{k}")
                                            for k in range(items_per_post)]}).encode() for i in range(posts)]
            ctx = multiprocessing.get_context("spawn")
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_load_process, args=(child, url, bodies, concurrency), daemon=True)
            proc.start()
            while not parent.poll():
                await asyncio.sleep(0.05)  # keep serving while the load runs
            latencies, statuses, wall = parent.recv()
            proc.join(10)
            for firm in await store.list_tenants():
                await work.drain(store, tenant_ids=[firm.id])  # let the queued syncs finish too
            pending = work.kicks()
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        finally:
            services.close()
            await graph.close()
            await host.stop()
            await store.close()
            await standin.stop()
    latencies.sort()
    return {"posts": posts, "items_per_post": items_per_post, "concurrency": concurrency, "statuses": statuses,
            "p50_ms": statistics.median(latencies) * 1000, "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "max_ms": latencies[-1] * 1000, "posts_per_second": posts / wall}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=20000)
    p.add_argument("--page-size", type=int, default=500)
    p.add_argument("--posts", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--items-per-post", type=int, default=5)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    runtime.tune_gc()  # the collector settings function_app and the CLI run capture with
    d = asyncio.run(bench_delta(args.messages, args.page_size))
    print(f"delta -> interactions: {d['messages']} messages, page size {d['page_size']}: {d['seconds']:.2f} s, "
          f"{d['per_second']:,.0f} messages/s end to end (budget >= 5,000/s), {d['per_cpu_second']:,.0f}/s per CPU "
          f"second of this process; transport alone {d['transport_per_second']:,.0f}/s; capture re-ingesting the "
          f"same pages {d['ingest_again_per_second']:,.0f}/s ({d['ingest_again_per_cpu_second']:,.0f}/CPU-s); "
          f"{d['contacts_new']} contacts created")
    print(f"incremental round with the enquiry intake on: {d['messages']} new mails (5% from new people), "
          f"{d['intake_per_second']:,.0f} messages/s end to end (budget >= 5,000/s), "
          f"{d['intake_per_cpu_second']:,.0f}/CPU-s; {d['enquiries']} enquiries opened")
    print(f"  (host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}: wall-clock figures include "
          "other processes' share of the CPU)")
    w = asyncio.run(bench_webhook(args.posts, args.concurrency, args.items_per_post))
    print(f"webhook answers: {w['posts']} POSTs x {w['items_per_post']} items, {w['concurrency']} at once: "
          f"p50 {w['p50_ms']:.1f} ms, p99 {w['p99_ms']:.1f} ms (budget < 200 ms), max {w['max_ms']:.1f} ms, "
          f"{w['posts_per_second']:,.0f} POSTs/s, statuses {w['statuses']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
