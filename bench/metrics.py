"""Benchmark: metrics on the embedded store (SQLite). Prints figures beside budgets; does not pass or fail.

    .venv/bin/python -m bench.metrics [--partners 500] [--weeks 52] [--samples 200]

A firm of --partners partners with --weeks weeks of records (each partner a week: five meetings with
people outside the firm, four approved follow-ups, an enquiry every third week; 100 contacts each, a
counsel move now and then, 10 % of its contacts gone cold), then:

1. the daily roll-up (rapport.metrics.rollup.rollup_timer: every partner's open weeks, 6). Budget < 10 s.
   Also one week alone, and the first run's backfill of 13 weeks (what a new installation pays once).
2. the managing partner's Monday report from the roll-ups (rapport.metrics.week.firm_facts). Budget < 1 s.
3. "My BD desk" for random partners (rapport.metrics.desk.desk, what /api/addin/desk answers after the
   token check). Budget p95 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rapport.metrics import rollup, week  # noqa: E402
from rapport.metrics.desk import desk  # noqa: E402
from rapport.records import (  # noqa: E402
    Account,
    Contact,
    Draft,
    Enquiry,
    Interaction,
    Meeting,
    Opportunity,
    Owner,
    Person,
    Signal,
    Tenant,
)
from rapport.settings import load_settings  # noqa: E402
from rapport.store import make_store  # noqa: E402

TID = "7e7e7e7e-0000-4000-8000-0000000be7c5"
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # a Wednesday
CHUNK = 20_000
ZONES = ["Europe/London", "Europe/Berlin", "America/New_York", "Asia/Tokyo", ""]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def firm(partners: int, weeks: int, rng: random.Random):
    """Yields the firm's records, in chunks a bulk write takes."""
    people = [Person(id=f"0b0b0b0b-0000-4000-8000-{i:012d}", tenantId=TID, oid=f"0b0b0b0b-0000-4000-8000-{i:012d}",
                     upn=f"p{i}@firm.example", name=f"Partner {i}", timeZone=ZONES[i % len(ZONES)],
                     role="managing_partner" if i == 0 else "partner") for i in range(partners)]
    out: list = [Tenant(id=TID, tenantId=TID, name="Bench Firm", domains=["firm.example"]), *people]
    accounts = [Account.new(TID, f"client{a}.example", name=f"Client {a}", kind="client" if a % 2 else "prospect")
                for a in range(partners * 10)]
    out += accounts
    start = NOW - timedelta(days=NOW.weekday(), weeks=weeks - 1)  # a Monday: the last week is this one
    for i, p in enumerate(people):
        contacts = []
        for k in range(100):
            acct = accounts[(i * 10 + k % 10 + 1) % len(accounts)]  # k % 10 == 0: a client's contact
            cold = k % 10 == 0
            c = Contact.new(TID, f"c{k}.p{i}@{acct.domain}", name=f"Contact {k} of {i}", accountId=acct.id,
                            owners=[Owner(oid=p.oid, name=p.name, visibility="private" if k % 7 == 0 else "firm",
                                          since=NOW - timedelta(days=900),
                                          lastTouch=NOW - timedelta(days=120 if cold else rng.randint(1, 40)))])
            contacts.append(c)
        out += contacts
        for w in range(weeks):
            monday = start + timedelta(weeks=w)
            for m in range(5):
                end = monday + timedelta(days=m, hours=10 + m)
                if end > NOW + timedelta(days=2):  # this week's later meetings are still to come
                    continue
                c = contacts[(w * 5 + m) % 100]
                mid = f"mt_b{i}_{w}_{m}"
                out.append(Meeting(id=mid, tenantId=TID, eventId=mid, organizerOid=p.oid, subject="Meeting",
                                   start=end - timedelta(hours=1), end=end, contactIds=[c.id], accountIds=[c.accountId]))
                if m < 4 and end < NOW:
                    at = end + timedelta(hours=rng.choice([1, 2, 4, 8, 20, 50]))
                    if at < NOW:
                        out.append(Draft(id=f"df_b{i}_{w}_{m}", tenantId=TID, ownerOid=p.oid, meetingId=mid, state="sent",
                                         approvedAt=at, sentAt=at, updatedAt=at, to=[c.email], subject="Follow-up"))
            if (w + i) % 3 == 0:
                got = monday + timedelta(days=1, hours=9)
                out.append(Enquiry(id=f"eq_b{i}_{w}", tenantId=TID, ownerOid=p.oid, subject="Enquiry", receivedAt=got,
                                   firstResponseAt=got + timedelta(hours=rng.choice([1, 3, 6])),
                                   stage="new" if w > weeks - 8 else "won"))
            if (w + i) % 13 == 0:
                out.append(Opportunity(id=f"op_b{i}_{w}", tenantId=TID, ownerOid=p.oid, title="Opportunity",
                                       openedAt=monday + timedelta(days=2)))
            if (w + i) % 10 == 0:
                c = contacts[w % 100]
                at = monday + timedelta(days=2)
                out.append(Signal(id=f"sg_b{i}_{w}", tenantId=TID, contactId=c.id, at=at, summary="moved"))
                out.append(Interaction(id=f"ix_b{i}_{w}", tenantId=TID, channel="email", direction="outbound",
                                       at=at + timedelta(days=3), ownerOid=p.oid, contactIds=[c.id]))
        if len(out) >= CHUNK:
            yield out
            out = []
    yield out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--partners", type=int, default=500)
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--samples", type=int, default=200)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rng = random.Random(17)
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(load_settings({"RAPPORT_SQLITE_PATH": str(Path(tmp) / "bench.db")}))
        await store.open()
        try:
            t0 = time.perf_counter()
            n = 0
            for chunk in firm(args.partners, args.weeks, rng):
                n += await store.put_many(chunk)
            print(f"firm: {args.partners} partners, {args.weeks} weeks, {n:,} records written in "
                  f"{time.perf_counter() - t0:.1f} s")
            tenant = await store.get_tenant(TID)

            t0 = time.perf_counter()
            stats = await rollup.roll_up(store, tenant, 1, NOW)
            one = time.perf_counter() - t0
            t0 = time.perf_counter()
            report = await rollup.rollup_timer(store, now=NOW)
            daily = time.perf_counter() - t0
            t0 = time.perf_counter()
            await rollup.roll_up(store, tenant, 13, NOW)
            backfill = time.perf_counter() - t0
            print("weekly roll-up (SQLite):")
            print(f"  the daily timer, {rollup.OPEN_WEEKS} open weeks x {report.partners} partners "
                  f"({report.written:,} roll-ups): {daily:.2f} s   (budget < 10 s)")
            print(f"  one week ({len(stats)} roll-ups): {one:.2f} s;   a new installation's backfill of 13 weeks: "
                  f"{backfill:.2f} s (once)")

            mp = await store.get_person(TID, f"0b0b0b0b-0000-4000-8000-{0:012d}")
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                firm_report = await week.firm_facts(store, tenant, mp, NOW)
                times.append(time.perf_counter() - t0)
            print(f"the Monday report from roll-ups ({len(firm_report['partners'])} partner rows, 12 weeks): "
                  f"median {sorted(times)[2] * 1000:.0f} ms, worst {max(times) * 1000:.0f} ms   (budget < 1 s)")

            people = [p for p in await store.people(TID)]
            for p in people[:5]:
                await desk(store, TID, p, NOW)  # warm
            lat = []
            for _ in range(args.samples):
                p = rng.choice(people)
                t0 = time.perf_counter()
                facts = await desk(store, TID, p, NOW)
                lat.append((time.perf_counter() - t0) * 1000)
            print(f"My BD desk, {args.samples} random partners (last facts: {len(facts['meetings'])} meetings, "
                  f"{len(facts['cold'])} cold): p50 {pct(lat, 50):.1f} ms, p95 {pct(lat, 95):.1f} ms, "
                  f"max {max(lat):.1f} ms   (budget p95 < 50 ms)")
        finally:
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
