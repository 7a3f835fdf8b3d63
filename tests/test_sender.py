"""rapport.followups.sending: sending an approved follow-up exactly once (docs/reliability.md section 6).

The real GraphClient (msgraph-sdk over HTTP) against the Graph mail stand-in: create with the
idempotency key, /send, and the key lookup before every retry. Faults: 503, "accepted then the
connection dropped", a timeout after the send, 403. The work drain runs with injected times.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from rapport import followups, runtime, work
from rapport.drafting import make_drafter
from rapport.followups import sending
from rapport.graph import GraphClient
from rapport.records import Draft, WorkItem, utcnow
from rapport.settings import load_settings
from rapport.store.base import Store
from rapport.store.sqlite import SqliteBackend
from tests.doubles.graph_mail import GraphMailStandIn
from tests.plugins.graph import FakeGraphTokens, GraphClock
from tests.test_followups import NOW, OTHER, OWNER, TENANT, seed, settle


@dataclass
class MailWorld:
    store: Store
    graph: GraphMailStandIn
    path: str
    draft_id: str = ""

    async def draft(self) -> Draft:
        d = await self.store.get(Draft, TENANT, self.draft_id)
        assert d is not None
        return d

    async def drain_until_settled(self, rounds: int = 8) -> None:
        """Run the drain as the minute timer would, each round far enough ahead for any backoff."""
        at = utcnow()
        for _ in range(rounds):
            await work.drain(self.store, now=at, rng=random.Random(1))
            at += timedelta(hours=2)


@pytest.fixture
async def mail(tmp_path) -> AsyncIterator[MailWorld]:
    path = str(tmp_path / "s.db")
    store = await Store(SqliteBackend(path)).open()
    settings = load_settings({"RAPPORT_SQLITE_PATH": path})
    graph = await GraphMailStandIn().start()
    graph.add_mailbox(TENANT, OWNER)
    clock = GraphClock()
    client = GraphClient(graph.base_url, FakeGraphTokens(), max_attempts=1, timeout=0.5, sleep=clock.sleep,
                         clock=clock.monotonic)
    with runtime.override(settings=settings, store=store, mail_transport=sending.GraphMailTransport(client),
                          send_limiter=sending.RateLimiter(), drafter=make_drafter(settings)):
        meeting = await seed(store)
        await followups.timer_pass(store, NOW, kick=False)
        await work.drain(store)
        world = MailWorld(store, graph, path, followups.draft_id_for(meeting.id, OWNER))
        try:
            yield world
        finally:
            await settle()
            await client.close()
            await graph.stop()
            await world.store.close()


async def approve_and_drain(w: MailWorld, version: int = 1) -> None:
    out = await followups.approve(w.store, TENANT, OWNER, w.draft_id, version, now=NOW)
    assert out.status == "ok"
    await settle()
    await w.drain_until_settled()


async def test_send_through_graph_carries_the_key(mail):
    await approve_and_drain(mail)
    key = f"{mail.draft_id}:v1"
    assert len(mail.graph.sent) == 1
    msg = mail.graph.sent[0]
    assert msg["_user"] == OWNER.lower()  # from the partner's own mailbox
    assert [r["emailAddress"]["address"] for r in msg["toRecipients"]] == ["jane@acme.example", "bob@acme.example"]
    assert msg["body"]["contentType"].lower() == "text"
    assert {"name": sending.KEY_HEADER, "value": key} in msg["internetMessageHeaders"]
    assert msg["singleValueExtendedProperties"] == [{"id": sending.KEY_PROPERTY, "value": key}]
    # looked the key up before creating, then created, then sent: no sendMail
    methods = [(m, p.rsplit("/", 1)[-1]) for m, p in mail.graph.requests]
    assert methods == [("GET", "messages"), ("POST", "messages"), ("POST", "send")]
    assert (await mail.draft()).state == "sent"


async def test_503_on_send_backs_off_and_sends_once(mail):
    mail.graph.send_faults = ["503", "503"]
    await approve_and_drain(mail)
    assert len(mail.graph.sent) == 1
    d = await mail.draft()
    assert d.state == "sent"
    creates = [p for m, p in mail.graph.requests if m == "POST" and p.endswith("/messages")]
    assert len(creates) == 1  # the retries found the keyed draft and sent it, never a second message


async def test_503_after_the_send_went_out_is_not_resent(mail):
    mail.graph.send_faults = ["503-sent"]
    await approve_and_drain(mail)
    assert len(mail.graph.sent) == 1 and (await mail.draft()).state == "sent"
    sends = [p for m, p in mail.graph.requests if p.endswith("/send")]
    assert len(sends) == 1  # the second attempt found the key sent and only recorded it


async def test_accepted_then_connection_dropped_sends_once(mail):
    mail.graph.send_faults = ["reset"]
    await approve_and_drain(mail)
    assert len(mail.graph.sent) == 1
    assert len([p for m, p in mail.graph.requests if p.endswith("/send")]) == 1
    assert (await mail.draft()).state == "sent"


async def test_timeout_after_the_send_sends_once(mail):
    mail.graph.send_faults = ["timeout"]
    await approve_and_drain(mail)
    assert len(mail.graph.sent) == 1 and (await mail.draft()).state == "sent"


async def test_crash_between_approve_and_send_resumes_with_one_send(mail):
    out = await followups.approve(mail.store, TENANT, OWNER, mail.draft_id, 1, now=NOW)
    assert out.status == "ok"
    for task in work.kicks():  # the process dies right after answering the invoke
        task.cancel()
    await settle()
    await mail.store.close()
    mail.store = await Store(SqliteBackend(mail.path)).open()  # a new process on the same records
    with runtime.override(store=mail.store):
        assert (await mail.draft()).state == "approved" and mail.graph.sent == []
        await mail.drain_until_settled()
        assert len(mail.graph.sent) == 1 and (await mail.draft()).state == "sent"


async def test_crash_after_graph_sent_but_before_recording_is_not_resent(mail):
    await followups.approve(mail.store, TENANT, OWNER, mail.draft_id, 1, now=NOW)
    for task in work.kicks():
        task.cancel()
    await settle()
    d = await mail.draft()
    # the previous worker got as far as Graph accepting the send, then died before recording it
    await sending.mail_transport().send(mail.store, await mail.store.get_person(TENANT, OWNER), d, f"{d.id}:v1")
    assert len(mail.graph.sent) == 1 and (await mail.draft()).state == "approved"
    await mail.drain_until_settled()
    assert len(mail.graph.sent) == 1 and (await mail.draft()).state == "sent"


async def test_refusal_fails_with_reason_then_retry_sends_once(mail):
    mail.graph.send_faults = ["403"]
    await approve_and_drain(mail)
    d = await mail.draft()
    assert d.state == "failed" and "Mail.Send" in d.failureReason and mail.graph.sent == []
    card = await followups.card_for(mail.store, d)
    verbs = [a["verb"] for a in card["actions"]]
    assert "followup.retry" in verbs and "followup.approve" not in verbs
    assert (await followups.retry(mail.store, TENANT, OTHER, d.id, 1)).status == "not_found"  # a colleague cannot see the draft (scope)
    out = await followups.retry(mail.store, TENANT, OWNER, d.id, 1)
    assert out.status == "ok"
    await settle()
    await mail.drain_until_settled()
    assert len(mail.graph.sent) == 1 and (await mail.draft()).state == "sent"


async def test_persistent_failure_ends_failed_after_the_attempts(mail):
    mail.graph.send_faults = ["503"] * work.MAX_ATTEMPTS
    await approve_and_drain(mail)
    d = await mail.draft()
    assert d.state == "failed" and "kept failing" in d.failureReason and mail.graph.sent == []
    items = (await mail.store.find(WorkItem, TENANT, key="kind:send-draft:done")).items
    assert len(items) == 1 and items[0].attempts == work.MAX_ATTEMPTS - 1


async def test_send_rechecks_the_wall(mail):
    from rapport.records import Wall
    from tests.test_followups import ACME

    await followups.approve(mail.store, TENANT, OWNER, mail.draft_id, 1, now=NOW)
    for task in work.kicks():
        task.cancel()
    await settle()
    await mail.store.put(Wall(id="w", tenantId=TENANT, accountIds=[ACME], screenedOids=[OWNER]))
    await mail.drain_until_settled()
    d = await mail.draft()
    assert d.state == "failed" and "wall" in d.failureReason and mail.graph.sent == []


async def test_rate_limit_queues_the_31st_send_of_a_minute():
    clock = GraphClock()
    limiter = sending.RateLimiter(30, clock=clock.monotonic, sleep=clock.sleep)
    for _ in range(30):
        await limiter.acquire(TENANT, OWNER)
    assert limiter.waited == []
    await limiter.acquire(TENANT, OTHER)  # another partner is not held back
    assert limiter.waited == []
    start = clock.t
    await limiter.acquire(TENANT, OWNER)
    assert limiter.waited == [60.0] and clock.t - start == 60.0


async def test_the_sent_follow_up_is_one_interaction_when_capture_reads_sent_items(mail):
    """The sender and capture name the mail alike: Graph ids are requested immutable, so the id the
    message was created under is the id Sent Items delta later shows, and re-capture is a no-op."""
    from rapport import capture
    from rapport.records import Person, Tenant, contact_id

    await approve_and_drain(mail)
    assert mail.graph.prefer and all('IdType="ImmutableId"' in p for p in mail.graph.prefer)
    jane = contact_id("jane@acme.example")
    before = (await mail.store.interactions_for_contact(TENANT, jane, limit=50)).items
    subject = (await mail.draft()).subject
    assert any(i.subject == subject for i in before)  # the send was recorded
    msg = mail.graph.sent[0]  # as it sits in Sent Items now
    firm = await mail.store.get(Tenant, TENANT, TENANT)
    owner = await mail.store.get(Person, TENANT, OWNER)
    seen_by_delta = {
        "id": msg["id"], "subject": msg["subject"], "sentDateTime": msg["sentDateTime"],
        "receivedDateTime": msg["sentDateTime"], "internetMessageId": "<sent-1@firm.test>",
        "from": {"emailAddress": {"name": owner.name, "address": owner.upn}},
        "toRecipients": msg["toRecipients"], "ccRecipients": msg.get("ccRecipients") or [],
    }
    await capture.ingest(mail.store, firm, owner, messages=[seen_by_delta], folder="sentitems")
    after = (await mail.store.interactions_for_contact(TENANT, jane, limit=50)).items
    assert sorted(i.id for i in after) == sorted(i.id for i in before)
    assert len([i for i in after if i.subject == msg["subject"]]) == 1
