"""rapport.capture.sync: delta sync from the Graph stand-in into the records (docs/reliability.md section 5)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from local.commands.sync import sync_command
from rapport.capture import sync
from rapport.records import Interaction, Meeting, SyncState, Tenant
from rapport.settings import load_settings
from rapport.store.base import Store
from rapport.store.sqlite import SqliteBackend

NOW = datetime.now(UTC).replace(microsecond=0)


def seed_mail(standin, partner, n: int, *, start: int = 0, domain: str = "client.test"):
    mb = partner.mailbox
    out = []
    for i in range(start, start + n):
        if i % 3 == 2:
            out.append(standin.put_message(mb, "sentitems", sender=mb.upn, to=[f"p{i}@{domain}"], cc=[f"q{i}@other.test"],
                                           subject=f"re {i}", at=NOW - timedelta(hours=i)))
        else:
            out.append(standin.put_message(mb, "inbox", sender=f"p{i}@{domain}", to=[mb.upn], subject=f"matter {i}",
                                           at=NOW - timedelta(hours=i), body="PRIVILEGED-BODY"))
    return out


async def reconcile(store: Store, firm, standin) -> None:
    """Everything the stand-in holds is exactly one record; nothing lost, nothing doubled."""
    interactions = await store.find_all(Interaction, firm.id)
    meetings = await store.find_all(Meeting, firm.id)
    by_source = {}
    for ix in interactions:
        assert ix.sourceId not in by_source, "two interactions for one Graph item"
        by_source[ix.sourceId] = ix
    expected_mail, expected_events, live_events = set(), set(), set()
    now = datetime.now(UTC)
    for p in firm.partners:
        for folder in ("inbox", "sentitems"):
            for mid, msg in standin.truth(p.mailbox, folder).items():
                expected_mail.add(f"{p.person.oid}:{mid}")
                assert by_source[f"{p.person.oid}:{mid}"].subject == msg["subject"].strip()
        for eid, ev in standin.truth(p.mailbox, "calendar").items():
            start = datetime.fromisoformat(ev["start"]["dateTime"][:19]).replace(tzinfo=UTC)
            if now - sync.WINDOW_PAST <= start < now + sync.WINDOW_AHEAD:
                expected_events.add(f"{p.person.oid}:{eid}")
                if not ev["isCancelled"]:
                    live_events.add(f"{p.person.oid}:{eid}")
    got_mail = {i.sourceId for i in interactions if i.channel == "email"}
    got_events = {i.sourceId for i in interactions if i.channel == "meeting"}
    assert got_mail == expected_mail
    assert got_events == live_events
    live_meetings = {f"{m.organizerOid}:{m.eventId}" for m in meetings if not m.isCancelled}
    assert live_meetings == live_events
    assert len(meetings) == len({m.id for m in meetings})
    for ix in interactions:
        assert ix.excerpt is None  # metadata only: the firm has not turned excerpts on


async def test_full_then_incremental_sync_reconciles(capture_store, graph, graph_standin, graph_firm):
    firm = await graph_firm("t-a", "firm-a.test", ["ann", "al"])
    ann, al = firm.partners
    seed_mail(graph_standin, ann, 130)
    seed_mail(graph_standin, al, 20, domain="other-client.test")
    ev = graph_standin.put_event(ann.mailbox, subject="kick-off", start=NOW + timedelta(days=2),
                                 attendees=["p1@client.test", "al@firm-a.test"], online=True)
    graph_standin.put_event(ann.mailbox, subject="long ago", start=NOW - timedelta(days=200), attendees=["p1@client.test"])
    graph_standin.put_event(al.mailbox, subject="lunch", start=NOW - timedelta(days=10), attendees=["x@client.test"])

    reports = await sync.sync_tenant(capture_store, graph, "t-a")
    assert [r.skipped for r in reports] == [None, None]
    await reconcile(capture_store, firm, graph_standin)
    meeting = await capture_store.get(Meeting, "t-a", Meeting.id_for(ann.person.oid, ev["id"]))
    assert meeting.isOnline and {a.email for a in meeting.attendees} == {"p1@client.test", "al@firm-a.test"}

    # Delta links are kept per mailbox and folder.
    states = await capture_store.find_all(SyncState, "t-a")
    assert sorted((s.userOid, s.folder) for s in states) == sorted(
        (p.person.oid, f) for p in firm.partners for f in ("inbox", "sentitems", "calendar"))
    assert all(s.deltaLink and "$deltatoken=" in s.deltaLink for s in states)

    # Changes since: new, updated, deleted/cancelled; then an idle round reads nothing.
    seed_mail(graph_standin, ann, 5, start=500)
    first_inbox = next(iter(graph_standin.truth(ann.mailbox, "inbox")))
    graph_standin.update_message(ann.mailbox, "inbox", first_inbox, subject="renamed")
    graph_standin.delete_item(ann.mailbox, "calendar", ev["id"])
    before = len(graph_standin.requests)
    reports = await sync.sync_tenant(capture_store, graph, "t-a")
    assert reports[0].items == {"inbox": 4, "sentitems": 2, "calendar": 1}
    await reconcile(capture_store, firm, graph_standin)
    assert (await capture_store.get(Meeting, "t-a", Meeting.id_for(ann.person.oid, ev["id"]))).isCancelled
    assert len(graph_standin.requests) - before == 6  # one delta page per folder per partner
    reports = await sync.sync_tenant(capture_store, graph, "t-a")
    assert [sum(r.items.values()) for r in reports] == [0, 0]


async def test_expired_delta_link_restarts_cleanly(capture_store, graph, graph_standin, graph_firm):
    firm = await graph_firm("t-a", "firm-a.test", ["ann"])
    (ann,) = firm.partners
    seed_mail(graph_standin, ann, 12)
    await sync.sync_tenant(capture_store, graph, "t-a")
    graph_standin.expire_delta(ann.mailbox)
    seed_mail(graph_standin, ann, 3, start=100)
    (report,) = await sync.sync_tenant(capture_store, graph, "t-a")
    assert sorted(report.restarts) == ["calendar", "inbox", "sentitems"]
    assert graph_standin.status_counts[410] == 3
    await reconcile(capture_store, firm, graph_standin)
    states = await capture_store.find_all(SyncState, "t-a")
    assert all(s.restarts == 1 for s in states)
    (report,) = await sync.sync_tenant(capture_store, graph, "t-a")
    assert report.restarts == [] and sum(report.items.values()) == 0


async def test_consent_revoked_opens_the_tenant_circuit_only(capture_store, graph, graph_standin, graph_firm, graph_tokens):
    a = await graph_firm("t-a", "firm-a.test", ["ann"])
    b = await graph_firm("t-b", "firm-b.test", ["bob"])
    seed_mail(graph_standin, a.partners[0], 4)
    seed_mail(graph_standin, b.partners[0], 4)
    graph_tokens.revoke("t-a")
    ra, rb = await asyncio.gather(sync.sync_tenant(capture_store, graph, "t-a"), sync.sync_tenant(capture_store, graph, "t-b"))
    assert ra[0].skipped == "consent" and rb[0].skipped is None
    assert (await capture_store.get_tenant("t-a")).consentState == "needs_admin_consent"
    assert (await capture_store.get_tenant("t-b")).consentState == "ok"
    await reconcile(capture_store, b, graph_standin)
    # D18: the open circuit stops retries: the work item finishes without asking for a token again.
    calls = graph_tokens.calls["t-a"]
    item = await sync.request_sync(capture_store, "t-a", a.partners[0].person.oid, "messages")
    await sync.run_sync_work(capture_store, item)
    assert graph_tokens.calls["t-a"] == calls
    assert await capture_store.find_all(Interaction, "t-a") == []
    # An admin consents again: the next sync catches up.
    graph_tokens.revoked.clear()

    def reopen(t: Tenant) -> Tenant:
        t.consentState = "ok"
        return t

    await capture_store.update(Tenant, "t-a", "t-a", reopen)
    await sync.run_sync_work(capture_store, item)
    assert len(await capture_store.find_all(Interaction, "t-a")) == 4


async def test_concurrent_syncs_of_one_mailbox_are_serialized(capture_store, graph, graph_standin, graph_firm):
    firm = await graph_firm("t-a", "firm-a.test", ["ann"])
    (ann,) = firm.partners
    seed_mail(graph_standin, ann, 300)
    tenant = await capture_store.get_tenant("t-a")
    await asyncio.gather(*(sync.sync_mailbox(capture_store, graph, tenant, ann.person, kinds=("messages",))
                           for _ in range(5)))
    assert graph_standin.max_inflight[ann.mailbox.oid] == 1  # one delta round at a time per folder
    await reconcile(capture_store, firm, graph_standin)


async def test_sync_resolves_a_partner_known_only_by_upn(capture_store, graph, graph_standin):
    await capture_store.put_tenant(Tenant(id="t-a", tenantId="t-a", name="A", domains=["firm-a.test"],
                                          partners=["ann@firm-a.test"]))
    mb = graph_standin.add_mailbox("t-a", "ann@firm-a.test", name="Ann Example")
    graph_standin.put_message(mb, "inbox", sender="c@client.test", to=[mb.upn], subject="hello")
    (report,) = await sync.sync_tenant(capture_store, graph, "t-a", "ann@firm-a.test")
    assert report.user_oid == mb.oid and report.items["inbox"] == 1
    person = await capture_store.get_person("t-a", mb.oid)
    assert person.upn == "ann@firm-a.test" and person.name == "Ann Example"


async def test_sync_command(tmp_path, graph, graph_standin, capsys):
    settings = load_settings({"RAPPORT_SQLITE_PATH": str(tmp_path / "cli.db"), "GRAPH_BASE_URL": graph_standin.base_url})
    store = await Store(SqliteBackend(settings.sqlite_path)).open()
    await store.put_tenant(Tenant(id="t-a", tenantId="t-a", name="A", domains=["firm-a.test"], partners=["ann@firm-a.test"]))
    await store.close()
    mb = graph_standin.add_mailbox("t-a", "ann@firm-a.test")
    graph_standin.put_message(mb, "inbox", sender="c@client.test", to=[mb.upn], subject="hello")
    assert await sync_command(settings, "t-a", None) == 0
    assert "1 interactions" in capsys.readouterr().out
    assert await sync_command(settings, "t-unknown", None) == 2
    store = await Store(SqliteBackend(settings.sqlite_path)).open()
    try:
        assert len(await store.find_all(Interaction, "t-a")) == 1
    finally:
        await store.close()


async def test_safety_net_queues_every_captured_mailbox_of_consenting_tenants(
        capture_store, graph, graph_standin, graph_firm):
    from rapport import work
    from rapport.records import WorkItem

    a = await graph_firm("t-a", "firm-a.test", ["ann", "al"])
    await graph_firm("t-b", "firm-b.test", ["bob"])

    def flag(t: Tenant) -> Tenant:
        t.consentState = "needs_admin_consent"
        return t

    await capture_store.update(Tenant, "t-b", "t-b", flag)
    seed_mail(graph_standin, a.partners[0], 7)
    assert await sync.safety_net(capture_store) == 4  # 2 partners x (messages, events); t-b skipped
    assert await capture_store.find_all(WorkItem, "t-b") == []
    for task in work.kicks():
        await task
    work.load_handlers()  # as every drain in a host does: the syncs queue reads (rapport.capture.readers)
    await work.drain(capture_store, tenant_ids=["t-a"])
    await reconcile(capture_store, a, graph_standin)
    assert {w.state for w in await capture_store.find_all(WorkItem, "t-a")} == {"done"}


async def test_app_removed_from_the_tenant_marks_it_revoked(capture_store, graph, graph_standin, graph_firm, graph_tokens):
    await graph_firm("t-c", "firm-c.test", ["cy"])
    graph_tokens.remove_app("t-c")
    (report,) = await sync.sync_tenant(capture_store, graph, "t-c")
    assert report.skipped == "consent"
    assert (await capture_store.get_tenant("t-c")).consentState == "revoked"
    assert graph_standin.requests == []  # no token, no call to Graph


async def test_sync_stores_each_partners_time_zone(capture_store, graph, graph_standin, graph_firm):
    """Issue 14 item 3: the partner's zone comes from Graph mailboxSettings (Windows names mapped to
    IANA), refreshed with each sync; an unknown name is stored as "" (UTC)."""
    from rapport.records import Person

    firm = await graph_firm("t-tz", "firm-tz.test", ["kei", "nora", "zed"])
    kei, nora, zed = firm.partners
    kei.mailbox.time_zone = "Tokyo Standard Time"
    nora.mailbox.time_zone = "America/New_York"  # some mailboxes already answer with an IANA name
    zed.mailbox.time_zone = "Atlantis Standard Time"
    assert [r.skipped for r in await sync.sync_tenant(capture_store, graph, "t-tz", now=NOW)] == [None] * 3
    zones = {p.person.upn: (await capture_store.get(Person, "t-tz", p.person.oid)).timeZone for p in firm.partners}
    assert zones == {"kei@firm-tz.test": "Asia/Tokyo", "nora@firm-tz.test": "America/New_York", "zed@firm-tz.test": ""}

    kei.mailbox.time_zone = "GMT Standard Time"  # Kei moved to London
    later = NOW + timedelta(hours=2)
    await sync.sync_tenant(capture_store, graph, "t-tz", "kei@firm-tz.test", now=later)
    assert (await capture_store.get(Person, "t-tz", kei.person.oid)).timeZone == "Asia/Tokyo"  # read today
    await sync.sync_tenant(capture_store, graph, "t-tz", "kei@firm-tz.test", now=later + sync.TIME_ZONE_REFRESH)
    assert (await capture_store.get(Person, "t-tz", kei.person.oid)).timeZone == "Europe/London"


class FailingWrites(SqliteBackend):
    """The real SQLite backend, whose Nth bulk write of interactions fails as a store outage would."""

    def __init__(self, path: str, fail_at: int) -> None:
        super().__init__(path)
        self.fail_at, self.writes = fail_at, 0

    async def put_records(self, tenant_id, family, records):
        if family == "interactions":
            self.writes += 1
            if self.writes == self.fail_at:
                await asyncio.sleep(0.05)  # still in flight while the next batch is mapped
                from rapport.store.errors import StoreUnavailable

                raise StoreUnavailable("injected outage")
        return await super().put_records(tenant_id, family, records)


async def test_a_failed_interaction_write_fails_the_round_before_its_delta_link(tmp_path, graph, graph_standin):
    """The interactions' bulk write runs while the next batch is mapped (rapport.capture.ingest):
    one that fails still fails the round, no delta link is saved, and the next round captures all."""
    from rapport.records import Person
    from rapport.store.errors import StoreUnavailable

    backend = FailingWrites(str(tmp_path / "fail.db"), fail_at=1)
    store = await Store(backend).open()
    try:
        firm = Tenant(id="t-f", tenantId="t-f", name="F", domains=["firm-f.test"], partners=["fay@firm-f.test"])
        await store.put_tenant(firm)
        mb = graph_standin.add_mailbox("t-f", "fay@firm-f.test")
        person = Person(id=mb.oid, tenantId="t-f", oid=mb.oid, upn=mb.upn, name="Fay")
        await store.put(person)
        n = sync.INGEST_BATCH + 50  # two batches: the first one's write fails while the second is mapped
        for i in range(n):
            graph_standin.put_message(mb, "inbox", sender=f"p{i % 40}@client.test", to=[mb.upn],
                                      subject=f"matter {i}", at=NOW - timedelta(minutes=i))
        try:
            await sync.sync_folder(store, graph, firm, person, "inbox")
        except StoreUnavailable:
            pass
        else:
            raise AssertionError("the round succeeded over a failed write")
        state = await store.get(SyncState, "t-f", SyncState.id_for(person.oid, "inbox"))
        assert state is None or state.deltaLink is None
        _stats, count, _ = await sync.sync_folder(store, graph, firm, person, "inbox")
        assert count == n
        got = {ix.sourceId for ix in await store.find_all(Interaction, "t-f")}
        assert got == {f"{person.oid}:{mid}" for mid in graph_standin.truth(mb, "inbox")}
    finally:
        await store.close()
