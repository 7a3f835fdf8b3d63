"""botbuilder's CloudAdapter, configured from Rapport's settings (botbuilder's own names), fail-closed.

Inbound (docs/reliability.md section 1, Bot Framework): botbuilder's ConfigurationBotFrameworkAuthentication
does the JWT checks (issuer, audience = MicrosoftAppId, exp/nbf with 5 min, endorsements, the
serviceurl claim). Rapport adds, in front of it:
- only Bot Framework channel tokens: the unverified `iss` must be the channel issuer, so botbuilder's
  emulator and skill code paths (other issuers, other key sets) are never reached (A4);
- RS256 only, a `kid`, a key that endorses the activity's channelId (botbuilder skips the channel
  check for a key without endorsements; we refuse it) and an activity that has a serviceUrl (A7/A8);
- the channel keys come from rapport.identity.keys.KeySet (async fetch with a timeout, cached a
  day, one rate-limited refresh on an unknown kid, cached keys kept through an outage, 503 with
  none): botbuilder's own fetcher uses blocking `requests` on the event loop with no timeout, so
  we hand it our key set through JwtTokenExtractor's metadata cache, the hook botbuilder reads.
Authentication is never off while MicrosoftAppId is set (botbuilder turns it off only for an empty
app id); with no app id (local emulator use) the adapter is refused unless the host declared a
loopback bind (runtime.services().bind_host, rapport.identity.dev): Azure never does, so there it
cannot run unauthenticated.

Outbound: the bot's own token comes from `{ENTRA_AUTHORITY_HOST}/{MicrosoftAppTenantId}` through
msal (botbuilder's MicrosoftAppCredentials, with authority validation only for Microsoft's hosts so
a private authority such as the test stand-in is not sent to login.microsoftonline.com for
instance discovery).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import jwt
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.integration.aiohttp.configuration_service_client_credential_factory import (
    ConfigurationServiceClientCredentialFactory,
)
from botbuilder.schema import Activity
from botframework.connector.auth import (
    AuthenticateRequestResult,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    MicrosoftAppCredentials,
    PasswordServiceClientCredentialFactory,
)

from bot import seams
from rapport.identity import dev
from rapport.identity.graph_tokens import MICROSOFT_AUTHORITY_HOSTS
from rapport.identity.keys import KeySet, PublicKey
from rapport.settings import Settings

log = logging.getLogger("rapport.bot")

CHANNEL_ISSUER = "https://api.botframework.com"
CHANNEL_SCOPE = "https://api.botframework.com"


seams.speed_up_retry_policy()  # once, when the adapter's module loads: before any ConnectorClient is made


class BotConfigError(Exception):
    """The bot cannot run safely with these settings (answer 503, say why)."""


class BotAuthError(PermissionError):
    """The inbound request is not a valid Bot Framework call (answer 403)."""


@dataclass
class BotConfig:
    """The configuration object botbuilder reads (its attribute names), filled from Rapport settings."""

    APP_ID: str | None
    APP_PASSWORD: str | None
    APP_TYPE: str
    APP_TENANTID: str | None
    TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL: str
    TO_BOT_FROM_CHANNEL_TOKEN_ISSUER: str
    TO_CHANNEL_FROM_BOT_LOGIN_URL: str
    TO_CHANNEL_FROM_BOT_OAUTH_SCOPE: str
    TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL: str
    OAUTH_URL: str
    VALIDATE_AUTHORITY: bool


def bot_config(settings: Settings) -> BotConfig:
    host = settings.entra_authority_host.rstrip("/")
    tenant = settings.bot_app_tenant_id or "botframework.com"
    # The parameterized form (every URL explicit) is used in production too, so the tests run the
    # same botbuilder code path with the URLs pointed at the stand-in.
    return BotConfig(
        APP_ID=settings.bot_app_id or None, APP_PASSWORD=settings.bot_app_password,
        APP_TYPE=settings.bot_app_type, APP_TENANTID=settings.bot_app_tenant_id,
        TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=settings.bot_openid_metadata,
        TO_BOT_FROM_CHANNEL_TOKEN_ISSUER=CHANNEL_ISSUER,
        TO_CHANNEL_FROM_BOT_LOGIN_URL=f"{host}/{tenant}",
        TO_CHANNEL_FROM_BOT_OAUTH_SCOPE=CHANNEL_SCOPE,
        TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL=f"{host}/botframework.com/v2.0/.well-known/openid-configuration",
        OAUTH_URL="https://api.botframework.com",
        VALIDATE_AUTHORITY=urlparse(host).hostname in MICROSOFT_AUTHORITY_HOSTS,
    )


# --- outbound credentials -------------------------------------------------------------------

class _AppCredentials(MicrosoftAppCredentials):
    """botbuilder's credentials, with msal's authority validation only for Microsoft's own hosts."""

    def __init__(self, app_id: str, password: str, tenant_id: str | None, oauth_scope: str, login_endpoint: str) -> None:
        super().__init__(app_id, password, channel_auth_tenant=tenant_id, oauth_scope=oauth_scope)
        self.oauth_endpoint = login_endpoint
        self._msal_app: Any = None

    def get_access_token(self, force_refresh: bool = False) -> str:
        import msal

        if self._msal_app is None:
            known = urlparse(self.oauth_endpoint).hostname in MICROSOFT_AUTHORITY_HOSTS
            self._msal_app = msal.ConfidentialClientApplication(
                self.microsoft_app_id, client_credential=self.microsoft_app_password, authority=self.oauth_endpoint,
                validate_authority=known, instance_discovery=known, timeout=10,
            )
        scope = self.oauth_scope if self.oauth_scope.endswith("/.default") else self.oauth_scope + "/.default"
        result = self._msal_app.acquire_token_for_client(scopes=[scope])  # served from msal's cache when fresh
        if "access_token" in result:
            return result["access_token"]
        raise PermissionError(f"the bot could not get its token: {result.get('error')} {result.get('error_codes')}")


class _PasswordCredentials(PasswordServiceClientCredentialFactory):
    """One credentials object (and so one msal app and token cache) per scope and endpoint."""

    def __init__(self, app_id: str | None, password: str | None, tenant_id: str | None) -> None:
        super().__init__(app_id, password, tenant_id)
        self._made: dict[tuple[str, str], _AppCredentials] = {}

    async def create_credentials(self, app_id: str, oauth_scope: str, login_endpoint: str,
                                 validate_authority: bool) -> Any:
        if await self.is_authentication_disabled():
            return MicrosoftAppCredentials.empty()
        if not await self.is_valid_app_id(app_id):
            raise BotAuthError("the activity is for another bot")
        key = (oauth_scope, login_endpoint)
        creds = self._made.get(key)
        if creds is None:
            creds = self._made[key] = _AppCredentials(app_id, self.password, self.tenant_id, oauth_scope, login_endpoint)
        return creds


# --- inbound keys ----------------------------------------------------------------------------

class _ChannelKeys:
    """What JwtTokenExtractor expects of its metadata object: `await get(kid)` -> key + endorsements."""

    def __init__(self, keys: KeySet) -> None:
        self.keys = keys

    async def get(self, key_id: str) -> Any:
        key = await self.keys.get(key_id or "")  # KeysUnavailable propagates: 503
        if key is None:
            raise BotAuthError("the token is signed by a key the Bot Framework does not publish")
        return _KeyView(key)


class _KeyView:
    def __init__(self, key: PublicKey) -> None:
        self.public_key = key.key
        self.endorsements = list(key.endorsements or [])


# --- the authentication in front of botbuilder's ------------------------------------------------

class RapportBotAuthentication(BotFrameworkAuthentication):
    def __init__(self, settings: Settings, keys: KeySet | None = None) -> None:
        config = bot_config(settings)
        self.app_id = config.APP_ID
        self.keys = keys or KeySet(config.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL, max_age=24 * 3600)
        seams.hand_channel_keys_to_botbuilder(config.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL, _ChannelKeys(self.keys))
        if config.APP_TYPE == "UserAssignedMSI":
            factory: Any = ConfigurationServiceClientCredentialFactory(config)
        else:
            factory = _PasswordCredentials(config.APP_ID, config.APP_PASSWORD, config.APP_TENANTID)
        self._factory = factory
        self._login_url = config.TO_CHANNEL_FROM_BOT_LOGIN_URL
        self.inner = ConfigurationBotFrameworkAuthentication(config, credentials_factory=factory)

    async def authenticate_request(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        if self.app_id:
            await self._precheck(activity, auth_header)
        elif auth_header:
            raise BotAuthError("this bot has no MicrosoftAppId; it cannot check a token")
        return await self.inner.authenticate_request(activity, auth_header)

    async def _precheck(self, activity: Activity, auth_header: str | None) -> None:
        scheme, _, token = (auth_header or "").strip().partition(" ")
        if scheme != "Bearer" or not token:
            raise BotAuthError("no Bot Framework bearer token")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise BotAuthError("the bearer token is not a well-formed JWT") from None
        if header.get("alg") != "RS256":
            raise BotAuthError("only RS256 tokens are accepted")
        if unverified.get("iss") != CHANNEL_ISSUER:
            raise BotAuthError("the token is not from the Bot Framework channel service")
        if not activity.service_url:
            raise BotAuthError("the activity has no serviceUrl")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise BotAuthError("the token names no signing key")
        key = await self.keys.get(kid)
        if key is None:
            raise BotAuthError("the token is signed by a key the Bot Framework does not publish")
        if not key.endorsements or (activity.channel_id or "") not in key.endorsements:
            raise BotAuthError("the signing key is not endorsed for this channel")

    async def warm_outbound_token(self) -> None:
        """Fetch (or refresh) the bot's connector token in a worker thread.

        botframework-connector asks for the token synchronously inside the event loop (msrest's
        signed_session); warming it here first means that call is answered from msal's cache
        and a slow token endpoint never stalls the loop. Raises if the token cannot be had.
        """
        if not self.app_id or not isinstance(self._factory, _PasswordCredentials):
            return
        creds = await self._factory.create_credentials(self.app_id, CHANNEL_SCOPE, self._login_url, False)
        await asyncio.to_thread(creds.get_access_token)

    async def authenticate_streaming_request(self, auth_header: str, channel_id_header: str) -> AuthenticateRequestResult:
        raise BotAuthError("streaming requests are not accepted")

    def create_connector_factory(self, claims_identity: ClaimsIdentity):
        return self.inner.create_connector_factory(claims_identity)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity):
        return await self.inner.create_user_token_client(claims_identity)

    def create_bot_framework_client(self):
        return self.inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return self.inner.get_originating_audience()

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        raise BotAuthError("skill/channel requests are not accepted")


def check_bot_settings(settings: Settings) -> None:
    """Refuse to run the bot unauthenticated anywhere but a loopback-bound local host (docs/reliability.md section 1)."""
    if not settings.bot_app_id and not dev.bound_to_loopback():
        raise BotConfigError("the bot is not configured: MicrosoftAppId is not set, and without it the bot "
                             "only runs on a local host bound to loopback")


def make_adapter(settings: Settings, *, keys: KeySet | None = None) -> tuple[CloudAdapter, RapportBotAuthentication]:
    check_bot_settings(settings)
    auth = RapportBotAuthentication(settings, keys)
    adapter = CloudAdapter(auth)

    async def on_error(context: Any, error: Exception) -> None:
        # The user sees a short apology; the log gets the type, never the activity's text.
        log.error("bot turn failed: %s", type(error).__name__, exc_info=error)
        try:
            await context.send_activity("Sorry, something went wrong on our side.")
        except Exception:  # noqa: BLE001 - the connector may be the thing that failed
            log.warning("could not send the error reply")

    adapter.on_turn_error = on_error
    return adapter, auth
