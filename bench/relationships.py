"""Benchmark: the relationships timer pass (prints figures; not pass/fail).

A firm of --partners partners with --moves counsel-move signals of the last days (each person known
to two partners) and --requests open introduction requests, half of them due a reminder. One timer
pass (rapport.relationships.timer_pass: reminders, moves raised with their notes, tracking) on the
embedded default (SQLite), then the drain that delivers every card to the local outbox; then an idle
pass (everything raised already), which is what the 15-minute timer costs on an ordinary day.
Budgets: first pass < 10 s for 500 moves and 500 requests; idle pass < 1 s.

Run: .venv/bin/python -m bench.relationships [--partners 50] [--moves 500] [--requests 500]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rapport import runtime, work  # noqa: E402
from rapport.records import (  # noqa: E402
    Account,
    Contact,
    IntroRequest,
    Owner,
    Person,
    Signal,
    Tenant,
    account_id,
    contact_id,
    stable_id,
    utcnow,
)
from rapport.relationships import timer_pass  # noqa: E402
from rapport.settings import load_settings  # noqa: E402
from rapport.store import make_store  # noqa: E402

T = "bbbbbbbb-0000-4000-8000-0000000000be"


async def main(partners: int, moves: int, requests: int) -> None:
    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings({"RAPPORT_SQLITE_PATH": str(Path(tmp) / "bench.db")})
        store = make_store(settings)
        await store.open()
        now = utcnow()
        oids = [f"{k:08d}-0000-4000-8000-000000000000" for k in range(partners)]
        recs: list = [Tenant(id=T, tenantId=T, name="Bench", domains=["firm.test"])]
        recs += [Person(id=o, tenantId=T, oid=o, upn=f"p{k}@firm.test", name=f"Partner {k}") for k, o in enumerate(oids)]
        for k in range(moves):
            owners = [Owner(oid=oids[k % partners], name="P"), Owner(oid=oids[(k + 1) % partners], name="Q")]
            old, new = f"m{k}@old{k % 50}.example", f"m{k}@new{k % 70}.example"
            for email, days in ((old, 200), (new, 2)):
                domain = email.rpartition("@")[2]
                recs.append(Account.new(T, domain, name=domain.split(".")[0].title()))
                recs.append(Contact.new(T, email, name=f"Mover Number{k}", accountId=account_id(domain),
                                        firstSeen=now - timedelta(days=days), owners=owners))
            recs.append(Signal(id=stable_id("sg", old, new), tenantId=T, contactId=contact_id(new), fromValue=old,
                               toValue=new, at=now - timedelta(days=2)))
        for k in range(requests):
            cid = contact_id(f"m{k % max(moves, 1)}@new{k % 70}.example")
            recs.append(IntroRequest(id=IntroRequest.id_for(cid, f"asker{k}", 1), tenantId=T, contactId=cid,
                                     askerOid=f"asker{k}", ownerOids=[oids[k % partners]], routedTo=[oids[k % partners]],
                                     createdAt=now - timedelta(days=7 if k % 2 else 1)))
        await store.put_many(recs)
        with runtime.override(settings=settings, store=store):
            work.load_handlers()
            t0, c0 = time.perf_counter(), time.process_time()
            totals = await timer_pass(store, now, kick=False)
            first, first_cpu = time.perf_counter() - t0, time.process_time() - c0
            t0, c0 = time.perf_counter(), time.process_time()
            report = await work.drain(store, max_items=100_000)
            drained, drained_cpu = time.perf_counter() - t0, time.process_time() - c0
            t0 = time.perf_counter()
            await timer_pass(store, now + timedelta(minutes=15), kick=False)
            idle = time.perf_counter() - t0
        await store.close()
    print(f"relationships pass: {totals['moves']} moves raised, {totals['reminders']} reminders in {first:.2f} s "
          f"(budget < 10 s at 500 + 500), {first_cpu:.2f} CPU-s of this process")
    print(f"drain: {len(report.done)} cards delivered (move cards, follow-up cards of the notes, reminders) "
          f"in {drained:.2f} s, {drained_cpu:.2f} CPU-s")
    print(f"idle pass (nothing new): {idle * 1000:.0f} ms (budget < 1000 ms)")
    print(f"  (host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}: wall-clock figures include "
          "other processes' share of the CPU)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--partners", type=int, default=50)
    ap.add_argument("--moves", type=int, default=500)
    ap.add_argument("--requests", type=int, default=500)
    a = ap.parse_args()
    asyncio.run(main(a.partners, a.moves, a.requests))
