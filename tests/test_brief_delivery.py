"""Briefs before the meeting (rapport.briefs.delivery): the 5-minute timer with an injected clock,
exactly once per meeting and partner, and the three channels:

- the embedded default's local outbox (demo firm);
- Teams: a proactive message through botbuilder's CloudAdapter (bot/briefs.py) to the connector
  stand-in, which enforces Teams' rate limits; the bot's token comes from the identity stand-in;
- Outlook: an actionable message created and sent through the real GraphClient to the Graph stand-in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.adapter import make_adapter
from bot.briefs import TeamsBriefSender
from bot.pacing import TeamsPacer
from local.demo import DEMO_TENANT_ID
from rapport import runtime, work
from rapport.briefs import delivery
from rapport.briefs.delivery import GraphActionableMail, timer_pass, work_key
from rapport.identity.keys import KeySet
from rapport.records import (
    Account,
    Contact,
    Meeting,
    OutboxItem,
    Owner,
    Person,
    Tenant,
    TenantSettings,
    WorkItem,
    account_id,
    iso,
)
from rapport.settings import load_settings
from rapport.store import Store, make_store
from tests.doubles.connector import ConnectorServer
from tests.test_briefs import COLLEAGUE, CORVINA, ELEANOR, NOW, brief_demo_db, meeting, open_copy  # noqa: F401

# --- the embedded default on the demo firm ------------------------------------------------------


@pytest.fixture
async def demo_store(brief_demo_db, tmp_path) -> AsyncIterator[Store]:  # noqa: F811
    store = await open_copy(brief_demo_db, tmp_path)
    try:
        with runtime.override(settings=load_settings({"RAPPORT_SQLITE_PATH": str(tmp_path / "rapport.db")}),
                              store=store):
            yield store
    finally:
        await store.close()


async def run_timer(store: Store, at: datetime) -> delivery.PassReport:
    """One timer run at `at`: queue, then drain what it queued (what brief_timer does)."""
    return await delivery.brief_timer(store, now=at)


async def outbox_for(store: Store, m: Meeting, channel: str = "teams") -> list[OutboxItem]:
    items = await store.find_all(OutboxItem, DEMO_TENANT_ID)
    return sorted((i for i in items if i.channel == channel and i.idempotencyKey.startswith(m.id)),
                  key=lambda i: i.at)


async def test_exactly_once_across_timer_runs(demo_store):
    m = meeting(ELEANOR, "AAMkEVonce", [CORVINA], start=NOW + timedelta(minutes=40))
    await demo_store.put(m)
    first = await run_timer(demo_store, NOW)
    assert work_key(m.id, ELEANOR, iso(m.start)) in first.queued
    for minutes in (5, 10, 15):
        again = await run_timer(demo_store, NOW + timedelta(minutes=minutes))
        assert not any(k.startswith(m.id) for k in again.queued)
    items = await outbox_for(demo_store, m)
    assert len(items) == 1 and items[0].to == ["eleanor.marsh@ashgrovepell.example"]
    card = items[0].card
    assert card["type"] == "AdaptiveCard" and card["refresh"]["action"]["verb"] == "refreshBrief"
    assert card["refresh"]["userIds"] == [f"8:orgid:{ELEANOR}"]
    stored = await demo_store.get(Meeting, DEMO_TENANT_ID, m.id)
    assert stored.briefsSent == {ELEANOR: iso(m.start)}


async def test_queued_twice_before_the_drain_is_still_one_brief(demo_store):
    m = meeting(ELEANOR, "AAMkEVtwice", [CORVINA], start=NOW + timedelta(minutes=40))
    await demo_store.put(m)
    a = await timer_pass(demo_store, NOW)
    b = await timer_pass(demo_store, NOW + timedelta(minutes=5))  # the drain has not run yet
    key = work_key(m.id, ELEANOR, iso(m.start))
    assert key in a.queued and key not in b.queued
    await work.drain(demo_store, now=NOW + timedelta(minutes=5), tenant_ids=[DEMO_TENANT_ID])
    assert len(await outbox_for(demo_store, m)) == 1


async def test_moved_meeting_gets_an_updated_brief_not_a_duplicate(demo_store):
    m = meeting(ELEANOR, "AAMkEVmove", [CORVINA], start=NOW + timedelta(minutes=40))
    await demo_store.put(m)
    await run_timer(demo_store, NOW)
    new_start = NOW + timedelta(minutes=55)

    def move(x: Meeting) -> Meeting:  # what capture does when Graph reports the new time
        x.start, x.end = new_start, new_start + timedelta(minutes=60)
        return x

    await demo_store.update(Meeting, DEMO_TENANT_ID, m.id, move)
    report = await run_timer(demo_store, NOW + timedelta(minutes=5))
    assert work_key(m.id, ELEANOR, iso(new_start)) in report.queued
    await run_timer(demo_store, NOW + timedelta(minutes=10))
    items = await outbox_for(demo_store, m)
    assert len(items) == 2
    assert not items[0].subject.startswith("Updated") and items[1].subject.startswith("Updated brief")
    texts = "".join(b.get("text", "") for b in _nodes(items[1].card) if b.get("type") == "TextRun")
    assert "Updated brief: the meeting moved from" in texts
    stored = await demo_store.get(Meeting, DEMO_TENANT_ID, m.id)
    assert stored.briefsSent == {ELEANOR: iso(new_start)}


async def test_cancelled_meeting_gets_no_brief_even_when_already_queued(demo_store):
    cancelled = meeting(ELEANOR, "AAMkEVcxl", [CORVINA], start=NOW + timedelta(minutes=30), cancelled=True)
    later = meeting(ELEANOR, "AAMkEVcxl2", [CORVINA], start=NOW + timedelta(minutes=35))
    await demo_store.put_many([cancelled, later])
    report = await timer_pass(demo_store, NOW)
    assert not any(k.startswith(cancelled.id) for k in report.queued)
    assert any(k.startswith(later.id) for k in report.queued)

    def cancel(x: Meeting) -> Meeting:
        x.isCancelled = True
        return x

    await demo_store.update(Meeting, DEMO_TENANT_ID, later.id, cancel)  # cancelled between queue and drain
    await work.drain(demo_store, now=NOW, tenant_ids=[DEMO_TENANT_ID])
    assert await outbox_for(demo_store, cancelled) == [] and await outbox_for(demo_store, later) == []
    item = await demo_store.get(WorkItem, DEMO_TENANT_ID,
                                WorkItem.id_for(delivery.KIND, work_key(later.id, ELEANOR, iso(later.start))))
    assert item.state == "done"  # settled, not retried for ever


async def test_each_occurrence_of_a_recurring_meeting_gets_its_own_brief(demo_store):
    series = "AAMkSERIES1"
    week = [meeting(ELEANOR, f"AAMkOCC{i}", [CORVINA], start=NOW + timedelta(minutes=30, weeks=i), series=series)
            for i in range(3)]
    await demo_store.put_many(week)
    for i in range(3):
        await run_timer(demo_store, NOW + timedelta(weeks=i))
        await run_timer(demo_store, NOW + timedelta(weeks=i, minutes=5))
    for occ in week:
        assert len(await outbox_for(demo_store, occ)) == 1


async def test_internal_only_meeting_and_meetings_outside_the_lead_time(demo_store):
    internal = meeting(ELEANOR, "AAMkEVinternal", [], start=NOW + timedelta(minutes=20), internal=[COLLEAGUE])
    far = meeting(ELEANOR, "AAMkEVfar", [CORVINA], start=NOW + timedelta(minutes=90))
    started = meeting(ELEANOR, "AAMkEVstarted", [CORVINA], start=NOW - timedelta(minutes=5))
    await demo_store.put_many([internal, far, started])
    await run_timer(demo_store, NOW)
    assert await outbox_for(demo_store, internal) == [] and await outbox_for(demo_store, far) == []
    assert await outbox_for(demo_store, started) == []
    await run_timer(demo_store, NOW + timedelta(minutes=35))  # 55 minutes before: inside the hour
    assert len(await outbox_for(demo_store, far)) == 1
    assert await outbox_for(demo_store, internal) == []


async def test_firm_lead_time_and_actionable_mail_in_the_local_outbox(demo_store):
    def settings(t: Tenant) -> Tenant:
        t.settings = TenantSettings(briefLeadMinutes=120, actionableMessages=True)
        return t

    await demo_store.update(Tenant, DEMO_TENANT_ID, DEMO_TENANT_ID, settings)
    far = meeting(ELEANOR, "AAMkEVlead", [CORVINA], start=NOW + timedelta(minutes=100), subject="Lead </script>")
    await demo_store.put(far)
    await run_timer(demo_store, NOW)
    assert len(await outbox_for(demo_store, far)) == 1
    mails = await outbox_for(demo_store, far, "actionable-mail")
    assert len(mails) == 1
    body = mails[0].body
    m = re.search(r'<script type="application/adaptivecard\+json">(.*?)</script>', body, re.S)
    assert m and json.loads(m.group(1))["type"] == "AdaptiveCard"
    assert body.count("</script>") == 1  # the subject's "</script>" cannot close the element


async def test_snoozed_brief_comes_back_once_before_the_meeting(demo_store):
    m = meeting(ELEANOR, "AAMkEVsnooze", [CORVINA], start=NOW + timedelta(minutes=40))
    await demo_store.put(m)
    await run_timer(demo_store, NOW)
    at = await delivery.snooze(demo_store, DEMO_TENANT_ID, m, ELEANOR, NOW + timedelta(minutes=2), 15)
    assert at == NOW + timedelta(minutes=17)
    await work.drain(demo_store, now=NOW + timedelta(minutes=10), tenant_ids=[DEMO_TENANT_ID])
    assert len(await outbox_for(demo_store, m)) == 1  # not yet
    await work.drain(demo_store, now=at, tenant_ids=[DEMO_TENANT_ID])
    await run_timer(demo_store, at + timedelta(minutes=1))
    items = await outbox_for(demo_store, m)
    assert len(items) == 2 and items[1].idempotencyKey.endswith(":snooze:" + iso(at))
    # Too late to snooze: nothing queued.
    assert await delivery.snooze(demo_store, DEMO_TENANT_ID, m, ELEANOR, NOW + timedelta(minutes=36)) is None


def _nodes(node: Any):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _nodes(v)
    elif isinstance(node, list):
        for v in node:
            yield from _nodes(v)


# --- a small firm, for the real channels ---------------------------------------------------------

TENANT = "aaaaaaaa-0000-4000-8000-00000000000a"
BOT_APP_ID = "b0b0b0b0-1111-4222-8333-444444444444"
CLIENT = "jane.doe@acme.example"


def partner_oid(i: int) -> str:
    return f"0a0a0a0a-1111-4222-8333-{i:012d}"


async def small_firm(store: Store, partners: int, meetings_each: int, *, service_url: str = "",
                     actionable: bool = False) -> list[Person]:
    people = []
    for i in range(partners):
        oid = partner_oid(i)
        ref = {"serviceUrl": service_url, "channelId": "msteams", "bot": {"id": f"28:{BOT_APP_ID}"},
               "user": {"id": f"29:user-{i}", "aadObjectId": oid},
               "conversation": {"id": f"a:personal-{i}", "conversationType": "personal", "tenantId": TENANT}}
        people.append(Person(id=oid, tenantId=TENANT, oid=oid, upn=f"p{i}@firm.test", name=f"Partner {i}",
                             conversationRef=ref if service_url else None))
    tenant = Tenant(id=TENANT, tenantId=TENANT, name="Firm", domains=["firm.test"], partners=[p.upn for p in people],
                    settings=TenantSettings(actionableMessages=actionable))
    acct = Account.new(TENANT, "acme.example", name="Acme GmbH", kind="client")
    contact = Contact.new(TENANT, CLIENT, name="Jane Doe", title="Head of IP", accountId=acct.id,
                          owners=[Owner(oid=p.oid, name=p.name) for p in people[:3]])
    ms = []
    for p in people:
        for k in range(meetings_each):
            start = NOW + timedelta(minutes=10 + k)
            ms.append(Meeting(id=Meeting.id_for(p.oid, f"ev-{p.oid}-{k}"), tenantId=TENANT, eventId=f"ev-{k}",
                              organizerOid=p.oid, subject=f"Review {k} with Acme", start=start,
                              end=start + timedelta(minutes=30), contactIds=[contact.id], accountIds=[acct.id],
                              attendees=[{"email": CLIENT, "name": "Jane Doe"}],
                              webLink="https://outlook.office365.com/owa/?itemid=x"))
    await store.put_many([tenant, *people, acct, contact, *ms])
    return people


class VirtualTime:
    def __init__(self) -> None:
        self.t = 5000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)


@pytest.fixture
async def teams_world(identity_server, tmp_path) -> AsyncIterator[dict[str, Any]]:
    vt = VirtualTime()
    connector = await ConnectorServer(enforce_limits=True, clock=vt.clock).start()
    settings = load_settings({
        "RAPPORT_SQLITE_PATH": str(tmp_path / "teams.db"), "ENTRA_AUTHORITY_HOST": identity_server.base_url,
        "BotOpenIdMetadata": identity_server.bot_metadata_url, "MicrosoftAppId": BOT_APP_ID,
        "MicrosoftAppPassword": "bot-secret", "MicrosoftAppType": "SingleTenant", "MicrosoftAppTenantId": TENANT,
        "RAPPORT_ALLOWED_TENANTS": TENANT,
    })
    store = await make_store(settings).open()
    adapter, auth = make_adapter(settings, keys=KeySet(settings.bot_openid_metadata, clock=vt.clock))
    services = contextlib.ExitStack()
    services.enter_context(runtime.override(settings=settings, store=store))

    def sender(pacer: TeamsPacer | None = None) -> TeamsBriefSender:
        s = TeamsBriefSender(adapter, auth, BOT_APP_ID, pacer=pacer or TeamsPacer(clock=vt.clock, sleep=vt.sleep))
        services.enter_context(runtime.override(teams_briefs=lambda _settings: s))
        return s

    try:
        yield {"store": store, "connector": connector, "time": vt, "sender": sender, "settings": settings}
    finally:
        services.close()
        await connector.stop()
        await store.close()


def cards(connector: ConnectorServer) -> list[dict[str, Any]]:
    out = []
    for s in connector.sent:
        for att in s.activity.get("attachments") or []:
            assert att["contentType"] == "application/vnd.microsoft.card.adaptive"
            out.append(att["content"])
    return out


async def test_teams_briefs_to_one_partner_are_paced_per_thread(teams_world):
    w = teams_world
    sender = w["sender"]()
    await small_firm(w["store"], 1, 20, service_url=w["connector"].base_url)
    start = w["time"].t
    await delivery.brief_timer(w["store"], now=NOW)
    connector: ConnectorServer = w["connector"]
    assert len(connector.sent) == 20 and connector.throttled == 0 and sender.retries == 0
    assert {s.conversation_id for s in connector.sent} == {"a:personal-0"}
    # 8 per 2 s on one thread: 20 messages need at least 4 s of (virtual) time.
    assert w["time"].t - start >= 4.0
    assert all(s.authorization and s.authorization.startswith("Bearer ") for s in connector.sent)
    card = cards(connector)[0]
    assert card["refresh"]["userIds"] == ["29:user-0"] and card["version"] == "1.5"
    assert "Jane Doe" in json.dumps(card)
    # Every brief marked sent: the next run sends nothing.
    await delivery.brief_timer(w["store"], now=NOW + timedelta(minutes=5))
    assert len(connector.sent) == 20


async def test_teams_briefs_across_a_firm_stay_within_30_per_second(teams_world):
    w = teams_world
    w["sender"]()
    await small_firm(w["store"], 45, 1, service_url=w["connector"].base_url)
    start = w["time"].t
    await delivery.brief_timer(w["store"], now=NOW)
    assert len(w["connector"].sent) == 45 and w["connector"].throttled == 0
    assert len({s.conversation_id for s in w["connector"].sent}) == 45
    assert w["time"].t - start >= 1.0  # the 31st had to wait for the next second


class NoPacing(TeamsPacer):
    async def acquire(self, tenant_id: str, thread_id: str) -> None:
        return None


async def test_connector_429s_are_backed_off_and_nothing_is_lost(teams_world):
    """Without pacing the stand-in throttles (so the limits are real); the sender backs off on the
    Retry-After and every brief still arrives exactly once."""
    w = teams_world
    sender = w["sender"](NoPacing(clock=w["time"].clock, sleep=w["time"].sleep))
    await small_firm(w["store"], 1, 10, service_url=w["connector"].base_url)
    await delivery.brief_timer(w["store"], now=NOW)
    connector: ConnectorServer = w["connector"]
    assert connector.throttled > 0 and sender.retries == connector.throttled
    assert 1.0 in w["time"].slept  # the connector's Retry-After was obeyed
    assert len(connector.sent) == 10
    assert sorted(c["body"][0]["items"][1]["inlines"][0]["text"] for c in cards(connector)) == sorted(
        f"Review {k} with Acme" for k in range(10))


async def test_injected_502_then_success(teams_world):
    w = teams_world
    sender = w["sender"]()
    await small_firm(w["store"], 1, 1, service_url=w["connector"].base_url)
    w["connector"].fail_next = [502]
    await delivery.brief_timer(w["store"], now=NOW)
    assert len(w["connector"].sent) == 1 and sender.retries == 1


async def test_no_conversation_yet_means_no_teams_message_and_no_outbox(teams_world):
    w = teams_world
    w["sender"]()
    await small_firm(w["store"], 1, 1)  # the partner never installed the app: no reference
    await delivery.brief_timer(w["store"], now=NOW)
    assert w["connector"].sent == []
    assert await w["store"].find_all(OutboxItem, TENANT) == []  # production never falls back to the outbox


# --- Outlook actionable messages through Graph -----------------------------------------------------

@pytest.fixture
async def mail_world(tmp_path, graph_tokens, graph_clock) -> AsyncIterator[dict[str, Any]]:
    from rapport.graph import GraphClient
    from tests.doubles.graph_mail import GraphMailStandIn

    standin = await GraphMailStandIn().start()
    # The follow-up sender's configuration: one attempt per request, the key lookup decides retries.
    client = GraphClient(standin.base_url, graph_tokens, sleep=graph_clock.sleep, clock=graph_clock.monotonic,
                         max_attempts=1)
    settings = load_settings({"RAPPORT_SQLITE_PATH": str(tmp_path / "am.db"),
                              "RAPPORT_AM_ORIGINATOR": "6f2c4c2a-7c1e-4d7a-9b0a-0000000000a1"})
    store = await make_store(settings).open()
    try:
        with runtime.override(settings=settings, store=store, brief_mail=GraphActionableMail(client)):
            yield {"store": store, "graph": standin}
    finally:
        await client.close()
        await standin.stop()
        await store.close()


def _card_of(mail: dict[str, Any]) -> dict[str, Any]:
    html = mail["body"]["content"]
    m = re.search(r'<script type="application/adaptivecard\+json">(.*?)</script>', html, re.S)
    assert m, "no adaptive card in the mail body"
    return json.loads(m.group(1))


async def test_actionable_message_through_graph(mail_world):
    store, graph = mail_world["store"], mail_world["graph"]
    people = await small_firm(store, 1, 1, actionable=True)
    graph.add_mailbox(TENANT, people[0].oid)
    await delivery.brief_timer(store, now=NOW)
    assert len(graph.sent) == 1
    mail = graph.sent[0]
    assert mail["toRecipients"][0]["emailAddress"]["address"] == people[0].upn  # to the partner only
    assert mail["body"]["contentType"].lower() == "html" and mail["subject"].startswith("Brief: Review 0")
    card = _card_of(mail)
    assert card["originator"] == "6f2c4c2a-7c1e-4d7a-9b0a-0000000000a1"
    assert card["refresh"]["action"]["verb"] == "refreshBrief" and card["version"] == "1.5"
    key = work_key(Meeting.id_for(people[0].oid, f"ev-{people[0].oid}-0"), people[0].oid, iso(NOW + timedelta(minutes=10)))
    assert graph.sent_with_key(key) == [mail]
    assert [r for r in graph.requests if r[0] == "GET"]  # the key was looked up before sending
    assert len(await store.find_all(OutboxItem, TENANT)) == 1  # Teams side: the local outbox here
    await delivery.brief_timer(store, now=NOW + timedelta(minutes=5))
    assert len(graph.sent) == 1


async def test_actionable_message_ambiguous_send_is_not_repeated(mail_world):
    """/send answered 503 after Graph had sent it: the retry finds the key as sent and stops."""
    store, graph = mail_world["store"], mail_world["graph"]
    people = await small_firm(store, 1, 1, actionable=True)
    graph.add_mailbox(TENANT, people[0].oid)
    graph.send_faults = ["503-sent"]
    await delivery.brief_timer(store, now=NOW)
    item = (await store.find_all(WorkItem, TENANT))[0]
    assert item.state == "queued" and item.attempts == 1  # failed once, to be retried
    assert len(graph.sent) == 1
    await work.drain(store, now=NOW + timedelta(minutes=2), tenant_ids=[TENANT])
    item = (await store.find_all(WorkItem, TENANT))[0]
    assert item.state == "done" and len(graph.sent) == 1
    m = await store.get(Meeting, TENANT, item.payload["meetingId"])
    assert m.briefsSent == {people[0].oid: item.payload["start"]}


async def test_actionable_messages_need_the_firm_to_turn_them_on(mail_world):
    store, graph = mail_world["store"], mail_world["graph"]
    people = await small_firm(store, 1, 1, actionable=False)
    graph.add_mailbox(TENANT, people[0].oid)
    await delivery.brief_timer(store, now=NOW)
    assert graph.sent == [] and graph.requests == []


def test_account_id_helper_consistency():
    assert account_id("acme.example") == Account.new(TENANT, "acme.example", name="x").id


# --- the bot: "brief" commands and the card's verbs, through POST /api/messages ---------------------

def _trigger(name: str):
    import function_app
    from local.host import functions

    for f in functions(function_app.app):
        if f.get_function_name() == name:
            return f.get_user_function()
    raise LookupError(name)


async def _post(w: dict[str, Any], identity_server, activity: dict[str, Any]):
    import azure.functions as func

    token = identity_server.bot_token(BOT_APP_ID, w["connector"].base_url)
    req = func.HttpRequest("POST", "http://127.0.0.1:7071/api/messages", body=json.dumps(activity).encode(),
                           headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    return await _trigger("bot_messages")(req)


def _activity(w: dict[str, Any], oid: str, **kw: Any) -> dict[str, Any]:
    import uuid

    a = {"type": "message", "id": uuid.uuid4().hex, "channelId": "msteams", "serviceUrl": w["connector"].base_url,
         "from": {"id": "29:user-x", "name": "Partner", "aadObjectId": oid},
         "recipient": {"id": f"28:{BOT_APP_ID}", "name": "Rapport"},
         "conversation": {"id": "a:personal-x", "conversationType": "personal", "tenantId": TENANT},
         "channelData": {"tenant": {"id": TENANT}}}
    a.update(kw)
    return a


@pytest.fixture
async def bot_world(teams_world, identity_server):
    w = teams_world
    with runtime.override(bot_keys=KeySet(w["settings"].bot_openid_metadata, clock=w["time"].clock)):
        yield w


async def _firm_now(store: Store) -> list[Person]:
    from rapport.records import utcnow

    people = await small_firm(store, 2, 2)
    soon = utcnow() + timedelta(hours=1)
    for i, p in enumerate(people):  # the bot answers about real "next" meetings: move them to the future
        for k in range(2):
            mid = Meeting.id_for(p.oid, f"ev-{p.oid}-{k}")

            def later(m: Meeting, k: int = k, i: int = i) -> Meeting:
                m.start = soon + timedelta(minutes=30 * k + i)
                m.end = m.start + timedelta(minutes=30)
                return m

            await store.update(Meeting, TENANT, mid, later)
    return people


async def test_bot_brief_commands(bot_world, identity_server):
    w = bot_world
    people = await _firm_now(w["store"])
    resp = await _post(w, identity_server, _activity(w, people[0].oid, text="brief"))
    assert resp.status_code == 200
    sent = w["connector"].sent
    assert len(sent) == 1 and "Review 0 with Acme" in json.dumps(cards(w["connector"])[0])
    await _post(w, identity_server, _activity(w, people[0].oid, text="<at>Rapport</at> brief Jane Doe"))
    await _post(w, identity_server, _activity(w, people[0].oid, text="brief acme gmbh"))
    assert len(cards(w["connector"])) == 3
    await _post(w, identity_server, _activity(w, people[0].oid, text="brief Nobody Known"))
    assert "found no meeting" in w["connector"].sent[-1].text and "Nobody Known" in w["connector"].sent[-1].text
    await _post(w, identity_server, _activity(w, people[0].oid, text="hello"))
    assert "business-development desk" in w["connector"].sent[-1].text  # other text: help as before


async def _invoke(w, identity_server, oid: str, verb: str, data: dict[str, Any]) -> dict[str, Any]:
    activity = _activity(w, oid, type="invoke", name="adaptiveCard/action",
                         value={"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"})
    resp = await _post(w, identity_server, activity)
    assert resp.status_code == 200, resp.get_body()
    body = json.loads(resp.get_body())
    assert body["statusCode"] == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    return body["value"]


async def test_bot_card_verbs_act_for_the_activitys_user_only(bot_world, identity_server):
    w = bot_world
    people = await _firm_now(w["store"])
    mine = Meeting.id_for(people[0].oid, f"ev-{people[0].oid}-0")
    card = await _invoke(w, identity_server, people[0].oid, "refreshBrief", {"meetingId": mine})
    assert "Review 0 with Acme" in json.dumps(card) and card["refresh"]["userIds"] == ["29:user-x"]
    # The other partner presses the same button (a forwarded card): answered like a missing meeting.
    other = await _invoke(w, identity_server, people[1].oid, "refreshBrief", {"meetingId": mine})
    assert "no longer in your calendar" in json.dumps(other) and "Review 0" not in json.dumps(other)
    # Card data naming a tenant or a user changes nothing: only meetingId is read.
    forged = await _invoke(w, identity_server, people[1].oid, "refreshBrief",
                           {"meetingId": mine, "tenantId": TENANT, "oid": people[0].oid})
    assert "no longer in your calendar" in json.dumps(forged)
    opened = await _invoke(w, identity_server, people[0].oid, "openInOutlook", {"meetingId": mine})
    assert "https://outlook.office365.com/owa/?itemid=x" in json.dumps(opened)
    snoozed = await _invoke(w, identity_server, people[0].oid, "snoozeBrief", {"meetingId": mine, "minutes": 15})
    assert "Snoozed" in json.dumps(snoozed)
    items = [i for i in await w["store"].find_all(WorkItem, TENANT) if i.payload.get("snooze")]
    assert len(items) == 1 and items[0].payload["meetingId"] == mine and items[0].payload["partnerOid"] == people[0].oid


async def test_outlook_briefs_set_by_the_firm_use_its_own_originator(demo_store):
    """`rapport tenant set outlookBriefs=true amOriginator=...` (rapport.firm.settings) is what turns
    the Outlook brief on; the firm's originator is the card's, before the deployment's."""
    from rapport.firm.settings import set_settings

    originator = "5a0e1c38-9f4e-4a2f-8d1b-4c2a7e9b3f10"
    await set_settings(demo_store, DEMO_TENANT_ID, {"outlookBriefs": "true", "amOriginator": originator})
    m = meeting(ELEANOR, "AAMkEVorig", [CORVINA], start=NOW + timedelta(minutes=30))
    await demo_store.put(m)
    await run_timer(demo_store, NOW)
    [mail] = await outbox_for(demo_store, m, "actionable-mail")
    assert mail.card["originator"] == originator
