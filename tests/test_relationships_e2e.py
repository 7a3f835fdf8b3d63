"""Introductions and visibility end to end, over HTTP on function_app's real triggers (DevHost on 127.0.0.1):

the task pane's POST /api/addin/intro and /api/addin/visibility (dev tokens), the owners' Teams cards
(Bot Connector stand-in), their answers as `adaptiveCard/action` invokes at POST /api/messages with Bot
Framework tokens from the identity stand-in, the asker's outcome card; and one visibility change
seen at once by the sidebar, the brief (HTTP and the bot's "brief" command) and the scope.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from local.host import DevHost
from rapport import runtime, work
from rapport.identity import dev as devauth
from rapport.identity.keys import KeySet
from rapport.records import (
    Account,
    Attendee,
    AuditEvent,
    Contact,
    Interaction,
    IntroRequest,
    Meeting,
    Owner,
    Person,
    Signal,
    Tenant,
    Wall,
    account_id,
    contact_id,
    utcnow,
)
from rapport.relationships import intros
from rapport.store import Store, make_store
from tests.doubles.connector import ConnectorServer
from tests.doubles.identity_server import IdentityServer
from tests.plugins.identity import TENANT_A
from tests.test_bot_auth import BOT_APP_ID, bot_settings
from tests.test_cards import nodes

T = TENANT_A
BEN, CARL, ANNA, MAX, WALT, LEO = (f"{k:02d}{k:02d}0000-1111-4222-8333-44444444444{k}" for k in range(1, 7))
NAMES = {BEN: "Ben Ode", CARL: "Carl Roy", ANNA: "Anna Weber", MAX: "Max Hale", WALT: "Walt Screened",
         LEO: "Leo Gone"}
ACME = account_id("acme.example")
SECRET = "secret@acme.example"
CANARIES = ("CANARYNAME", "CANARYTITLE", "CANARYPHONE", "CANARYACCT", "CANARYSUBJECT")


@dataclass
class World:
    settings: Any
    server: IdentityServer
    connector: ConnectorServer
    store: Store
    host: DevHost
    http: aiohttp.ClientSession

    def auth(self, oid: str) -> dict[str, str]:
        tok = devauth.mint_dev_token(self.settings, T, oid, name=NAMES[oid], upn=f"{oid[:4]}@firm.test")
        return {"Authorization": f"Bearer {tok}"}

    async def get(self, path: str, oid: str, **params: str) -> tuple[int, Any]:
        async with self.http.get(self.host.base_url + path, params=params, headers=self.auth(oid)) as r:
            return r.status, await r.json()

    async def post(self, path: str, oid: str, body: dict[str, Any]) -> tuple[int, Any]:
        async with self.http.post(self.host.base_url + path, json=body, headers=self.auth(oid)) as r:
            return r.status, await r.json()

    def activity(self, oid: str, **extra: Any) -> dict[str, Any]:
        a: dict[str, Any] = {
            "type": "message", "id": uuid.uuid4().hex, "channelId": "msteams", "serviceUrl": self.connector.base_url,
            "from": {"id": f"29:{oid[:8]}", "name": NAMES[oid], "aadObjectId": oid},
            "recipient": {"id": f"28:{BOT_APP_ID}", "name": "Rapport"},
            "conversation": {"id": f"a:chat-{oid[:8]}", "conversationType": "personal", "tenantId": T},
            "channelData": {"tenant": {"id": T}}, "text": "hello",
        }
        a.update(extra)
        return a

    async def bot(self, activity: dict[str, Any]) -> tuple[int, Any]:
        token = self.server.bot_token(BOT_APP_ID, self.connector.base_url)
        async with self.http.post(self.host.base_url + "/api/messages", json=activity,
                                  headers={"Authorization": f"Bearer {token}"}) as r:
            return r.status, (await r.json() if r.content_type == "application/json" else await r.text())

    async def invoke(self, oid: str, verb: str, data: dict[str, Any]) -> dict[str, Any]:
        status, body = await self.bot(self.activity(oid, type="invoke", name="adaptiveCard/action", text=None, value={
            "action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"}))
        assert status == 200, body
        return body

    def cards_to(self, oid: str) -> list[dict[str, Any]]:
        out = []
        for s in self.connector.sent:
            if s.conversation_id != f"a:chat-{oid[:8]}":
                continue
            for att in s.activity.get("attachments") or []:
                if att.get("contentType") == "application/vnd.microsoft.card.adaptive":
                    out.append(att["content"])
        return out

    def texts_to(self, oid: str) -> str:
        return json.dumps([s.activity for s in self.connector.sent if s.conversation_id == f"a:chat-{oid[:8]}"])


def texts(card: dict[str, Any]) -> str:
    return " ".join(str(n.get("text", "")) for n in nodes(card) if isinstance(n, dict))


def verbs_of(card: dict[str, Any]) -> list[str]:
    return [n["verb"] for n in nodes(card) if isinstance(n, dict) and n.get("type") == "Action.Execute"
            and n is not card.get("refresh", {}).get("action")]


async def seed(store: Store) -> None:
    await store.put_tenant(Tenant(id=T, tenantId=T, name="Firm", domains=["firm.test"]))
    for oid, name in NAMES.items():
        role = "managing_partner" if oid == MAX else "partner"
        team = {BEN: "ip", CARL: "ip", WALT: "ip", ANNA: "lit"}.get(oid, "")
        await store.put(Person(id=oid, tenantId=T, oid=oid, upn=f"{oid[:4]}@firm.test", name=name, role=role,
                               team=team, enabled=oid != LEO))
    await store.put(Account.new(T, "acme.example", name="CANARYACCT Acme"))
    await store.put(Contact.new(T, SECRET, name="Sam CANARYNAME", title="CANARYTITLE", phone="CANARYPHONE",
                                accountId=ACME, owners=[Owner(oid=BEN, name="Ben Ode", visibility="private"),
                                                        Owner(oid=CARL, name="Carl Roy", visibility="private")]))
    await store.put(Interaction(id="ix-secret", tenantId=T, channel="email", at=utcnow() - timedelta(days=2),
                                subject="CANARYSUBJECT renewal", direction="inbound", ownerOid=BEN,
                                contactIds=[contact_id(SECRET)], accountIds=[ACME]))
    await store.put(Wall(id="w1", tenantId=T, accountIds=[ACME], screenedOids=[WALT]))


@pytest.fixture
async def world(identity_server: IdentityServer, tmp_path) -> AsyncIterator[World]:
    connector = await ConnectorServer().start()
    settings = bot_settings(identity_server, tmp_path, RAPPORT_DEV_AUTH="1")
    store = make_store(settings)
    await store.open()
    await seed(store)
    try:
        with runtime.override(bot_keys=KeySet(settings.bot_openid_metadata)):
            host = await DevHost(settings, store=store).start()
            try:
                async with aiohttp.ClientSession() as http:
                    w = World(settings, identity_server, connector, store, host, http)
                    for oid in (BEN, CARL, ANNA, MAX):  # each has talked to the bot once (proactive cards)
                        status, _ = await w.bot(w.activity(oid))
                        assert status == 200
                    yield w
            finally:
                await settle()
                await host.stop()
    finally:
        await connector.stop()
        await store.close()


async def settle() -> None:
    import asyncio

    while work.kicks():
        await asyncio.gather(*work.kicks(), return_exceptions=True)


async def drain(w: World) -> None:
    await settle()
    await work.drain(w.store)


async def test_introduction_end_to_end_over_http_and_bot_invokes(world):
    w = world
    # Anna sees only that Ben and Carl know them, and the button
    status, ctx = await w.get("/api/addin/context", ANNA, email=SECRET)
    assert status == 200 and ctx["status"] == "restricted" and ctx["canAskIntro"]
    assert "askIntro" in verbs_of(ctx["card"])
    # Walt is walled from Acme: the same as an unknown sender, no button, and the request is a 404
    status, walled = await w.get("/api/addin/context", WALT, email=SECRET)
    assert walled["status"] == "unknown" and "askIntro" not in verbs_of(walled["card"])
    status, body = await w.post("/api/addin/intro", WALT, {"email": SECRET, "reason": "x"})
    assert status == 404 and "correlationId" in json.dumps(body)

    status, asked = await w.post("/api/addin/intro", ANNA, {"email": SECRET, "reason": "Japan filing question"})
    assert status == 201 and asked["state"] == "open" and not asked["folded"]
    status, again = await w.post("/api/addin/intro", ANNA, {"email": SECRET, "reason": "again"})
    assert status == 200 and again["folded"] and again["requestId"] == asked["requestId"] and again["asks"] == 2
    await drain(w)
    # each owner got one card: who asks, why, for whom; share / introduce / decline (with a reason box)
    for owner in (BEN, CARL):
        [card] = w.cards_to(owner)
        assert "Anna Weber" in texts(card) and "Japan filing question" in texts(card)
        assert "Sam CANARYNAME" in texts(card)  # the owner sees their own contact
        assert verbs_of(card) == ["intro.share", "intro.introduce", "intro.decline"]
        assert all(set(a["data"]) == {"requestId"} for a in nodes(card) if isinstance(a, dict)
                   and a.get("type") == "Action.Execute")
    # nothing about the contact has reached Anna (answers, sidebar, chat)
    seen_by_anna = json.dumps([asked, again, ctx]) + w.texts_to(ANNA)
    assert not [c for c in CANARIES if c in seen_by_anna]

    rid = asked["requestId"]
    # Anna cannot answer her own request, nor can Max (not routed to him): the same 404 as a bad id
    for oid in (ANNA, MAX):
        assert (await w.invoke(oid, "intro.share", {"requestId": rid}))["statusCode"] == 404
    assert (await w.invoke(BEN, "intro.share", {"requestId": "ir_nope"}))["statusCode"] == 404
    # Carl declines without a reason: asked for one, nothing changes
    body = await w.invoke(CARL, "intro.decline", {"requestId": rid, "reason": ""})
    assert "Say why you decline" in texts(body["value"]) and "intro.decline" in verbs_of(body["value"])
    # Ben shares; the card comes back answered, without choices
    body = await w.invoke(BEN, "intro.share", {"requestId": rid})
    assert body["type"] == "application/vnd.microsoft.card.adaptive"
    assert "Introduction accepted" in texts(body["value"]) and verbs_of(body["value"]) == []
    # Carl's late decline: "already answered", still accepted; his refresh shows Ben's answer
    body = await w.invoke(CARL, "intro.decline", {"requestId": rid, "reason": "no"})
    assert "already answered" in texts(body["value"]) and "Ben Ode" in texts(body["value"])
    body = await w.invoke(CARL, "intro.refresh", {"requestId": rid})
    assert "shared the contact" in texts(body["value"])
    await drain(w)
    [outcome] = [c for c in w.cards_to(ANNA) if "Introduction" in texts(c)]
    assert "Introduction accepted" in texts(outcome) and "Ben Ode" in texts(outcome)
    # now, and only now, Anna sees the contact; Ben's own history with them stays Ben's
    status, ctx = await w.get("/api/addin/context", ANNA, email=SECRET)
    assert ctx["status"] == "known" and ctx["contact"]["name"] == "Sam CANARYNAME"
    assert "CANARYSUBJECT" not in json.dumps(ctx)
    # shared with Anna, not passed on by her: no control, and the route refuses
    assert ctx["yourVisibility"] is None and "setVisibility" not in verbs_of(ctx["card"])
    status, body = await w.post("/api/addin/visibility", ANNA, {"email": SECRET, "visibility": "firm"})
    assert status == 403 and "introduction" in body["error"]["message"]
    req = await w.store.get(IntroRequest, T, rid)
    assert req.state == "accepted" and req.answeredBy == BEN and req.asks == 2
    actions = sorted(e.action for e in await w.store.find_all(AuditEvent, T) if e.action.startswith("intro."))
    assert actions == ["intro.accepted", "intro.folded", "intro.requested"]


async def test_decline_and_the_leavers_contact_reach_the_managing_partner_with_one_reminder(world):
    w = world
    await w.store.put(Contact.new(T, "gone@beta.example", name="Gil CANARYNAME", owners=[
        Owner(oid=LEO, name="Leo Gone", visibility="private")]))
    status, asked = await w.post("/api/addin/intro", ANNA, {"email": "gone@beta.example", "reason": "Leo's old client"})
    assert status == 201
    await drain(w)
    [card] = w.cards_to(MAX)
    assert "who has left the firm" in texts(card) and "Leo Gone" in texts(card)
    # three working days later (injected clock): one reminder, whatever the timer does after
    from rapport.relationships import timer_pass

    created = (await w.store.get(IntroRequest, T, asked["requestId"])).createdAt
    due = intros.working_days_after(created, 3)
    assert (await timer_pass(w.store, due - timedelta(minutes=1), kick=False))["reminders"] == 0
    assert (await timer_pass(w.store, due, kick=False))["reminders"] == 1
    assert (await timer_pass(w.store, due + timedelta(days=5), kick=False))["reminders"] == 0
    await drain(w)
    cards = w.cards_to(MAX)
    assert len(cards) == 2 and "Reminder" in texts(cards[1])
    body = await w.invoke(MAX, "intro.decline", {"requestId": asked["requestId"],
                                                 "reason": "The client asked for discretion"})
    assert "Introduction declined" in texts(body["value"])
    await drain(w)
    [outcome] = [c for c in w.cards_to(ANNA) if "Introduction" in texts(c)]
    assert "declined" in texts(outcome) and "The client asked for discretion" in texts(outcome)
    assert "CANARYNAME" not in w.texts_to(ANNA)
    assert {e.action for e in await w.store.find_all(AuditEvent, T)} >= {
        "intro.requested", "intro.reminded", "intro.declined"}


async def test_a_visibility_change_is_seen_by_every_surface_at_once(world):
    w = world
    jane = "jane@acme.example"
    await w.store.put(Contact.new(T, jane, name="Jane Doe", accountId=ACME, owners=[
        Owner(oid=BEN, name="Ben Ode", visibility="firm")]))
    await w.store.put(Interaction(id="ix-jane", tenantId=T, channel="email", at=utcnow() - timedelta(days=1),
                                  subject="VISCANARY trade mark", direction="outbound", ownerOid=BEN,
                                  contactIds=[contact_id(jane)], accountIds=[ACME]))
    start = utcnow() + timedelta(days=1)
    meeting = Meeting(id=Meeting.id_for(ANNA, "ev-1"), tenantId=T, eventId="ev-1", organizerOid=ANNA,
                      organizerEmail=f"{ANNA[:4]}@firm.test", subject="Portfolio", start=start,
                      end=start + timedelta(hours=1), attendees=[Attendee(email=jane, name="Jane Doe")],
                      contactIds=[contact_id(jane)], accountIds=[ACME])
    await w.store.put(meeting)

    async def surfaces(oid: str) -> dict[str, str]:
        _, ctx = await w.get("/api/addin/context", oid, email=jane)
        _, brief = await w.get("/api/addin/brief", oid, eventId="ev-1")
        before = len(w.connector.sent)
        await w.bot(w.activity(oid, text="brief Jane"))
        bot = json.dumps([s.activity for s in w.connector.sent[before:]])
        return {"sidebar": json.dumps(ctx), "brief": json.dumps(brief), "bot": bot, "status": ctx["status"]}

    before = await surfaces(ANNA)
    assert before["status"] == "known", before
    assert [k for k in ("sidebar", "brief", "bot") if "VISCANARY" not in before[k]] == [], before
    # Ben sees his own control; Anna (not an owner) has none and is refused
    _, ben_ctx = await w.get("/api/addin/context", BEN, email=jane)
    assert ben_ctx["yourVisibility"] == "firm" and "setVisibility" in verbs_of(ben_ctx["card"])
    assert "setVisibility" not in verbs_of(json.loads(before["sidebar"])["card"])
    status, body = await w.post("/api/addin/visibility", ANNA, {"email": jane, "visibility": "private"})
    assert status == 403
    status, _ = await w.post("/api/addin/visibility", WALT, {"email": jane, "visibility": "private"})
    assert status == 404
    status, body = await w.post("/api/addin/visibility", BEN, {"email": jane, "visibility": "everyone"})
    assert status == 400 and "private, team, firm" in body["error"]["message"]

    status, body = await w.post("/api/addin/visibility", BEN, {"email": jane, "visibility": "private"})
    assert status == 200 and body == {"email": jane, "visibility": "private", "previous": "firm"}
    after = await surfaces(ANNA)
    assert after["status"] == "restricted"
    assert not [k for k in ("sidebar", "brief", "bot") if "VISCANARY" in after[k]]
    assert "Ben Ode" in after["sidebar"]  # who to ask, and nothing else
    # team: Carl (Ben's team) sees it at once, Anna (another team) still does not
    await w.post("/api/addin/visibility", BEN, {"email": jane, "visibility": "team"})
    assert (await surfaces(CARL))["status"] == "known" and (await surfaces(ANNA))["status"] == "restricted"
    changes = await w.store.find_all(AuditEvent, T, key="action:visibility.changed")
    assert sorted((e.details["from"], e.details["to"]) for e in changes) == [("firm", "private"), ("private", "team")]


# --- the asker learns nothing about the contact before an acceptance (canary property test) ---------

_n = iter(range(10_000))
canary = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ", min_size=6, max_size=10).map(lambda s: f"CNY{s}")


@given(name=canary, title=canary, phone=canary, account=canary, subject=canary, reason=st.text(max_size=40),
       decision=st.sampled_from(["decline", "introduce", "share", None]))
@hsettings(max_examples=12, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
async def test_nothing_about_the_contact_reaches_the_asker_before_acceptance(world, name, title, phone, account,
                                                                            subject, reason, decision):
    w = world
    k = next(_n)
    domain = f"client{k}.example"
    email = f"person{k}@{domain}"
    await w.store.put(Account.new(T, domain, name=account))
    await w.store.put(Contact.new(T, email, name=f"Pat {name}", title=title, phone=phone,
                                  accountId=account_id(domain),
                                  owners=[Owner(oid=BEN, name="Ben Ode", visibility="private")]))
    await w.store.put(Interaction(id=f"ix-{k}", tenantId=T, channel="email", at=utcnow() - timedelta(days=1),
                                  subject=subject, direction="inbound", ownerOid=BEN, contactIds=[contact_id(email)],
                                  accountIds=[account_id(domain)]))
    mark = len(w.connector.sent)
    seen: list[Any] = []
    seen.append((await w.get("/api/addin/context", ANNA, email=email))[1])
    seen.append((await w.post("/api/addin/intro", ANNA, {"email": email, "reason": reason}))[1])
    seen.append((await w.post("/api/addin/intro", ANNA, {"email": email, "reason": reason}))[1])
    await drain(w)
    rid = seen[1]["requestId"]
    if decision is not None:
        await w.invoke(BEN, f"intro.{decision}", {"requestId": rid, "reason": "not now"})
        await drain(w)
    seen.append((await w.get("/api/addin/context", ANNA, email=email))[1])
    chat = json.dumps([s.activity for s in w.connector.sent[mark:] if s.conversation_id == f"a:chat-{ANNA[:8]}"])
    text = json.dumps(seen) + chat
    # Before (or without) an acceptance: nothing of the contact; after sharing: never the owner's history.
    hidden = [subject] if decision == "share" else [name, title, phone, account, subject]
    assert not [c for c in hidden if c in text], (decision, [c for c in hidden if c in text])
    if decision == "share":  # after acceptance the asker does see the contact (a test that can fail)
        assert name in text and title in text
        assert subject not in text  # but never the owner's own history


_ = (datetime, UTC)


async def test_a_move_card_in_teams_and_not_a_move_through_a_bot_invoke(world):
    w = world
    old, new = "jo@oldco.example", "jo@newco.example"
    for email, domain in ((old, "oldco.example"), (new, "newco.example")):
        await w.store.put(Account.new(T, domain, name=domain.split(".")[0].title()))
        await w.store.put(Contact.new(T, email, name="Jo Mover", accountId=account_id(domain),
                                      firstSeen=utcnow() - timedelta(days=60 if email == old else 1),
                                      owners=[Owner(oid=BEN, name="Ben Ode", visibility="firm")]))
    signal = Signal(id="sg-jo", tenantId=T, contactId=contact_id(new), fromValue=old, toValue=new,
                    accountIds=[account_id("newco.example"), account_id("oldco.example")],
                    summary="Jo Mover now writes from newco.example", at=utcnow() - timedelta(days=1))
    await w.store.put(signal)
    from rapport.relationships import timer_pass

    assert (await timer_pass(w.store, kick=False))["moves"] == 1
    await drain(w)
    cards = w.cards_to(BEN)
    move = next(c for c in cards if "Counsel move" in texts(c))
    assert "Jo Mover" in texts(move) and "Oldco" in texts(move) and "Newco" in texts(move)
    assert any("Follow-up to approve" in texts(c) and "Congratulations" in texts(c) for c in cards)
    data = next(a["data"] for a in nodes(move) if isinstance(a, dict) and a.get("verb") == "move.dismiss")
    assert (await w.invoke(ANNA, "move.dismiss", data))["statusCode"] == 404  # not hers: as if none
    body = await w.invoke(BEN, "move.dismiss", data)
    assert "Not a move" in texts(body["value"]) and verbs_of(body["value"]) == []
    body = await w.invoke(BEN, "move.refresh", data)
    assert "Rapport will not raise this move again" in texts(body["value"])
    assert (await timer_pass(w.store, kick=False))["moves"] == 0
