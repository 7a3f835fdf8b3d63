"""POST /api/messages: Bot Framework authentication (docs/reliability.md section 1) and the tenant gate.

Requests go through function_app's own trigger (bot_messages) with a func.HttpRequest; tokens are
minted by the identity stand-in (its Bot Framework keys, with endorsements); the bot's replies go
to the connector stand-in (the activity's serviceUrl), authorised by a token msal fetched from the
identity stand-in.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import azure.functions as func
import jwt
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import function_app
from bot import routes
from bot.adapter import BotConfigError, check_bot_settings
from bot.handler import HELP, NOT_ENABLED, NOT_FOR_YOU
from rapport import runtime
from rapport.identity.keys import KeySet
from rapport.records import Person, Tenant
from rapport.settings import Settings, load_settings
from rapport.store import Store, make_store
from tests.doubles.connector import ConnectorServer
from tests.doubles.identity_server import IdentityServer
from tests.doubles.tokens import SigningKey, hs256_with_public_key, unsigned
from tests.plugins.identity import TENANT_A, TENANT_B, TENANT_C, TENANT_X

BOT_APP_ID = "b0b0b0b0-1111-4222-8333-444444444444"
BOT_TENANT = TENANT_A
PARTNER_OID = "0a0a0a0a-1111-4222-8333-444444444444"


def trigger(name: str):
    """The trigger's own function, from the one reader of function_app's triggers (local.host)."""
    from local.host import functions

    for f in functions(function_app.app):
        fn = f.get_user_function()
        if fn.__name__ == name:
            return fn
    raise LookupError(name)


@dataclass
class BotWorld:
    settings: Settings
    server: IdentityServer
    connector: ConnectorServer
    store: Store
    clock: list[float]

    def token(self, **kw: Any) -> str:
        kw.setdefault("service_url", self.connector.base_url)
        return self.server.bot_token(kw.pop("app_id", BOT_APP_ID), kw.pop("service_url"), **kw)

    def activity(self, tenant: str | None = TENANT_A, *, text: str = "hello", kind: str = "message",
                 channel: str = "msteams", service_url: str | None = None, **extra: Any) -> dict[str, Any]:
        a: dict[str, Any] = {
            "type": kind, "id": uuid.uuid4().hex, "channelId": channel,
            "serviceUrl": self.connector.base_url if service_url is None else service_url,
            "from": {"id": "29:partner", "name": "Ada Partner", "aadObjectId": PARTNER_OID},
            "recipient": {"id": f"28:{BOT_APP_ID}", "name": "Rapport"},
            "conversation": {"id": "a:personal-chat", "conversationType": "personal", "tenantId": tenant},
            "channelData": {"tenant": {"id": tenant}} if tenant else {},
            "text": text,
        }
        a.update(extra)
        return a

    async def post(self, activity: dict[str, Any] | bytes, auth: str | None = "valid", *,
                   content_type: str = "application/json") -> func.HttpResponse:
        headers = {"Content-Type": content_type}
        if auth == "valid":
            headers["Authorization"] = f"Bearer {self.token()}"
        elif auth is not None:
            headers["Authorization"] = auth
        body = activity if isinstance(activity, bytes) else json.dumps(activity).encode()
        req = func.HttpRequest("POST", "http://127.0.0.1:7071/api/messages", headers=headers, body=body)
        return await trigger("bot_messages")(req)


def bot_settings(server: IdentityServer, tmp_path, **extra: str) -> Settings:
    env = {
        "RAPPORT_SQLITE_PATH": str(tmp_path / "bot.db"),
        "ENTRA_AUTHORITY_HOST": server.base_url,
        "BotOpenIdMetadata": server.bot_metadata_url,
        "MicrosoftAppId": BOT_APP_ID, "MicrosoftAppPassword": "bot-secret", "MicrosoftAppType": "SingleTenant",
        "MicrosoftAppTenantId": BOT_TENANT,
        "RAPPORT_ALLOWED_TENANTS": TENANT_A,
        **extra,
    }
    return load_settings({k: v for k, v in env.items() if v is not None})


@pytest.fixture
async def bot(identity_server: IdentityServer, tmp_path) -> AsyncIterator[BotWorld]:
    connector = await ConnectorServer().start()
    settings = bot_settings(identity_server, tmp_path)
    store = make_store(settings)
    await store.open()
    await store.put_tenant(Tenant(id=TENANT_B, tenantId=TENANT_B, name="Firm B"))
    await store.put_tenant(Tenant(id=TENANT_C, tenantId=TENANT_C, name="Firm C", allowed=False))
    await store.put(Person(id=PARTNER_OID, tenantId=TENANT_A, oid=PARTNER_OID, upn="ada@a.test", name="Ada Partner"))
    await store.put(Person(id=PARTNER_OID, tenantId=TENANT_B, oid=PARTNER_OID, upn="ada@b.test", name="Ada Partner"))
    clock = [1000.0]
    with runtime.override(settings=settings, store=store,
                          bot_keys=KeySet(settings.bot_openid_metadata, clock=lambda: clock[0])):
        try:
            yield BotWorld(settings, identity_server, connector, store, clock)
        finally:
            await connector.stop()
            await store.close()


def refused(resp: func.HttpResponse, status: int = 403) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_body()
    body = json.loads(resp.get_body())
    assert body["error"]["correlationId"]
    return body


# --- the happy path --------------------------------------------------------------------------------

async def test_authenticated_message_gets_help_and_reply_carries_bot_token(bot):
    resp = await bot.post(bot.activity())
    assert resp.status_code == 200, resp.get_body()
    assert [s.text for s in bot.connector.sent] == [HELP]
    sent = bot.connector.sent[0]
    assert sent.conversation_id == "a:personal-chat"
    # the bot's outbound token was issued by the stand-in to the bot's app, for the connector
    token = sent.authorization.split(" ", 1)[1]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["appid"] == BOT_APP_ID and claims["tid"] == BOT_TENANT
    assert bot.server.token_requests[-1]["scope"] == "https://api.botframework.com/.default"


async def test_conversation_reference_stored_on_first_message(bot):
    await bot.post(bot.activity())
    person = await bot.store.get(Person, TENANT_A, PARTNER_OID)
    assert person.conversationRef["conversation"]["id"] == "a:personal-chat"
    assert person.conversationRef["serviceUrl"] == bot.connector.base_url


async def test_install_sends_welcome_and_stores_reference(bot):
    resp = await bot.post(bot.activity(kind="installationUpdate", action="add", text=None))
    assert resp.status_code == 200
    # The welcome is a card now (issue 14: the commands and a "My follow-ups" button; tests/test_bot_help.py)
    sent = bot.connector.sent
    assert sent and sent[0].activity["attachments"][0]["content"]["fallbackText"].startswith("Hello")
    assert (await bot.store.get(Person, TENANT_A, PARTNER_OID)).conversationRef is not None


async def test_onboarded_tenant_record_allowed(bot):
    assert (await bot.post(bot.activity(TENANT_B))).status_code == 200
    assert [s.text for s in bot.connector.sent] == [HELP]


# --- A1-A9 ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("auth", [None, "Basic Ym90OnB3", "Bearer", "Bearer not-a-jwt"])
async def test_a1_no_or_non_bearer_auth_403_nothing_sent(bot, auth):
    refused(await bot.post(bot.activity(), auth))
    assert bot.connector.sent == []
    assert (await bot.store.get(Person, TENANT_A, PARTNER_OID)).conversationRef is None


async def test_a2_alg_none_and_hs256_confusion(bot):
    claims = jwt.decode(bot.token(), options={"verify_signature": False})
    refused(await bot.post(bot.activity(), f"Bearer {unsigned(claims, bot.server.bot_key.kid)}"))
    refused(await bot.post(bot.activity(), f"Bearer {hs256_with_public_key(claims, bot.server.bot_key)}"))
    assert bot.connector.sent == []


async def test_a3_unknown_kid_one_refresh_then_403(bot):
    assert (await bot.post(bot.activity())).status_code == 200
    before = bot.server.hits["bot-keys"]
    bot.clock[0] += 301
    stranger = SigningKey.generate("stranger", ["msteams"])
    refused(await bot.post(bot.activity(), f"Bearer {bot.token(key=stranger)}"))
    assert bot.server.hits["bot-keys"] == before + 1
    refused(await bot.post(bot.activity(), f"Bearer {bot.token(key=SigningKey('other', stranger.private, ['msteams']))}"))
    assert bot.server.hits["bot-keys"] == before + 1  # rate-limited


async def test_rotated_channel_key_accepted(bot):
    assert (await bot.post(bot.activity())).status_code == 200
    new = SigningKey.generate("bot-2", ["msteams"])
    bot.server.bot_keys = [new]
    bot.clock[0] += 301
    assert (await bot.post(bot.activity(), f"Bearer {bot.token(key=new)}")).status_code == 200


@pytest.mark.parametrize("iss", [
    "https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/",  # emulator v1
    "https://login.microsoftonline.com/d6d49420-f39b-4df7-a1dc-d59a935871db/v2.0",  # emulator v2
    f"https://login.microsoftonline.com/{TENANT_A}/v2.0",  # an Entra token
    "https://api.botframework.com.evil.test",
])
async def test_a4_entra_or_emulator_issuer_403(bot, iss):
    token = bot.token(iss=iss, appid=BOT_APP_ID, azp=BOT_APP_ID, ver="1.0")
    refused(await bot.post(bot.activity(), f"Bearer {token}"))
    assert bot.connector.sent == []


async def test_a5_another_bots_audience_403(bot):
    refused(await bot.post(bot.activity(), f"Bearer {bot.token(app_id='99999999-1111-4222-8333-444444444444')}"))
    assert bot.connector.sent == []


@pytest.mark.parametrize(("offset", "ok"), [(-3600 - 360, False), (-3600 - 240, True), (360, False), (240, True)])
async def test_a6_skew(bot, offset, ok):
    resp = await bot.post(bot.activity(), f"Bearer {bot.token(offset=offset)}")
    assert (resp.status_code == 200) is ok, resp.get_body()


async def test_a7_service_url_claim_mismatch_no_outbound_call(bot, identity_server):
    other = await ConnectorServer().start()
    try:
        token = bot.token(service_url=bot.connector.base_url)
        refused(await bot.post(bot.activity(service_url=other.base_url), f"Bearer {token}"))
        assert other.sent == [] and bot.connector.sent == []
        # and an activity without a serviceUrl is refused too (nowhere validated to answer to)
        refused(await bot.post(bot.activity(service_url=""), f"Bearer {token}"))
    finally:
        await other.stop()


async def test_a8_channel_not_endorsed_403(bot):
    refused(await bot.post(bot.activity(channel="webchat")))
    # a key published without any endorsements is not trusted for any channel
    bare = SigningKey.generate("bare")
    bot.server.bot_keys = [bot.server.bot_key, bare]
    bot.clock[0] += 301
    refused(await bot.post(bot.activity(), f"Bearer {bot.token(key=bare)}"))
    assert bot.connector.sent == []


async def test_a9_keys_down_cached_keys_used(bot):
    assert (await bot.post(bot.activity())).status_code == 200
    bot.server.down |= {"bot-meta", "bot-keys"}
    bot.clock[0] += 2 * 24 * 3600  # due a refresh, which fails: cached keys keep working
    assert (await bot.post(bot.activity())).status_code == 200


async def test_a9_keys_down_nothing_cached_503(bot):
    bot.server.down |= {"bot-keys"}
    resp = await bot.post(bot.activity())
    refused(resp, 503)
    assert bot.connector.sent == []


# --- A10: tenant gate -------------------------------------------------------------------------

@pytest.mark.parametrize("tenant", [TENANT_X, TENANT_C, None])
async def test_a10_tenant_not_allowed_generic_reply_no_data(bot, tenant, caplog):
    caplog.set_level(logging.WARNING, logger="rapport.bot")
    resp = await bot.post(bot.activity(tenant))
    assert resp.status_code == 200
    assert [s.text for s in bot.connector.sent] == [NOT_ENABLED]
    assert any(getattr(r, "alert", False) for r in caplog.records)


async def test_a10_contradictory_tenant_ids_refused(bot):
    a = bot.activity(TENANT_A)
    a["channelData"] = {"tenant": {"id": TENANT_X}}
    assert (await bot.post(a)).status_code == 200
    assert [s.text for s in bot.connector.sent] == [NOT_ENABLED]
    assert (await bot.store.get(Person, TENANT_A, PARTNER_OID)).conversationRef is None


async def test_a10_not_enabled_invoke_answers_message(bot):
    resp = await bot.post(bot.activity(TENANT_X, kind="invoke", name="adaptiveCard/action",
                                       value={"action": {"type": "Action.Execute", "verb": "approve"}}))
    assert resp.status_code == 200
    assert json.loads(resp.get_body())["value"] == NOT_ENABLED


# --- A11: no way to switch authentication off -------------------------------------------------

def test_a11_no_app_id_refused_off_loopback(identity_server, tmp_path):
    settings = bot_settings(identity_server, tmp_path, MicrosoftAppId="", MicrosoftAppPassword="")
    with runtime.override(bind_host=None), pytest.raises(BotConfigError, match="MicrosoftAppId"):
        check_bot_settings(settings)
    with runtime.override(bind_host="127.0.0.1"):
        check_bot_settings(settings)  # local emulator use


async def test_a11_trigger_answers_503_without_app_id(identity_server, tmp_path):
    no_app_id = bot_settings(identity_server, tmp_path, MicrosoftAppId="", MicrosoftAppPassword="")
    with runtime.override(settings=no_app_id, store=None, bind_host=None):
        req = func.HttpRequest("POST", "http://127.0.0.1/api/messages", headers={"Content-Type": "application/json"},
                               body=b'{"type":"message"}')
        resp = await trigger("bot_messages")(req)
        assert resp.status_code == 503
        assert "MicrosoftAppId" in json.loads(resp.get_body())["error"]["message"]


def test_a11_single_tenant_bot_needs_password_and_tenant():
    with pytest.raises(Exception, match="MicrosoftAppPassword"):
        load_settings({"MicrosoftAppId": BOT_APP_ID, "MicrosoftAppTenantId": TENANT_A})


async def test_a11_app_id_set_missing_header_never_anonymous(bot):
    refused(await bot.post(bot.activity(), None))


# --- A12: body limits --------------------------------------------------------------------------

async def test_a12_huge_body_413(bot):
    big = bot.activity(text="x" * (5 * 1024 * 1024))
    resp = await bot.post(big)
    refused(resp, 413)
    assert bot.server.hits["bot-keys"] == 0  # refused before any key work


async def test_a12_deeply_nested_400(bot):
    nested: Any = "x"
    for _ in range(200):
        nested = {"a": nested}
    refused(await bot.post(bot.activity(value=nested)), 400)


async def test_a12_not_json(bot):
    refused(await bot.post(b"<xml/>", content_type="application/xml"), 415)
    refused(await bot.post(b"{not json"), 400)
    refused(await bot.post(b"[1,2]"), 400)


@given(body=st.binary(max_size=2048))
@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_a12_arbitrary_bytes_never_500(bot, body):
    resp = await bot.post(body, auth=None)
    assert resp.status_code in (400, 403, 413, 415), resp.status_code
    assert bot.connector.sent == []


async def test_no_app_id_on_loopback_runs_for_the_emulator(bot, identity_server, tmp_path):
    settings = bot_settings(identity_server, tmp_path, MicrosoftAppId="", MicrosoftAppPassword="")
    with runtime.override(settings=settings, store=bot.store, bot_keys=None, bind_host="127.0.0.1"):
        resp = await bot.post(bot.activity(), None)
        assert resp.status_code == 200, resp.get_body()
        assert [s.text for s in bot.connector.sent] == [HELP]
        assert bot.connector.sent[0].authorization is None
        # a token sent to a bot with no app id cannot be checked: refused, not ignored
        refused(await bot.post(bot.activity(), f"Bearer {bot.token()}"))


# --- only the firm's people (issue 12, finding 6) and Teams' conversation.tenantId (finding 9) -------

async def test_a_user_who_is_not_a_person_of_the_firm_is_not_answered(bot):
    stranger = str(uuid.uuid4())
    a = bot.activity()
    a["from"] = {"id": "29:stranger", "name": "Stranger", "aadObjectId": stranger}
    assert (await bot.post(a)).status_code == 200
    assert [s.text for s in bot.connector.sent] == [NOT_FOR_YOU]
    assert await bot.store.get(Person, TENANT_A, stranger) is None


@pytest.mark.parametrize("from_extra", [{"aadObjectId": None}, {"userRole": "guest"}, {"userRole": "anonymous"}])
async def test_a_guest_or_a_user_without_an_entra_id_is_not_answered(bot, from_extra):
    a = bot.activity()
    a["from"] = {**a["from"], **from_extra}
    assert (await bot.post(a)).status_code == 200
    assert [s.text for s in bot.connector.sent] == [NOT_FOR_YOU]
    assert (await bot.store.get(Person, TENANT_A, PARTNER_OID)).conversationRef is None


async def test_a_disabled_person_is_not_answered(bot):
    await bot.store.update(Person, TENANT_A, PARTNER_OID, lambda p: p.model_copy(update={"enabled": False}))
    assert (await bot.post(bot.activity())).status_code == 200
    assert [s.text for s in bot.connector.sent] == [NOT_FOR_YOU]


async def test_a_card_action_from_someone_else_is_an_invoke_error_with_the_same_sentence(bot):
    a = bot.activity(kind="invoke", name="adaptiveCard/action", text=None,
                     value={"action": {"type": "Action.Execute", "verb": "approve", "data": {"draftId": "d"}}})
    a["from"] = {"id": "29:stranger", "aadObjectId": str(uuid.uuid4())}
    resp = await bot.post(a)
    assert resp.status_code == 200
    body = json.loads(resp.get_body())
    assert body["statusCode"] == 403 and body["value"]["message"] == NOT_FOR_YOU


async def test_teams_conversation_tenant_id_is_read(bot):
    a = bot.activity(TENANT_A)
    a["channelData"] = {}  # only conversation.tenantId, as Teams spells it
    assert (await bot.post(a)).status_code == 200
    assert [s.text for s in bot.connector.sent] == [HELP]


async def test_two_allowed_tenants_in_one_activity_are_refused(bot):
    a = bot.activity(TENANT_B)
    a["conversation"]["tenantId"] = TENANT_A  # both tenants are allowed, and the user is a person of both
    assert (await bot.post(a)).status_code == 200
    assert [s.text for s in bot.connector.sent] == [NOT_ENABLED]
    assert (await bot.store.get(Person, TENANT_B, PARTNER_OID)).conversationRef is None


def test_the_bot_answers_every_verb_its_cards_show():
    """bot/routes.py hands the bot one table: every brief, follow-up and welcome card verb, none twice."""
    from bot import briefs, followups
    from rapport.cards.brief import BRIEF_VERBS
    from rapport.cards.followup import VERBS as FOLLOWUP_VERBS
    from rapport.cards.welcome import VERBS as WELCOME_VERBS

    assert set(routes.VERBS) == set(BRIEF_VERBS) | set(FOLLOWUP_VERBS) | set(WELCOME_VERBS)
    assert not set(briefs.VERBS) & set(followups.VERBS)
    bot = routes.make_bot(load_settings({}))
    assert bot.verbs == routes.VERBS and bot.commands == (briefs.on_text, followups.on_text)
