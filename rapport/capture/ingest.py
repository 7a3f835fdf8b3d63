"""Capture's store side: Graph mail and calendar metadata -> contacts, accounts, interactions, meetings, signals.

Two layers:
- `map_message` / `map_event` are pure: one Graph item (the JSON Graph returns) in, a `Captured` out
  (records as that single item shows them). No store, no clock.
- `ingest` merges a batch of mapped items with what the store already holds and writes the result.
  It is idempotent (the same batch twice changes nothing) and order-independent for duplicates:
  every id is deterministic and every merge is a max/union (names improve, never degrade; times
  widen; owners accumulate).

Metadata only: who, with whom, when, subject, direction. A body or bodyPreview is never stored
unless the firm turns `captureExcerpts` on, and then only a short sanitised excerpt.

Delta deletions (`"@removed"`):
- a removed message is left as history: the mail happened (a message moved out of the Inbox shows
  as removed too), so its Interaction stays;
- a removed or cancelled event marks its Meeting cancelled, and its Interaction (a meeting that did
  not take place is no touchpoint) is deleted. So: every live message -> exactly one Interaction;
  every event -> exactly one Meeting; every non-cancelled event -> exactly one Interaction.
  Series masters (`type: seriesMaster`) are skipped: calendarView delivers their occurrences.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rapport.capture.mapping import Captured, account_record, contact_record, map_event, map_message
from rapport.capture.merge import (
    counsel_moves,
    earliest,
    latest,
    merge_contact,
    merge_meeting,
    moves_changed,
    same_contact,
)
from rapport.capture.names import better_name
from rapport.capture.reads import ReadPlan
from rapport.records import Account, Contact, Interaction, Meeting, Person, Signal, Suppression, Tenant
from rapport.store.base import Conflict, Read, Store

# Capture never holds the event loop for long (the sidebar and webhooks share it): mapping and
# merging give it a turn whenever TURN seconds have passed (checked every CHECK_EVERY items), and
# people are written WRITE_CHUNK at a time, interactions ITEM_CHUNK at a time.
TURN = 0.004
CHECK_EVERY = 16
WRITE_CHUNK = 250
ITEM_CHUNK = 1000  # interactions per bulk write (each one transaction: fewer, bigger ones are faster)


class _Turns:
    """Gives the event loop a turn when this task has held it for TURN seconds."""

    __slots__ = ("since",)

    def __init__(self) -> None:
        self.since = time.perf_counter()

    async def __call__(self, n: int) -> None:
        if n % CHECK_EVERY == 0 and time.perf_counter() - self.since >= TURN:
            await asyncio.sleep(0)
            self.since = time.perf_counter()


@dataclass
class IngestStats:
    messages: int = 0
    events: int = 0
    interactions: int = 0  # interactions written (new or re-delivered; re-delivery rewrites the same record)
    contacts_new: int = 0
    contacts_updated: int = 0
    accounts_new: int = 0
    signals: int = 0
    removed: int = 0  # delta deletions seen (removed messages and removed events)
    meetings: int = 0  # meetings created or changed
    skipped: int = 0  # items without the fields Rapport needs (counted, never fatal to the batch)
    enquiries: int = 0  # enquiries the pipeline opened from this mail (rapport.pipeline.mail)
    reads: int = 0  # single-message reads queued (signatures, bounces: rapport.capture.reads)

    def add(self, other: IngestStats) -> IngestStats:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


# Reads per Store.read_many: one hop to a reader thread on SQLite (fewer hops, less loop time), that
# many concurrent queries on Cosmos (a first sync reads a few thousand people: tens of calls, not one per id).
READ_CHUNK = 100


async def _gather_get(store: Store, cls: type, tenant_id: str, ids: list[str]) -> dict[str, Any]:
    """Point reads in batches of READ_CHUNK (instead of one read and one task per id)."""
    out: dict[str, Any] = {}
    for i in range(0, len(ids), READ_CHUNK):
        chunk = ids[i: i + READ_CHUNK]
        found = await store.read_many(tenant_id, [Read(cls, record_id=x) for x in chunk])
        out.update({k: v for k, v in zip(chunk, found, strict=True) if v is not None})
    return out


async def _rederive_moves(store: Store, tid: str, keys: list[str], fresh: set[str]) -> int:
    """Bring the counsel-move signals of each name group in line with its members. Returns how many
    signals are new. The groups are read in batches, then the signals of the members of those that
    can hold a move (a brand-new unique name cannot), also in one batch."""
    created = 0
    for i in range(0, len(keys), READ_CHUNK):
        groups = await store.read_many(tid, [Read(Contact, key=f"name:{k}", every=True)
                                             for k in keys[i: i + READ_CHUNK]])
        # a brand-new name: nothing to move from, and no old signal can mention it
        groups = [g for g in groups if not (len(g) < 2 and all(c.id in fresh for c in g))]
        members = [c.id for g in groups for c in g]
        found = await store.read_many(tid, [Read(Signal, key=f"ct:{cid}", every=True) for cid in members])
        signals_of = dict(zip(members, found, strict=True))
        for group in groups:
            created += await _rederive_group(store, tid, group, signals_of)
    return created


async def _rederive_group(store: Store, tid: str, group: list[Contact], signals_of: dict[str, list[Signal]]) -> int:
    """One name group's domain-move signals made to match `counsel_moves(group)`; how many are new."""
    created = 0
    wanted = {s.id: s for s in counsel_moves(group)}
    have: dict[str, Signal] = {}
    for c in group:
        for s in signals_of[c.id]:
            if s.kind == "counsel_move" and s.via == "domain":  # signatures and bounces are not a group's
                have[s.id] = s
    for sid, sig in wanted.items():
        old = have.get(sid)
        if old is None:
            await store.put(sig)
            created += 1
        elif old.model_dump(exclude={"etag"}) != sig.model_dump(exclude={"etag"}):
            await store.put(sig)
    for sid in sorted(set(have) - set(wanted)):
        # Only signals of this group's members are looked at; one whose "from" left the group
        # (its name changed) is re-derived here, one of another group is left to that group.
        if have[sid].contactId in {c.id for c in group}:
            await store.delete(Signal, tid, sid)
    return created


async def ingest(
    store: Store, firm: Tenant, owner: Person, *, messages: Iterable[dict] = (), events: Iterable[dict] = (),
    folder: str = "inbox", now: datetime | None = None, intake: bool = False,
) -> IngestStats:
    """Map a batch of one mailbox's Graph items and merge them into the store. Idempotent.

    A one-batch `Ingestion`: see there for the order of writes and what guards concurrent mailboxes.
    """
    async with Ingestion(store, firm, owner, now=now, intake=intake) as run:
        await run.add(messages=messages, events=events, folder=folder)
        return await run.finish()


class Ingestion:
    """One mailbox's ingestion of a delta round, batch by batch (`add`), closed by `finish`.

    Each batch writes its interactions and meetings at once (one bulk write), after creating the
    people and companies it shows that the store does not have yet, so a stored interaction never
    names a contact that is not there. The interactions' bulk write runs while the next batch is
    mapped (one write in flight, in batch order; `add` and `finish` wait for the one before, so a
    failed write fails the round before its delta link is saved; used as `async with`, a round that
    fails otherwise lets the write in flight end): on SQLite the write is the writer thread's, and
    the mapping the loop's.

    What a round learns about people it already knows (a first
    or last sighting, a better name, another owner) is folded in memory over the whole round and
    written once, at `finish`: a first sync of a mailbox sees the same few thousand people in tens
    of thousands of mails, and rewriting each of them per batch was most of capture's cost (and, on
    Cosmos, of its request units). A crash before `finish` loses nothing: the round's delta link is
    only saved after it, so the next round reads the same items again, and every write is a merge.

    Contacts are written bound to the ETag read (or create-only), so two mailboxes capturing the same
    person concurrently both land their owner; the few that lose the race are re-read and re-applied.
    `now` caps "last touch" times so a future meeting does not count as contact yet.
    """

    # Folded people are written early once a round has seen this many (bounds the memory it holds).
    MAX_PEOPLE = 20_000

    def __init__(self, store: Store, firm: Tenant, owner: Person, *, now: datetime | None = None,
                 intake: bool = False, reads: bool = False) -> None:
        self.store, self.firm, self.owner = store, firm, owner
        # The enquiry pipeline sees each batch's external mail (rapport.pipeline.mail); off for a
        # folder's first delta round (a mailbox's history is no stream of new enquiries).
        self.intake = intake
        self._fresh_accounts: set[str] = set()  # companies this round created
        self.now = now or datetime.now(UTC)
        self.stats = IngestStats()
        self._sightings: dict[str, list] = {}  # contact id -> [email, name, account id, first, last]
        self._known: dict[str, Contact] = {}  # contact id -> the stored version (as read or written)
        self._accounts: set[str] = set()  # account ids known to be stored
        self._fresh: set[str] = set()  # contacts this round created
        self._regroup: set[str] = set()  # name keys whose counsel-move signals must be re-derived
        self._suppressed: frozenset[str] | None = None  # the firm's erased people, read once a round
        # The single messages worth reading (signatures, bounces); Graph's sync asks for it (`reads`).
        self._reads = ReadPlan(firm, owner, self.now) if reads else None
        self._writing: asyncio.Task | None = None  # the previous batch's interactions, being written

    async def _settled(self) -> None:
        """The previous batch's interaction write, finished (its failure raised here)."""
        task, self._writing = self._writing, None
        if task is not None:
            await task

    async def __aenter__(self) -> Ingestion:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        task, self._writing = self._writing, None
        if exc_type is not None and task is not None:
            # The round failed elsewhere: let the write in flight end. Its outcome no longer matters
            # (the delta link is not saved, and every write is a rewrite the next round repeats).
            await asyncio.gather(task, return_exceptions=True)

    def _seen(self, cid: str) -> Contact:
        email, name, acct, first, last = self._sightings[cid]
        return contact_record(self.firm.id, cid, email, name, acct, self.owner, first, last, last)

    async def add(self, *, messages: Iterable[dict] = (), events: Iterable[dict] = (), folder: str = "inbox") -> None:
        """Map one batch of items, create the people it shows that are new, write its interactions
        and meetings, and fold what it shows of everyone into the round."""
        now, stats, sightings = self.now, self.stats, self._sightings
        interactions: dict[str, Interaction] = {}
        meetings: dict[str, Meeting] = {}
        batch_contacts: set[str] = set()
        account_domains: dict[str, str] = {}
        cancelled: set[str] = set()
        dropped: set[str] = set()

        def take(c: Captured) -> None:
            if c.skipped:
                stats.skipped += 1
            if c.removed:
                stats.removed += 1
            for ix in c.interactions:
                interactions[ix.id] = ix
            for m in c.meetings:
                prev = meetings.get(m.id)
                meetings[m.id] = m if prev is None or not (prev.isCancelled and not m.isCancelled) else prev
            at = c.seen_at
            for cid, email, name, acct in c.sightings:
                batch_contacts.add(cid)
                agg = sightings.get(cid)
                if agg is None:
                    sightings[cid] = [email, name, acct, at, latest(None, at, now)]
                else:
                    if name != agg[1]:
                        agg[1] = better_name(agg[1], name, email)
                    if agg[2] is None:
                        agg[2] = acct
                    agg[3] = earliest(agg[3], at)
                    agg[4] = latest(agg[4], at, now)
            for acct_id, domain in c.account_sightings:
                account_domains.setdefault(acct_id, domain)
            cancelled.update(c.cancelled_meeting_ids)
            dropped.update(c.dropped_interaction_ids)

        if self._suppressed is None:
            # Bounded: one record per person the firm erased (rapport contact forget).
            self._suppressed = frozenset(s.id for s in await self.store.find_all(Suppression, self.firm.id))
        suppressed = self._suppressed
        turn = _Turns()  # meanwhile the next delta page downloads (capture.sync prefetches)
        mail: list[tuple[dict, Interaction]] = []  # external mail, for the pipeline
        reads = self._reads
        for n, msg in enumerate(messages, 1):
            stats.messages += 1
            c = map_message(msg, firm=self.firm, owner=self.owner, folder=folder, suppressed=suppressed)
            take(c)
            if reads is not None:
                reads.see(msg, c, folder)
            if self.intake and c.interactions and c.interactions[0].contactIds:
                mail.append((msg, c.interactions[0]))
            await turn(n)
        for n, ev in enumerate(events, 1):
            stats.events += 1
            take(map_event(ev, firm=self.firm, owner=self.owner, suppressed=suppressed))
            await turn(n)
        # A cancelled or removed event in the batch wins over a live copy of it (delta order is not trusted).
        for ix_id in dropped:
            interactions.pop(ix_id, None)
        for mid in cancelled:
            if mid in meetings:
                meetings[mid].isCancelled = True

        await self._create_accounts(account_domains)
        await self._create_contacts(sorted(batch_contacts))
        if reads is not None:
            reads.after_batch(self._known)  # the batch's people as stored: which need their signature read
        if mail:
            # Before this batch's interactions are written: the pipeline works from the mail in hand
            # (it reads no interaction back), and its few writes then do not queue behind the bulk
            # write on SQLite's one writer. A round that fails after it is read again, and the
            # pipeline's records are keyed so a second reading creates nothing twice.
            from rapport.pipeline.mail import after_batch  # loaded only when intake is on

            self.stats.enquiries += await after_batch(
                self.store, self.firm, self.owner, folder, mail, fresh_contacts=self._fresh,
                fresh_accounts=self._fresh_accounts, now=now)
        await self._write_items(interactions, meetings, cancelled, dropped)
        if len(sightings) >= self.MAX_PEOPLE:
            await self._write_people()

    async def finish(self) -> IngestStats:
        """Write what the round learnt about people, re-derive counsel moves, queue the round's
        targeted reads; returns the round's stats."""
        await self._settled()
        await self._write_people()
        self.stats.signals += await _rederive_moves(self.store, self.firm.id, sorted(self._regroup), self._fresh)
        self._regroup.clear()
        if self._reads is not None:
            self.stats.reads += await self._reads.queue(self.store)
        return self.stats

    async def _create_accounts(self, domains: dict[str, str]) -> None:
        """Accounts: created once, never overwritten (the firm names and classifies them)."""
        tid = self.firm.id
        unknown = sorted(a for a in domains if a not in self._accounts)
        existing = await _gather_get(self.store, Account, tid, unknown)
        self._accounts.update(unknown)
        # The new ones in one checked batch, each create-only: one that another mailbox created
        # meanwhile is refused and left as it is.
        creates = [(account_record(tid, a, domains[a]), None, True) for a in unknown if a not in existing]
        refused = {a.id for a in await self.store.put_checked(creates)} if creates else set()
        for account, _, _ in creates:
            if account.id not in refused:
                self.stats.accounts_new += 1
                self._fresh_accounts.add(account.id)

    async def _create_contacts(self, cids: list[str]) -> None:
        """The batch's contacts the store does not have yet, created (create-only, one checked batch)
        as the round has seen them so far; the ones it has are remembered for `_write_people`."""
        unknown = [cid for cid in cids if cid not in self._known]
        if not unknown:
            return
        self._known.update(await _gather_get(self.store, Contact, self.firm.id, unknown))
        creates: list[tuple[Contact, str | None, bool]] = []
        turn = _Turns()
        for n, cid in enumerate(unknown, 1):
            if cid not in self._known:
                seen = self._seen(cid)
                creates.append((merge_contact(seen, seen, self.now), None, True))  # the merge applies the `now` cap
            await turn(n)
        lost = await self._put_checked(creates)
        for first, _, _ in creates:
            if first.id in lost:  # another mailbox created it first: merged into theirs at the end
                self._known[first.id] = await self.store.get(Contact, self.firm.id, first.id) or first
                continue
            self._known[first.id] = first
            self.stats.contacts_new += 1
            self._fresh.add(first.id)
            self._regroup.update(moves_changed(None, first))

    async def _write_people(self) -> None:
        """Merge the round's sightings into the stored contacts; write the ones that changed."""
        tid, now = self.firm.id, self.now
        updates: list[tuple[Contact, str | None, bool]] = []
        before: dict[str, Contact] = {}
        turn = _Turns()
        for n, cid in enumerate(sorted(self._sightings), 1):
            current = self._known[cid]
            merged = merge_contact(current, self._seen(cid), now)
            if not same_contact(merged, current):
                before[cid] = current
                updates.append((merged, current.etag, False))
            await turn(n)
        refused = await self._put_checked(updates)
        for merged, _, _ in updates:
            if merged.id not in refused:
                self.stats.contacts_updated += 1
                self._regroup.update(moves_changed(before[merged.id], merged))
        for cid in sorted(refused):
            # Someone else wrote this contact since it was read: re-read and re-apply the round's sighting.
            prior = await self.store.get(Contact, tid, cid)
            written = await self.store.update(Contact, tid, cid, lambda c, s=self._seen(cid): merge_contact(c, s, now))
            if written is not None:
                self.stats.contacts_updated += 1
                self._regroup.update(moves_changed(prior, written))
        self._sightings.clear()
        self._known.clear()

    async def _put_checked(self, writes: list[tuple[Contact, str | None, bool]]) -> set[str]:
        """store.put_checked, WRITE_CHUNK contacts at a time (each chunk is one checked batch, and
        the loop gets a turn between two). Returns the ids refused."""
        refused: set[str] = set()
        for i in range(0, len(writes), WRITE_CHUNK):
            refused.update(c.id for c in await self.store.put_checked(writes[i: i + WRITE_CHUNK]))
            if i + WRITE_CHUNK < len(writes):
                await asyncio.sleep(0)
        return refused

    async def _write_items(self, interactions: dict[str, Interaction], meetings: dict[str, Meeting],
                           cancelled: set[str], dropped: set[str]) -> None:
        store, tid, stats = self.store, self.firm.id, self.stats
        # Interactions: one bulk write; deterministic ids make re-delivery a rewrite of the same record.
        # It runs while the next batch is mapped; the one before it has landed first (batch order).
        if interactions or dropped:
            await self._settled()
        if interactions:
            items = list(interactions.values())

            async def write() -> None:
                for i in range(0, len(items), ITEM_CHUNK):  # a turn of the loop between two chunks
                    await store.put_many(items[i: i + ITEM_CHUNK])

            self._writing = asyncio.create_task(write())
            stats.interactions += len(interactions)
        for ix_id in sorted(dropped):
            if await store.get(Interaction, tid, ix_id) is not None:
                await store.delete(Interaction, tid, ix_id)

        # Meetings: Graph's fields replace ours, Rapport's own (briefs sent) survive; ETag-bound.
        for mid in sorted(cancelled - set(meetings)):
            def cancel(m: Meeting) -> Meeting | None:
                if m.isCancelled:
                    return None
                m.isCancelled = True
                return m

            if await store.update(Meeting, tid, mid, cancel) is not None:
                stats.meetings += 1
        current_meetings = await _gather_get(store, Meeting, tid, sorted(meetings))
        # New meetings in one bulk write: a meeting's id is per mailbox, and a mailbox is synced by one
        # worker at a time (the sync serializes per mailbox), so nobody else can be creating it now.
        new_meetings = [meetings[mid] for mid in sorted(meetings) if mid not in current_meetings]
        if new_meetings:
            await store.put_many(new_meetings)
            stats.meetings += len(new_meetings)
        for mid in sorted(current_meetings):
            seen_m = meetings[mid]
            cur = current_meetings[mid]
            merged_m = merge_meeting(cur, seen_m)
            if merged_m.model_dump(exclude={"etag"}) == cur.model_dump(exclude={"etag"}):
                continue
            try:
                await store.put(merged_m, if_match=cur.etag)
            except Conflict:
                await store.update(Meeting, tid, mid, lambda m, s=seen_m: merge_meeting(m, s))
            stats.meetings += 1

