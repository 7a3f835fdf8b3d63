"""A local stand-in for Entra ID and the Bot Framework token service (docs/architecture.md: stand-ins replace only the far end).

One aiohttp HTTPS server on 127.0.0.1 (HTTPS because msal accepts only https authorities; the test
CA comes from tests/doubles/tokens.py). It serves:
- `/{tenant}/v2.0/.well-known/openid-configuration` and `/{tenant}/discovery/v2.0/keys` (Entra keys)
- `/{tenant}/oauth2/v2.0/token`: client credentials and on-behalf-of grants for msal, with
  per-tenant failure modes (consent missing, claims challenge, revoked) and an outage switch
- `/botframework/v1/.well-known/openidconfiguration` and `/botframework/v1/keys` (Bot Framework
  keys with channel endorsements)
Keys can be rotated, endpoints switched off (503) or slowed; every hit is counted per route kind.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.doubles.tokens import BOT_ISSUER, EntraMinter, SigningKey, TestCA

TOKEN_ERRORS: dict[str, tuple[int, dict[str, Any]]] = {
    "consent_required": (400, {
        "error": "invalid_grant", "suberror": "consent_required", "error_codes": [65001],
        "error_description": "AADSTS65001: The user or administrator has not consented to use the application.",
    }),
    "claims_challenge": (400, {
        "error": "interaction_required", "error_codes": [50076],
        "error_description": "AADSTS50076: Due to a configuration change made by your administrator, "
                             "you must use multi-factor authentication.",
        "claims": '{"access_token":{"capolids":{"essential":true,"values":["c1"]}}}',
    }),
    "revoked": (400, {
        "error": "unauthorized_client", "error_codes": [700016],
        "error_description": "AADSTS700016: Application was not found in the directory.",
    }),
    "user_revoked": (400, {
        "error": "invalid_grant", "error_codes": [50173],
        "error_description": "AADSTS50173: The provided grant has expired due to it being revoked.",
    }),
}


@dataclass
class IdentityServer:
    ca: TestCA
    entra_keys: list[SigningKey] = field(default_factory=lambda: [SigningKey.generate("entra-1")])
    bot_keys: list[SigningKey] = field(default_factory=lambda: [SigningKey.generate("bot-1", ["msteams", "emulator"])])
    down: set[str] = field(default_factory=set)  # route kinds answering 503: "entra-meta", "entra-keys", "token", "bot-meta", "bot-keys"
    delay: float = 0.0  # seconds added to every answer (go-slow mode)
    tenant_errors: dict[str, str] = field(default_factory=dict)  # tenant id -> key of TOKEN_ERRORS
    hits: Counter = field(default_factory=Counter)
    token_requests: list[dict[str, str]] = field(default_factory=list)  # form fields minus secrets
    base_url: str = ""
    _runner: web.AppRunner | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> IdentityServer:
        app = web.Application()
        app.router.add_get("/botframework/v1/.well-known/openidconfiguration", self._bot_meta)
        app.router.add_get("/botframework/v1/keys", self._bot_keys)
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._entra_meta)
        app.router.add_get("/{tenant}/discovery/v2.0/keys", self._entra_jwks)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ca.server_context())
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"https://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- controls ------------------------------------------------------------------------------

    @property
    def entra_key(self) -> SigningKey:
        return self.entra_keys[0]

    @property
    def bot_key(self) -> SigningKey:
        return self.bot_keys[0]

    @property
    def bot_metadata_url(self) -> str:
        return f"{self.base_url}/botframework/v1/.well-known/openidconfiguration"

    def rotate_entra_key(self, kid: str | None = None) -> SigningKey:
        """Publish a new key first in the set (the old one is dropped, as after a rollover)."""
        new = SigningKey.generate(kid)
        self.entra_keys = [new]
        return new

    def minter(self, audience: str) -> EntraMinter:
        return EntraMinter(self.entra_key, self.base_url, audience)

    def bot_token(self, app_id: str, service_url: str, *, key: SigningKey | None = None, offset: int = 0,
                  **extra: Any) -> str:
        now = int(time.time()) + offset
        claims = {"iss": BOT_ISSUER, "aud": app_id, "iat": now, "nbf": now, "exp": now + 3600,
                  "serviceurl": service_url, **extra}
        return (key or self.bot_key).sign({k: v for k, v in claims.items() if v is not None})

    # --- handlers ------------------------------------------------------------------------------

    async def _gate(self, kind: str) -> web.Response | None:
        self.hits[kind] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if kind in self.down:
            return web.json_response({"error": "temporarily_unavailable"}, status=503)
        return None

    async def _entra_meta(self, request: web.Request) -> web.StreamResponse:
        if (r := await self._gate("entra-meta")) is not None:
            return r
        t = request.match_info["tenant"]
        base = self.base_url
        return web.json_response({
            "issuer": f"{base}/{'{tenantid}' if t in ('common', 'organizations') else t}/v2.0",
            "authorization_endpoint": f"{base}/{t}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/{t}/oauth2/v2.0/token",
            "jwks_uri": f"{base}/{t}/discovery/v2.0/keys",
            "id_token_signing_alg_values_supported": ["RS256"],
        })

    async def _entra_jwks(self, request: web.Request) -> web.StreamResponse:
        if (r := await self._gate("entra-keys")) is not None:
            return r
        return web.json_response({"keys": [k.jwk() for k in self.entra_keys]})

    async def _bot_meta(self, request: web.Request) -> web.StreamResponse:
        if (r := await self._gate("bot-meta")) is not None:
            return r
        return web.json_response({"issuer": BOT_ISSUER, "jwks_uri": f"{self.base_url}/botframework/v1/keys",
                                  "id_token_signing_alg_values_supported": ["RS256"]})

    async def _bot_keys(self, request: web.Request) -> web.StreamResponse:
        if (r := await self._gate("bot-keys")) is not None:
            return r
        return web.json_response({"keys": [k.jwk() for k in self.bot_keys]})

    async def _token(self, request: web.Request) -> web.StreamResponse:
        if (r := await self._gate("token")) is not None:
            return r
        tenant = request.match_info["tenant"]
        form = dict(await request.post())
        self.token_requests.append({"tenant": tenant, **{k: str(v) for k, v in form.items()
                                                          if k not in ("client_secret", "assertion", "client_assertion")}})
        if tenant in self.tenant_errors:
            status, body = TOKEN_ERRORS[self.tenant_errors[tenant]]
            return web.json_response({**body, "trace_id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4())},
                                     status=status)
        grant = form.get("grant_type")
        if grant not in ("client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer"):
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if not form.get("client_id") or not (form.get("client_secret") or form.get("client_assertion")):
            return web.json_response({"error": "invalid_client", "error_description": "AADSTS7000216: no secret"},
                                     status=401)
        now = int(time.time())
        scope = str(form.get("scope", ""))
        claims = {"iss": f"{self.base_url}/{tenant}/v2.0", "aud": "https://graph.microsoft.com", "tid": tenant,
                  "iat": now, "nbf": now, "exp": now + 3600, "appid": form["client_id"], "scp_req": scope,
                  "idtyp": "app" if grant == "client_credentials" else "user"}
        return web.json_response({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                                  "access_token": self.entra_key.sign(claims)})
