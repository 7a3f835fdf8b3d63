"""capture.ingest against a real SQLite store: merging, idempotency, duplicates in any order."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rapport.capture import Ingestion, ingest
from rapport.records import (
    Account,
    Contact,
    Interaction,
    Meeting,
    Owner,
    Person,
    Signal,
    Tenant,
    account_id,
    contact_id,
)
from rapport.store.base import Store
from rapport.store.sqlite import SqliteBackend
from tests.test_capture_mapping import FIRM, OWNER, TID, addr, event, message

OTHER = Person(id="oid-2", tenantId=TID, oid="oid-2", upn="bo.kim@firm.example", name="Bo Kim")
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


async def snapshot(store: Store, tenant_id: str = TID) -> dict[str, dict[str, Any]]:
    """Every document of the tenant, minus the store's own concurrency tokens."""
    out: dict[str, dict[str, Any]] = {}
    for cls in (Contact, Account, Interaction, Meeting, Signal):
        for r in await store.find_all(cls, tenant_id):
            out[r.id] = r.model_dump(mode="json", exclude={"etag"})
    return out


def counts(snap: dict[str, dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for k in snap:
        out[k[:2]] = out.get(k[:2], 0) + 1
    return out


def mailbox(n: int = 40) -> list[dict]:
    people = [("jane.doe@acme.example", "Jane Doe"), ("raj@acme.example", ""), ("li.wei@beta.example", "Li Wei"),
              ("bob@gmail.com", "Bob"), ("anna@assoc.example", "Anna Berg")]
    out = []
    for i in range(n):
        email, name = people[i % len(people)]
        out.append(message(f"m{i}", frm=addr(email, name), received=f"2026-0{1 + i % 9}-1{i % 10}T10:00:00Z",
                           cc=[addr("sam@firm.example", "Sam")] if i % 3 == 0 else []))
    return out


async def test_ingest_writes_contacts_accounts_interactions(ingest_store: Store) -> None:
    stats = await ingest(ingest_store, FIRM, OWNER, messages=mailbox(), folder="inbox", now=NOW)
    assert (stats.messages, stats.interactions, stats.contacts_new, stats.accounts_new) == (40, 40, 5, 3)
    jane = await ingest_store.contact_by_email(TID, "Jane.Doe@acme.example")
    assert jane is not None and jane.name == "Jane Doe" and jane.accountId == account_id("acme.example")
    assert [o.oid for o in jane.owners] == [OWNER.oid]
    assert jane.firstSeen == datetime(2026, 1, 10, 10, tzinfo=UTC)
    page = await ingest_store.interactions_for_contact(TID, jane.id, limit=100)
    assert len(page.items) == 8 and page.items[0].at >= page.items[-1].at
    assert await ingest_store.get(Account, TID, account_id("gmail.com")) is None
    assert await ingest_store.contact_by_email(TID, "sam@firm.example") is None


async def test_ingesting_the_same_batch_twice_changes_nothing(ingest_store: Store) -> None:
    msgs = mailbox()
    evs = [event("e1"), event("e2", isCancelled=True)]
    await ingest(ingest_store, FIRM, OWNER, messages=msgs, events=evs, now=NOW)
    before = await snapshot(ingest_store)
    again = await ingest(ingest_store, FIRM, OWNER, messages=msgs, events=evs, now=NOW)
    assert (again.contacts_new, again.contacts_updated, again.accounts_new, again.signals, again.meetings) == (0, 0, 0, 0, 0)
    assert await snapshot(ingest_store) == before


async def test_second_mailbox_adds_an_owner_and_keeps_private_visibility(ingest_store: Store) -> None:
    await ingest(ingest_store, FIRM, OWNER, messages=mailbox(5), now=NOW)

    def private(c: Contact) -> Contact:
        c.owners[0].visibility = "private"
        c.title = "Head of IP"
        return c

    cid = contact_id("jane.doe@acme.example")
    await ingest_store.update(Contact, TID, cid, private)
    stats = await ingest(ingest_store, FIRM, OTHER, messages=[message("o1", to=[addr(OTHER.upn)],
                                                                       received="2026-10-01T10:00:00Z")], now=NOW)
    assert stats.contacts_updated == 1 and stats.contacts_new == 0
    jane = await ingest_store.get(Contact, TID, cid)
    owners = {o.oid: o.visibility for o in jane.owners}
    assert owners == {OWNER.oid: "private", OTHER.oid: "firm"}
    assert jane.title == "Head of IP" and jane.lastSeen == datetime(2026, 10, 1, 10, tzinfo=UTC)


async def test_name_improves_across_batches_never_degrades(capture_store: Store) -> None:
    cid = contact_id("raj@acme.example")
    await ingest(capture_store, FIRM, OWNER, messages=[message("a", frm=addr("raj@acme.example", "raj@acme.example"))])
    assert (await capture_store.get(Contact, TID, cid)).name == "raj@acme.example"
    await ingest(capture_store, FIRM, OWNER, messages=[message("b", frm=addr("raj@acme.example", "Raj Patel"))])
    assert (await capture_store.get(Contact, TID, cid)).name == "Raj Patel"
    await ingest(capture_store, FIRM, OWNER, messages=[message("c", frm=addr("raj@acme.example", "R."))])
    assert (await capture_store.get(Contact, TID, cid)).name == "Raj Patel"


async def test_existing_account_is_never_overwritten(ingest_store: Store) -> None:
    await ingest_store.put(Account.new(TID, "acme.example", name="ACME Holdings plc", kind="client", country="UK"))
    stats = await ingest(ingest_store, FIRM, OWNER, messages=[message()])
    assert stats.accounts_new == 0
    acct = await ingest_store.get(Account, TID, account_id("acme.example"))
    assert (acct.name, acct.kind, acct.country) == ("ACME Holdings plc", "client", "UK")


async def test_counsel_move_across_batches_in_either_order(ingest_store: Store) -> None:
    old = message("m-old", frm=addr("jane.doe@oldco.example", "Jane Doe"), received="2025-02-01T10:00:00Z")
    new = message("m-new", frm=addr("jane.doe@newco.example", "Doe, Jane"), received="2026-09-01T10:00:00Z")
    results = []
    for i, batches in enumerate(([[old], [new]], [[new], [old]], [[old, new]])):
        tid = f"00000000-0000-0000-0000-00000000000{i}"  # one tenant per ordering, on one store
        firm = FIRM.model_copy(update={"id": tid, "tenantId": tid})
        owner = OWNER.model_copy(update={"tenantId": tid})
        raised = 0
        for batch in batches:
            raised += (await ingest(ingest_store, firm, owner, messages=batch, now=NOW)).signals
        raised += (await ingest(ingest_store, firm, owner, messages=[old, new], now=NOW)).signals  # again: no-op
        sigs = await ingest_store.find_all(Signal, tid)
        assert raised == 1 and len(sigs) == 1
        s = sigs[0]
        assert s.contactId == contact_id("jane.doe@newco.example")
        assert (s.fromValue, s.toValue) == ("jane.doe@oldco.example", "jane.doe@newco.example")
        assert await ingest_store.signals_for_contact(tid, s.contactId) != []
        results.append(s.model_dump(exclude={"etag", "tenantId"}))
    assert results[0] == results[1] == results[2]


async def test_removed_and_cancelled_events(ingest_store: Store) -> None:
    await ingest(ingest_store, FIRM, OWNER, events=[event("e1"), event("e2")], now=NOW)
    mid = Meeting.id_for(OWNER.oid, "e1")
    ix1 = Interaction.id_for("graph-event", f"{OWNER.oid}:e1")
    assert await ingest_store.get(Interaction, TID, ix1) is not None

    # A brief was shown; then Graph says the event was deleted.
    await ingest_store.update(Meeting, TID, mid, lambda m: m.model_copy(update={"briefsSent": {OWNER.oid: "x"}}))
    stats = await ingest(ingest_store, FIRM, OWNER, events=[{"id": "e1", "@removed": {"reason": "deleted"}}])
    assert stats.removed == 1 and stats.meetings == 1
    m = await ingest_store.get(Meeting, TID, mid)
    assert m.isCancelled and m.briefsSent == {OWNER.oid: "x"}
    assert await ingest_store.get(Interaction, TID, ix1) is None
    # A cancelled copy of e2 does the same; a removal of an event never seen is harmless.
    await ingest(ingest_store, FIRM, OWNER, events=[event("e2", isCancelled=True), {"id": "zz", "@removed": {}}])
    assert (await ingest_store.get(Meeting, TID, Meeting.id_for(OWNER.oid, "e2"))).isCancelled
    assert await ingest_store.get(Interaction, TID, Interaction.id_for("graph-event", f"{OWNER.oid}:e2")) is None
    assert await ingest_store.get(Meeting, TID, Meeting.id_for(OWNER.oid, "zz")) is None


async def test_removed_and_live_copy_in_one_batch_removal_wins_in_any_order(capture_store: Store) -> None:
    removed = {"id": "e1", "@removed": {"reason": "deleted"}}
    for evs in ([event("e1"), removed], [removed, event("e1")]):
        await ingest(capture_store, FIRM, OWNER, events=evs)
        assert (await capture_store.get(Meeting, TID, Meeting.id_for(OWNER.oid, "e1"))).isCancelled
        assert await capture_store.get(Interaction, TID, Interaction.id_for("graph-event", f"{OWNER.oid}:e1")) is None


async def test_removed_message_stays_as_history(capture_store: Store) -> None:
    await ingest(capture_store, FIRM, OWNER, messages=[message("m1")])
    stats = await ingest(capture_store, FIRM, OWNER, messages=[{"id": "m1", "@removed": {"reason": "deleted"}}])
    assert stats.removed == 1
    assert await capture_store.get(Interaction, TID, Interaction.id_for("graph-mail", f"{OWNER.oid}:m1")) is not None


async def test_meeting_update_keeps_briefs_and_takes_graph_changes(ingest_store: Store) -> None:
    await ingest(ingest_store, FIRM, OWNER, events=[event("e1")])
    mid = Meeting.id_for(OWNER.oid, "e1")
    await ingest_store.update(Meeting, TID, mid, lambda m: m.model_copy(update={"briefsSent": {OWNER.oid: "t"}}))
    moved = event("e1", subject="Portfolio review (moved)",
                  start={"dateTime": "2026-11-26T10:00:00.0000000", "timeZone": "UTC"},
                  end={"dateTime": "2026-11-26T11:00:00.0000000", "timeZone": "UTC"})
    stats = await ingest(ingest_store, FIRM, OWNER, events=[moved])
    assert stats.meetings == 1
    m = await ingest_store.get(Meeting, TID, mid)
    assert m.subject == "Portfolio review (moved)" and m.start.day == 26 and m.briefsSent == {OWNER.oid: "t"}


async def test_future_meeting_is_not_a_last_touch(capture_store: Store) -> None:
    await ingest(capture_store, FIRM, OWNER, messages=[message(received="2026-11-01T10:00:00Z")], now=NOW)
    await ingest(capture_store, FIRM, OWNER, events=[event(
        "future", start={"dateTime": "2026-12-01T10:00:00.0000000", "timeZone": "UTC"},
        end={"dateTime": "2026-12-01T11:00:00.0000000", "timeZone": "UTC"})], now=NOW)
    jane = await capture_store.contact_by_email(TID, "jane.doe@acme.example")
    assert jane.lastSeen == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert jane.owners[0].lastTouch == datetime(2026, 11, 1, 10, tzinfo=UTC)


async def test_poison_items_do_not_stop_the_batch(capture_store: Store) -> None:
    stats = await ingest(capture_store, FIRM, OWNER, messages=[{"nope": 1}, message("ok"), {"id": "x"}])
    assert stats.skipped == 2 and stats.interactions == 1


class CountingBackend(SqliteBackend):
    """The real SQLite backend, counting its round trips."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.calls = 0

    async def get_text(self, *a, **kw):  # what Store.get reads through on SQLite (get_doc does too)
        self.calls += 1
        return await super().get_text(*a, **kw)

    async def put_doc(self, *a, **kw):
        self.calls += 1
        return await super().put_doc(*a, **kw)

    async def put_docs(self, *a, **kw):
        self.calls += 1
        return await super().put_docs(*a, **kw)

    async def find_texts(self, *a, **kw):  # what Store.find reads through on SQLite (find_docs does too)
        self.calls += 1
        return await super().find_texts(*a, **kw)


async def test_round_trips_scale_with_people_not_messages(tmp_path) -> None:
    backend = CountingBackend(str(tmp_path / "count.db"))
    store = await Store(backend).open()
    try:
        msgs = [message(f"m{i}", frm=addr(f"p{i % 10}@co{i % 4}.example", f"Person {i % 10}x"),
                        received=f"2026-01-01T{i % 24:02d}:00:00Z") for i in range(2000)]
        stats = await ingest(store, FIRM, OWNER, messages=msgs)
        assert stats.interactions == 2000 and stats.contacts_new == 20 and stats.accounts_new == 4
        # 4 account reads + 4 creates, 20 contact reads + 20 creates, a few name look-ups, 1 bulk write
        assert backend.calls < 80, backend.calls
        backend.calls = 0
        await ingest(store, FIRM, OWNER, messages=msgs)
        assert backend.calls < 30, backend.calls
    finally:
        await store.close()


class RacingBackend(SqliteBackend):
    """SQLite where another mailbox's capture writes the same contact just after ours read it."""

    def __init__(self, path: str, competitor: Contact) -> None:
        super().__init__(path)
        self.competitor: Contact | None = competitor

    async def get_text(self, tenant_id, family, doc_id):
        doc = await super().get_text(tenant_id, family, doc_id)
        await self._race(tenant_id, family, [doc_id])
        return doc

    async def read_texts(self, tenant_id, reads):  # capture's batched point reads (Store.read_many)
        got = await super().read_texts(tenant_id, reads)
        for r in reads:
            if r.record_id is not None:
                await self._race(tenant_id, r.cls.family, [r.record_id])
        return got

    async def _race(self, tenant_id, family, ids):
        if self.competitor is not None and family == "contacts" and self.competitor.id in ids:
            rival, self.competitor = self.competitor, None
            await super().put_doc(tenant_id, family, rival.to_doc())


async def test_concurrent_capture_of_the_same_new_contact_keeps_both_owners(tmp_path) -> None:
    rival = Contact.new(TID, "jane.doe@acme.example", name="Jane Doe", accountId=account_id("acme.example"),
                        owners=[Owner(oid=OTHER.oid, name=OTHER.name, visibility="private")],
                        firstSeen=datetime(2020, 1, 1, tzinfo=UTC), lastSeen=datetime(2020, 1, 1, tzinfo=UTC))
    store = await Store(RacingBackend(str(tmp_path / "race.db"), rival)).open()
    try:
        await ingest(store, FIRM, OWNER, messages=[message()], now=NOW)
        jane = await store.contact_by_email(TID, "jane.doe@acme.example")
        assert {o.oid: o.visibility for o in jane.owners} == {OTHER.oid: "private", OWNER.oid: "firm"}
        assert jane.firstSeen == datetime(2020, 1, 1, tzinfo=UTC)
    finally:
        await store.close()


async def test_concurrent_update_of_an_existing_contact_is_reapplied(tmp_path) -> None:
    store = await Store(SqliteBackend(str(tmp_path / "pre.db"))).open()
    await ingest(store, FIRM, OWNER, messages=[message("m0", received="2026-01-01T10:00:00Z")], now=NOW)
    current = await store.contact_by_email(TID, "jane.doe@acme.example")
    await store.close()
    current.title = "Head of IP"  # a partner's edit landing between capture's read and write
    store = await Store(RacingBackend(str(tmp_path / "pre.db"), current)).open()
    try:
        await ingest(store, FIRM, OTHER, messages=[message("m1", received="2026-05-01T10:00:00Z")], now=NOW)
        jane = await store.contact_by_email(TID, "jane.doe@acme.example")
        assert jane.title == "Head of IP"
        assert {o.oid for o in jane.owners} == {OWNER.oid, OTHER.oid}
        assert jane.lastSeen == datetime(2026, 5, 1, 10, tzinfo=UTC)
    finally:
        await store.close()


# --- duplicates and order (property) -----------------------------------------------------------

POOL = [
    ("jane.doe@acme.example", "Jane Doe"), ("jane.doe@acme.example", "jane.doe@acme.example"),
    ("jane.doe@acme.example", "J. Doe"), ("jane.doe@newco.example", "Jane Doe"), ("raj@acme.example", ""),
    ("raj@acme.example", "Raj Patel"), ("bob@gmail.com", "Bob"), ("sam@firm.example", "Sam"),
]


def _items(spec: list[tuple[int, int, int, bool]]) -> tuple[list[dict], list[dict]]:
    """Distinct Graph items (one payload per id) from (person, day, owner, sent) tuples."""
    mails, seen = [], set()
    for i, (p, day, _owner, sent) in enumerate(spec):
        if i in seen:
            continue
        seen.add(i)
        email, name = POOL[p]
        frm, to = (addr(OWNER.upn), [addr(email, name)]) if sent else (addr(email, name), [addr(OWNER.upn)])
        mails.append(message(f"m{i}", frm=frm, to=to, received=(datetime(2026, 1, 1, tzinfo=UTC)
                                                                 + timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%SZ")))
    evs = [event(f"e{i}", attendees=[{**addr(POOL[p][0], POOL[p][1]), "type": "required"}])
           for i, (p, _d, _o, s) in enumerate(spec[:4]) if s]
    return mails, evs


async def _run(batches: list[tuple[Person, list[dict], list[dict]]]) -> dict[str, dict[str, Any]]:
    store = await Store(SqliteBackend(":memory:")).open()
    try:
        for owner, mails, evs in batches:
            await ingest(store, FIRM, owner, messages=mails, events=evs, now=NOW)
        return await snapshot(store)
    finally:
        await store.close()


async def _run_rounds(batches: list[tuple[Person, list[dict], list[dict]]], finish_first: int) -> dict[str, dict[str, Any]]:
    """The same batches as two mailboxes' delta rounds running side by side (one Ingestion each,
    people written when each round finishes), the rounds finishing in either order."""
    store = await Store(SqliteBackend(":memory:")).open()
    try:
        rounds: dict[str, Ingestion] = {}
        for owner, mails, evs in batches:
            run = rounds.setdefault(owner.oid, Ingestion(store, FIRM, owner, now=NOW))
            await run.add(messages=mails, events=evs)
        for oid in sorted(rounds, reverse=bool(finish_first)):
            await rounds[oid].finish()
        return await snapshot(store)
    finally:
        await store.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=st.lists(st.tuples(st.integers(0, len(POOL) - 1), st.integers(0, 600), st.integers(0, 1), st.booleans()),
                     min_size=1, max_size=20),
       seed=st.integers(0, 2**16), cuts=st.integers(1, 4))
def test_duplicates_in_any_order_and_any_batching_give_one_result(spec, seed, cuts) -> None:
    mails, evs = _items(spec)
    owners = [OWNER, OTHER]

    def by_owner(sel: int) -> list[dict]:
        return [m for i, m in enumerate(mails) if spec[i][2] == sel]

    canonical = [(owners[o], by_owner(o), evs if o == 0 else []) for o in (0, 1)]
    reference = asyncio.run(_run(canonical))

    # Re-deliver everything (duplicates), shuffle, split into batches, interleave mailboxes.
    rnd = random.Random(seed)
    work: list[tuple[Person, dict, str]] = []
    for o in (0, 1):
        for m in by_owner(o) * 2:
            work.append((owners[o], m, "m"))
    for e in evs * 3:
        work.append((OWNER, e, "e"))
    rnd.shuffle(work)
    batches = []
    size = max(1, len(work) // cuts)
    for k in range(0, len(work), size):
        for o in owners:
            chunk = [w for w in work[k:k + size] if w[0] is o]
            if chunk:
                batches.append((o, [w[1] for w in chunk if w[2] == "m"], [w[1] for w in chunk if w[2] == "e"]))
    result = asyncio.run(_run(batches))
    assert counts(result) == counts(reference)
    assert result == reference
    assert asyncio.run(_run_rounds(batches, seed % 2)) == reference


async def test_a_round_writes_each_person_once_and_never_names_a_missing_contact(ingest_store: Store) -> None:
    # Newest first, as a first sync reads a mailbox: each batch moves every sender's first sighting back.
    mails = mailbox(40)[::-1]
    run = Ingestion(ingest_store, FIRM, OWNER, now=NOW)
    for k in range(0, 40, 10):
        await run.add(messages=mails[k:k + 10])
        # The batch's own interactions may still be being written (they are while the next batch is
        # mapped); the ones before it have landed.
        await asyncio.sleep(0.05)
        named = {cid for ix in await ingest_store.find_all(Interaction, TID) for cid in ix.contactIds}
        stored = {c.id for c in await ingest_store.find_all(Contact, TID)}
        assert named <= stored  # mid-round: every contact an interaction names is there
        assert named or k == 0
    stats = await run.finish()
    assert (stats.contacts_new, stats.contacts_updated) == (5, 5)  # created once, updated once at the end
    reference = await Store(SqliteBackend(":memory:")).open()
    try:
        await ingest(reference, FIRM, OWNER, messages=mails, now=NOW)
        assert await snapshot(ingest_store) == await snapshot(reference)
    finally:
        await reference.close()


async def test_records_land_in_the_firms_tenant_only(ingest_store: Store) -> None:
    t2 = "99999999-2222-3333-4444-555555555555"
    other_firm = Tenant(id=t2, tenantId=t2, name="Other", domains=["firm.example"])
    other_owner = OWNER.model_copy(update={"tenantId": t2})
    await ingest(ingest_store, other_firm, other_owner, messages=mailbox(5), events=[event()], now=NOW)
    assert await snapshot(ingest_store, TID) == {}
    snap = await snapshot(ingest_store, t2)
    assert snap and all(doc["tenantId"] == t2 for doc in snap.values())
