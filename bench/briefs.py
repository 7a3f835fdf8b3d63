"""Benchmark: meeting briefs on the embedded store (SQLite). Prints figures; does not pass or fail.

    .venv/bin/python bench/briefs.py [--interactions 10000] [--samples 300] [--partners 500] [--meetings 5]

1. Composition (rapport.briefs.build: gather through the ScopedStore + pure compose + template
   talking points) for a meeting with a contact who has --interactions interactions, plus a second
   attendee, matters, pipeline and a past meeting with a follow-up draft. Budget: p95 < 20 ms.
2. A timer pass over --partners partners with --meetings meetings each, all inside the lead time
   (the worst case: every one due at once). Budget: < 10 s. Reported separately: the pass (find
   and queue), the drain that delivers them all to the local outbox (compose + card + outbox
   write + briefsSent), and a second pass that finds every brief already sent.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rapport import briefs, runtime, work  # noqa: E402
from rapport.records import (  # noqa: E402
    Account,
    Attendee,
    Contact,
    Draft,
    Enquiry,
    Interaction,
    Matter,
    Meeting,
    Opportunity,
    OutboxItem,
    Owner,
    Person,
    Tenant,
    contact_id,
)
from rapport.settings import load_settings  # noqa: E402
from rapport.store import ScopedStore, make_store  # noqa: E402

TID = "7e7e7e7e-0000-4000-8000-00000000be7c"
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
CHUNK = 5000


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def partner(i: int) -> Person:
    oid = f"0b0b0b0b-0000-4000-8000-{i:012d}"
    return Person(id=oid, tenantId=TID, oid=oid, upn=f"partner{i}@firm.example", name=f"Partner {i}",
                  team="Trade Marks" if i % 2 else "Contentious IP")


async def composition(store, interactions: int, samples: int) -> None:
    me = partner(0)
    acct = Account.new(TID, "bigclient.example", name="Big Client plc", kind="client")
    heavy = Contact.new(TID, "heavy@bigclient.example", name="Hanna Heavy", title="General Counsel", accountId=acct.id,
                        owners=[Owner(oid=me.oid, name=me.name), Owner(oid=partner(1).oid, name="Partner 1")])
    other = Contact.new(TID, "second@bigclient.example", name="Sam Second", accountId=acct.id,
                        owners=[Owner(oid=me.oid, name=me.name)])
    records: list = [Tenant(id=TID, tenantId=TID, name="Bench Firm", domains=["firm.example"]), me, partner(1),
                     acct, heavy, other]
    for k in range(8):
        records.append(Matter(id=f"mat_{k}", tenantId=TID, accountId=acct.id, title=f"MARK {k} - EU trade mark",
                              reference=f"BM-{k}", renewalDate=NOW + timedelta(days=30 * k + 5)))
    records.append(Enquiry(id="enq_1", tenantId=TID, accountId=acct.id, contactId=heavy.id, subject="New filings",
                           receivedAt=NOW - timedelta(days=3)))
    records.append(Opportunity(id="opp_1", tenantId=TID, accountId=acct.id, title="Portfolio transfer",
                               stage="pitching", openedAt=NOW - timedelta(days=20)))
    await store.put_many(records)
    batch = []
    for i in range(interactions):
        at = NOW - timedelta(hours=1 + i * 2)
        batch.append(Interaction(id=Interaction.id_for("bench", str(i)), tenantId=TID, channel="email", at=at,
                                 subject=f"Matter update {i}", direction="inbound" if i % 2 else "outbound",
                                 ownerOid=me.oid if i % 3 else partner(1).oid, contactIds=[heavy.id],
                                 accountIds=[acct.id]))
        if len(batch) >= CHUNK:
            await store.put_many(batch)
            batch = []
    await store.put_many(batch)
    past = Meeting(id=Meeting.id_for(me.oid, "past"), tenantId=TID, eventId="past", organizerOid=me.oid,
                   subject="Last review", start=NOW - timedelta(days=9), end=NOW - timedelta(days=9, minutes=-60),
                   contactIds=[heavy.id], accountIds=[acct.id])
    coming = Meeting(id=Meeting.id_for(me.oid, "next"), tenantId=TID, eventId="next", organizerOid=me.oid,
                     subject="Quarterly review", start=NOW + timedelta(minutes=45), end=NOW + timedelta(minutes=105),
                     attendees=[Attendee(email=heavy.email, name=heavy.name), Attendee(email=other.email)],
                     contactIds=[heavy.id, other.id], accountIds=[acct.id])
    draft = Draft(id="dr_bench", tenantId=TID, ownerOid=me.oid, meetingId=past.id, state="sent", accountIds=[acct.id])
    await store.put_many([past, coming, draft])

    for _ in range(10):  # warm caches and imports
        await briefs.build(ScopedStore(store, TID, me.oid), coming.id, NOW)
    times, calls = [], []
    for _ in range(samples):
        scoped = ScopedStore(store, TID, me.oid)  # a fresh handle per request, as the API makes
        t = time.perf_counter()
        facts = await briefs.build(scoped, coming.id, NOW)
        times.append((time.perf_counter() - t) * 1000)
        calls.append(scoped.calls)
    assert facts and facts["attendees"][0]["name"] == "Hanna Heavy"
    print(f"composition, contact with {interactions:,} interactions, {samples} samples (template drafting):")
    print(f"  p50 {pct(times, 50):.2f} ms   p95 {pct(times, 95):.2f} ms   p99 {pct(times, 99):.2f} ms   "
          f"max {max(times):.2f} ms   (budget p95 < 20 ms)")
    print(f"  store round trips per brief: {statistics.median(calls):.0f}")


async def timer(store, partners: int, meetings: int) -> None:
    tid = "7e7e7e7e-0000-4000-8000-0000000071e2"
    people = []
    for i in range(partners):
        oid = f"0c0c0c0c-0000-4000-8000-{i:012d}"
        people.append(Person(id=oid, tenantId=tid, oid=oid, upn=f"p{i}@firm2.example", name=f"Partner {i}"))
    accounts = [Account.new(tid, f"client{k}.example", name=f"Client {k}", kind="client") for k in range(50)]
    contacts = [Contact.new(tid, f"c{k}@client{k % 50}.example", name=f"Contact {k}", accountId=accounts[k % 50].id,
                            owners=[Owner(oid=people[k % partners].oid, name=f"Partner {k % partners}")])
                for k in range(500)]
    ms = []
    for i, p in enumerate(people):
        for k in range(meetings):
            c = contacts[(i * meetings + k) % len(contacts)]
            start = NOW + timedelta(minutes=5 + 10 * k)
            ms.append(Meeting(id=Meeting.id_for(p.oid, f"ev{i}-{k}"), tenantId=tid, eventId=f"ev{i}-{k}",
                              organizerOid=p.oid, subject=f"Meeting {k}", start=start, end=start + timedelta(minutes=30),
                              attendees=[Attendee(email=c.email, name=c.name)], contactIds=[contact_id(c.email)],
                              accountIds=[c.accountId]))
    tenant = Tenant(id=tid, tenantId=tid, name="Big Firm", domains=["firm2.example"], partners=[p.upn for p in people])
    await store.put_many([tenant, *people, *accounts, *contacts, *ms])

    t = time.perf_counter()
    report = await briefs.timer_pass(store, NOW, tenant_ids=[tid])
    queued = time.perf_counter() - t
    t = time.perf_counter()
    drained = await work.drain(store, now=NOW, tenant_ids=[tid], max_items=100_000)
    delivered = time.perf_counter() - t
    t = time.perf_counter()
    again = await briefs.timer_pass(store, NOW + timedelta(minutes=5), tenant_ids=[tid])
    second = time.perf_counter() - t
    outbox = len(await store.find_all(OutboxItem, tid))
    print(f"timer pass, {partners} partners x {meetings} meetings, all inside the lead time (SQLite):")
    print(f"  pass (find + queue {len(report.queued):,} briefs): {queued:.2f} s   (budget < 10 s)")
    print(f"  drain (compose + card + local outbox + briefsSent, {len(drained.done):,} done, "
          f"{len(drained.retrying) + len(drained.dead)} failed): {delivered:.2f} s "
          f"({delivered / max(1, len(drained.done)) * 1000:.1f} ms per brief)")
    print(f"  pass + drain: {queued + delivered:.2f} s;   next pass (all already sent, {len(again.queued)} queued): "
          f"{second:.2f} s;   outbox items: {outbox:,}")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interactions", type=int, default=10_000)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--partners", type=int, default=500)
    ap.add_argument("--meetings", type=int, default=5)
    args = ap.parse_args()
    logging.disable(logging.INFO)  # a log line per brief would time the logger
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings({"RAPPORT_SQLITE_PATH": str(Path(tmp) / "bench.db")})
        store = await make_store(settings).open()
        try:
            with runtime.override(settings=settings, store=store):
                await composition(store, args.interactions, args.samples)
                await timer(store, args.partners, args.meetings)
        finally:
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
