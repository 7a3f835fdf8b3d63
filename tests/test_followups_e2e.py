"""The whole follow-up loop over HTTP, on function_app's real triggers (DevHost on 127.0.0.1):

meeting ends -> the follow-ups timer -> the drain drafts and posts the card to the partner's chat
(Bot Connector stand-in) -> the partner's approve invoke at POST /api/messages, with a Bot
Framework token minted by the identity stand-in -> the invoke answers at once with the card ->
the drain sends one mail (Graph mail stand-in, or the local outbox on the embedded default) ->
the card in the chat is updated to "Sent".
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

import function_app
from local.host import DevHost, functions
from rapport import followups, runtime, work
from rapport.drafting import make_drafter
from rapport.followups import sending
from rapport.graph import GraphClient
from rapport.identity.keys import KeySet
from rapport.records import AuditEvent, Draft, OutboxItem, Person, Tenant, utcnow
from rapport.settings import Settings, load_settings
from rapport.store.base import Store
from rapport.store.sqlite import SqliteBackend
from tests.doubles.connector import ConnectorServer
from tests.doubles.graph_mail import GraphMailStandIn
from tests.doubles.identity_server import IdentityServer
from tests.plugins.graph import FakeGraphTokens
from tests.test_cards import nodes  # the one card walker
from tests.test_followups import OTHER, OWNER, TENANT, TENANT_B, card_texts, meeting_for, seed, settle

BOT_APP_ID = "b0b0b0b0-1111-4222-8333-444444444444"


def trigger(name: str):
    for f in functions(function_app.app):
        if f.get_function_name() == name:
            return f.get_user_function()
    raise LookupError(name)


class _Timer:
    past_due = False


@dataclass
class Loop:
    settings: Settings
    identity: IdentityServer
    connector: ConnectorServer
    graph: GraphMailStandIn
    store: Store
    host: DevHost
    http: aiohttp.ClientSession

    def activity(self, oid: str = OWNER, tenant: str = TENANT, **extra: Any) -> dict[str, Any]:
        a: dict[str, Any] = {
            "type": "message", "id": uuid.uuid4().hex, "channelId": "msteams", "serviceUrl": self.connector.base_url,
            "from": {"id": f"29:{oid[:8]}", "name": "Someone", "aadObjectId": oid},
            "recipient": {"id": f"28:{BOT_APP_ID}", "name": "Rapport"},
            "conversation": {"id": f"a:chat-{oid[:8]}", "conversationType": "personal", "tenantId": tenant},
            "channelData": {"tenant": {"id": tenant}}, "text": "hello",
        }
        a.update(extra)
        return a

    def invoke(self, verb: str, data: dict[str, Any], **kw: Any) -> dict[str, Any]:
        return self.activity(type="invoke", name="adaptiveCard/action", text=None,
                             value={"action": {"type": "Action.Execute", "verb": verb, "data": data},
                                    "trigger": "manual"}, **kw)

    async def post(self, activity: dict[str, Any]) -> tuple[int, Any]:
        token = self.identity.bot_token(BOT_APP_ID, self.connector.base_url)
        async with self.http.post(self.host.base_url + "/api/messages", json=activity,
                                  headers={"Authorization": f"Bearer {token}"}) as resp:
            body = await resp.json() if resp.content_type == "application/json" else await resp.text()
            return resp.status, body

    def cards(self) -> list[tuple[str, dict[str, Any]]]:
        """(method, card) for every card the bot posted or updated in a chat, in order."""
        out = []
        for s in self.connector.sent:
            for att in s.activity.get("attachments") or []:
                if att.get("contentType") == "application/vnd.microsoft.card.adaptive":
                    out.append((s.method, att["content"]))
        return out


@pytest.fixture(params=["graph", "local"])
async def loop(request, identity_server: IdentityServer, tmp_path) -> AsyncIterator[Loop]:
    connector = await ConnectorServer().start()
    graph = await GraphMailStandIn().start()
    graph.add_mailbox(TENANT, OWNER)
    path = str(tmp_path / "e2e.db")
    settings = load_settings({
        "RAPPORT_SQLITE_PATH": path, "ENTRA_AUTHORITY_HOST": identity_server.base_url,
        "BotOpenIdMetadata": identity_server.bot_metadata_url, "MicrosoftAppId": BOT_APP_ID,
        "MicrosoftAppPassword": "bot-secret", "MicrosoftAppType": "SingleTenant", "MicrosoftAppTenantId": TENANT,
        "RAPPORT_ALLOWED_TENANTS": f"{TENANT},{TENANT_B}",
    })
    store = await Store(SqliteBackend(path)).open()
    meeting = await seed(store)
    await store.delete(type(meeting), TENANT, meeting.id)  # this test's meeting ends in real time, below
    await store.put(Person(id=B_PARTNER, tenantId=TENANT_B, oid=B_PARTNER, upn="bo@b.test", name="Bo B"))
    await store.put_tenant(Tenant(id=TENANT_B, tenantId=TENANT_B, name="Firm B", domains=["b.test"]))
    client = None
    if request.param == "graph":
        client = GraphClient(graph.base_url, FakeGraphTokens(), max_attempts=1, timeout=5.0)
        transport: sending.MailTransport = sending.GraphMailTransport(client)
    else:
        transport = sending.LocalOutboxTransport()
    services = runtime.override(mail_transport=transport, send_limiter=sending.RateLimiter(),
                                drafter=make_drafter(settings), bot_keys=KeySet(settings.bot_openid_metadata))
    try:
        with services:
            host = await DevHost(settings, store=store).start()
            try:
                async with aiohttp.ClientSession() as http:
                    yield Loop(settings, identity_server, connector, graph, store, host, http)
            finally:
                await settle()
                await host.stop()
    finally:
        if client is not None:
            await client.close()
        await graph.stop()
        await connector.stop()
        await store.close()


B_PARTNER = "0c0c0c0c-1111-4222-8333-444444444444"


async def mails(loop: Loop) -> list[Any]:
    if sending.mail_transport().name == "graph":
        return loop.graph.sent
    page = await loop.store.find(OutboxItem, TENANT, limit=100)
    return [i for i in page.items if i.channel == "mail"]


async def test_meeting_to_sent_mail_over_http(loop):
    # the partner has talked to the bot once: Rapport keeps the chat's reference for proactive cards
    status, _ = await loop.post(loop.activity())
    assert status == 200
    assert (await loop.store.get_person(TENANT, OWNER)).conversationRef is not None
    # a meeting with two outsiders ended an hour ago; the follow-ups timer and the drain run
    meeting = meeting_for(TENANT, OWNER, utcnow() - timedelta(hours=1), event="e2e")
    await loop.store.put(meeting)
    await trigger("followups_timer")(_Timer())
    await settle()
    await work.drain(loop.store)
    cards = loop.cards()
    assert len(cards) == 1 and cards[0][0] == "POST"
    card = cards[0][1]
    assert "jane@acme.example, bob@acme.example" in " ".join(card_texts(card))
    approve = next(a for a in card["actions"] if a["verb"] == "followup.approve")
    assert approve["type"] == "Action.Execute" and set(approve["data"]) == {"draftId", "version"}
    assert await mails(loop) == []

    # approve over HTTP: the card comes back at once, approved; the send happens after the answer
    status, body = await loop.post(loop.invoke("followup.approve", approve["data"]))
    assert status == 200, body
    assert body["statusCode"] == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    assert "Approved" in " ".join(card_texts(body["value"])) and "actions" not in body["value"]
    await settle()
    await work.drain(loop.store)
    sent = await mails(loop)
    assert len(sent) == 1
    d = await loop.store.get(Draft, TENANT, approve["data"]["draftId"])
    assert d.state == "sent"
    # the card in the chat was updated in place and shows "Sent"
    method, last = loop.cards()[-1]
    assert method == "PUT" and "Sent" in " ".join(card_texts(last))
    assert loop.connector.sent[-1].reply_to == d.cardActivityId

    # a double click later: the same card, still one mail
    status, body = await loop.post(loop.invoke("followup.approve", approve["data"]))
    assert body["statusCode"] == 200 and "Sent" in " ".join(card_texts(body["value"]))
    await settle()
    await work.drain(loop.store)
    assert len(await mails(loop)) == 1

    # the refresh any viewer's Teams client makes shows the same state
    status, body = await loop.post(loop.invoke("followup.refresh", approve["data"]))
    assert "Sent" in " ".join(card_texts(body["value"]))


async def test_other_partner_and_other_tenant_over_http(loop):
    meeting = meeting_for(TENANT, OWNER, utcnow() - timedelta(hours=1), event="e2e-2")
    await loop.store.put(meeting)
    await followups.timer_pass(loop.store, kick=False)
    await work.drain(loop.store)
    did = followups.draft_id_for(meeting.id, OWNER)
    data = {"draftId": did, "version": 1}
    await loop.store.put(Person(id=OTHER, tenantId=TENANT, oid=OTHER, upn="otto@firm.test", name="Otto Other"))
    status, body = await loop.post(loop.invoke("followup.approve", data, oid=OTHER))
    # A colleague's draft is not theirs to see: the same 404 as another tenant's (scoped store rule).
    assert status == 200 and body["statusCode"] == 404 and body["type"] == "application/vnd.microsoft.error"
    status, body = await loop.post(loop.invoke("followup.approve", data, oid=B_PARTNER, tenant=TENANT_B))
    assert body["statusCode"] == 404
    status, body = await loop.post(loop.invoke("followup.approve", {"draftId": did, "version": 1, "tenantId": TENANT},
                                               oid=B_PARTNER, tenant=TENANT_B))
    assert body["statusCode"] == 404  # a tenant in the card's data changes nothing
    status, body = await loop.post(loop.invoke("no.such.verb", data))
    assert body["statusCode"] == 400
    await settle()
    await work.drain(loop.store)
    assert (await loop.store.get(Draft, TENANT, did)).state == "drafted"
    assert await mails(loop) == []


async def test_edit_then_stale_approve_over_http(loop):
    meeting = meeting_for(TENANT, OWNER, utcnow() - timedelta(hours=1), event="e2e-3")
    await loop.store.put(meeting)
    await followups.timer_pass(loop.store, kick=False)
    await work.drain(loop.store)
    did = followups.draft_id_for(meeting.id, OWNER)
    status, body = await loop.post(loop.invoke("followup.edit", {"draftId": did, "version": 1}))
    inputs = [i["id"] for i in nodes(body["value"]) if str(i.get("type", "")).startswith("Input.")]
    assert inputs == ["to", "cc", "subject", "body"]
    status, body = await loop.post(loop.invoke("followup.save", {"draftId": did, "version": 1, "subject": "Thanks",
                                                                 "body": "Dear Jane,\n\nThanks.\n\nAda"}))
    assert "Saved as version 2." in card_texts(body["value"])
    status, body = await loop.post(loop.invoke("followup.approve", {"draftId": did, "version": 1}))
    texts = card_texts(body["value"])
    assert any("version 2" in t for t in texts)
    assert [a["data"]["version"] for a in body["value"]["actions"]] == [2] * 5
    await settle()
    await work.drain(loop.store)
    assert await mails(loop) == []


async def test_my_followups_and_follow_up_name_commands(loop):
    await loop.post(loop.activity())
    meeting = meeting_for(TENANT, OWNER, utcnow() - timedelta(hours=1), event="e2e-4")
    await loop.store.put(meeting)
    before = len(loop.connector.sent)
    await loop.post(loop.activity(text="follow up Jane"))
    assert "Drafting the follow-up" in loop.connector.sent[before].text
    await settle()
    await work.drain(loop.store)
    assert len(loop.cards()) == 1  # the card arrived proactively
    before = len(loop.connector.sent)
    await loop.post(loop.activity(text="my follow-ups"))
    replies = loop.connector.sent[before:]
    assert replies[0].text.startswith("1 follow-up waiting")
    assert len(loop.cards()) == 2
    await loop.post(loop.activity(text="follow up nobody-at-all"))
    assert "found no meeting" in loop.connector.sent[-1].text


async def test_two_concurrent_approve_invokes_send_once(loop):
    import asyncio

    meeting = meeting_for(TENANT, OWNER, utcnow() - timedelta(hours=1), event="e2e-5")
    await loop.store.put(meeting)
    await followups.timer_pass(loop.store, kick=False)
    await work.drain(loop.store)
    data = {"draftId": followups.draft_id_for(meeting.id, OWNER), "version": 1}
    # One call first: rapport.identity.keys.KeySet answers concurrent *cold* requests with 503 while
    # the first fetch of the channel keys is in flight (reported to its owner); warm is what counts here.
    assert (await loop.post(loop.invoke("followup.refresh", data)))[0] == 200
    answers = await asyncio.gather(*(loop.post(loop.invoke("followup.approve", data)) for _ in range(4)))
    assert all(status == 200 and body["statusCode"] == 200 for status, body in answers), answers
    await settle()
    await work.drain(loop.store)
    assert len(await mails(loop)) == 1
    assert (await loop.store.get(Draft, TENANT, data["draftId"])).state == "sent"


# --- "Save and approve": the edited text as a new version, exactly that version sent, in one click -------

EDITED_SUBJECT = "Thank you, Jane"
EDITED_BODY = "Dear Jane,\n\nThank you for today; the search results follow this week.\n\nAda"


def mail_text(m: Any) -> tuple[str, str]:
    """(subject, body) of a mail as it left: a Graph message or a local outbox item."""
    if isinstance(m, dict):
        return m["subject"], m["body"]["content"]
    return m.subject, m.body


async def _pending_draft(loop: Loop, event: str) -> str:
    meeting = meeting_for(TENANT, OWNER, utcnow() - timedelta(hours=1), event=event)
    await loop.store.put(meeting)
    await followups.timer_pass(loop.store, kick=False)
    await work.drain(loop.store)
    return followups.draft_id_for(meeting.id, OWNER)


async def test_edit_then_save_and_approve_sends_the_edited_text_once_over_http(loop):
    assert (await loop.post(loop.activity()))[0] == 200  # the partner's chat: the card is posted there
    did = await _pending_draft(loop, "e2e-save-approve")
    assert [m for m, _ in loop.cards()] == ["POST"]
    status, body = await loop.post(loop.invoke("followup.edit", {"draftId": did, "version": 1}))
    assert status == 200 and body["statusCode"] == 200
    save_approve = next(a for a in body["value"]["actions"] if a["verb"] == "followup.saveApprove")
    assert save_approve["data"] == {"draftId": did, "version": 1} and save_approve["associatedInputs"] == "auto"
    # Teams sends the card's data with the inputs' values merged in; a double click sends it twice at once
    data = {**save_approve["data"], "subject": EDITED_SUBJECT, "body": EDITED_BODY}
    answers = await asyncio.gather(*(loop.post(loop.invoke("followup.saveApprove", data)) for _ in range(3)))
    assert all(status == 200 and b["statusCode"] == 200 for status, b in answers), answers
    texts = [" ".join(card_texts(b["value"])) for _, b in answers]
    assert any("Saved as version 2 and approved." in t for t in texts)
    assert all("Follow-up sending" in t and "version 3" not in t for t in texts)
    assert all("actions" not in b["value"] for _, b in answers)  # nothing left to click
    await settle()
    await work.drain(loop.store)
    sent = await mails(loop)
    assert len(sent) == 1
    subject, text = mail_text(sent[0])
    assert subject == EDITED_SUBJECT and "the search results follow this week" in text
    d = await loop.store.get(Draft, TENANT, did)
    assert d.state == "sent" and d.version == 2 and d.body == EDITED_BODY and d.approvedBy == OWNER
    # the approval's audit event names exactly the version that went out
    events = (await loop.store.find(AuditEvent, TENANT, key="action:followup.approved")).items
    assert [(e.targetId, e.details["version"], e.details["bodySha256"]) for e in events] == [
        (did, 2, followups.body_hash(d))]
    # the card in the chat now says sent
    method, last = loop.cards()[-1]
    assert method == "PUT" and "Follow-up sent" in " ".join(card_texts(last))


async def test_a_recipient_the_meeting_did_not_have_is_refused_on_the_card_over_http(loop):
    did = await _pending_draft(loop, "e2e-recipients")
    status, body = await loop.post(loop.invoke("followup.edit", {"draftId": did, "version": 1}))
    to = next(i for i in nodes(body["value"]) if i.get("id") == "to")
    offered = [c["value"] for c in to["choices"]]
    assert offered and all(not a.endswith("@firm.test") for a in offered)  # the meeting's outside attendees
    data = {"draftId": did, "version": 1, "subject": EDITED_SUBJECT, "body": EDITED_BODY,
            "to": f"{offered[0]},attacker@evil.example", "cc": ""}
    status, body = await loop.post(loop.invoke("followup.saveApprove", data))
    assert status == 200 and body["statusCode"] == 200
    texts = " ".join(card_texts(body["value"]))
    assert "attacker@evil.example was not at this meeting" in texts and "Save and approve" in texts
    assert EDITED_BODY in card_texts(body["value"])  # what the partner wrote is still on the card
    await settle()
    await work.drain(loop.store)
    assert await mails(loop) == [] and (await loop.store.get(Draft, TENANT, did)).version == 1


async def test_a_stale_save_and_approve_sends_nothing_over_http(loop):
    did = await _pending_draft(loop, "e2e-save-approve-stale")
    # someone (the partner in another window, a delegate) saved version 2 meanwhile
    status, body = await loop.post(loop.invoke("followup.save", {"draftId": did, "version": 1, "subject": "Thanks",
                                                                 "body": "Dear Jane,\n\nThanks.\n\nAda"}))
    assert status == 200 and "Saved as version 2." in card_texts(body["value"])
    # the old card's "Save and approve" names version 1: refused, the current card comes back
    status, body = await loop.post(loop.invoke("followup.saveApprove", {
        "draftId": did, "version": 1, "subject": EDITED_SUBJECT, "body": EDITED_BODY}))
    assert status == 200 and body["statusCode"] == 200
    texts = card_texts(body["value"])
    assert "This draft changed since that card; this is version 2." in texts
    assert "Follow-up to approve" in texts
    assert {a["data"]["version"] for a in body["value"]["actions"]} == {2}
    await settle()
    await work.drain(loop.store)
    assert await mails(loop) == []
    d = await loop.store.get(Draft, TENANT, did)
    assert d.state == "drafted" and d.version == 2 and d.subject == "Thanks"  # the stale text was not saved
    assert (await loop.store.find(AuditEvent, TENANT, key="action:followup.approved")).items == []
    # and an empty message is refused with the inputs kept, nothing saved
    status, body = await loop.post(loop.invoke("followup.saveApprove", {"draftId": did, "version": 2,
                                                                        "subject": "Thanks", "body": "  "}))
    assert "Both a subject and a message are needed." in card_texts(body["value"])
    assert any(i.get("type") == "Input.Text" for i in nodes(body["value"]))
    assert (await loop.store.get(Draft, TENANT, did)).version == 2
