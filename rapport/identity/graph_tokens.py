"""Tokens for Microsoft Graph: msal ConfidentialClientApplication, one per tenant, cached.

- app_token(tenant): client credentials, for capture and for sending as an onboarded partner.
- obo_token(tenant, assertion): on-behalf-of, for calls a partner makes from the task pane.
msal is synchronous (requests underneath, and its constructor fetches the authority's metadata), so
every msal call runs in a worker thread (asyncio.to_thread): a slow token endpoint never blocks the
event loop. Its token cache serves repeats without a network call.

Failures become typed states instead of stack traces (the classes live in rapport.identity.errors,
so callers can catch them without importing msal):
- ConsentRequired(tenant, consent_url): the firm's admin has not consented (AADSTS65001);
- SignInRequired(tenant, claims): the user must sign in again (interaction_required, a claims
  challenge, a revoked or expired grant);
- TenantRevoked(tenant): the app was removed from or disabled in the firm's directory;
- TokenServiceUnavailable: the token endpoint is down or unreachable (retry later).
A tenant in the consent/revoked state is not asked again for `cooldown` seconds (its failure is
answered from memory), and each tenant has its own msal app and state, so one firm's trouble never
touches another's tokens.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlparse

import msal
import msal.exceptions
import requests

from rapport.identity.errors import (
    ConsentRequired,
    GraphTokenError,
    SignInRequired,
    TenantRevoked,
    TokenServiceUnavailable,
)
from rapport.settings import Settings, SettingsError

log = logging.getLogger("rapport.identity.graph")

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
MICROSOFT_AUTHORITY_HOSTS = frozenset({
    "login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn", "login.partner.microsoftonline.cn",
})
HTTP_TIMEOUT = 10.0  # seconds per msal HTTP call
CONSENT_CODES = {65001, 65004, 65005}  # consent missing / declined / app needs a permission not granted
SIGN_IN_CODES = {50076, 50079, 50158, 50173, 70043, 70008, 50132, 50078, 53003, 500133}
REVOKED_CODES = {700016, 7000112, 7000229, 70001, 700024}  # app unknown / disabled in the tenant


StateHook = Callable[[str, str], Awaitable[None]]  # (tenant_id, "ok" | "needs_admin_consent" | "revoked")


def _codes(result: dict[str, Any]) -> set[int]:
    out = set()
    for c in result.get("error_codes") or []:
        try:
            out.add(int(c))
        except (TypeError, ValueError):
            continue
    return out


class GraphTokens:
    """Per-tenant msal apps and the typed failure states. The interface the Graph sync uses."""

    def __init__(self, settings: Settings, *, http_client: Any | None = None, on_state: StateHook | None = None,
                 clock: Callable[[], float] = time.monotonic, cooldown: float = 300.0,
                 scope: str = GRAPH_SCOPE) -> None:
        if not settings.client_id:
            raise SettingsError("setting RAPPORT_CLIENT_ID is required to call Microsoft Graph (the Entra app of docs/deploy.md step 2)")
        self.settings = settings
        self.host = settings.entra_authority_host.rstrip("/")
        self.scope = scope
        self._http_client = http_client
        self._on_state = on_state or _runtime_state_hook  # persisted on the Tenant record by default
        self._clock = clock
        self._cooldown = cooldown
        self._apps: dict[str, msal.ConfidentialClientApplication] = {}
        self._app_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._blocked: dict[str, tuple[GraphTokenError, float]] = {}  # tenant -> (error, until)
        self.states: dict[str, str] = {}

    # --- the interface ---------------------------------------------------------------------------

    async def app_token(self, tenant_id: str) -> str:
        """An app-only Graph token for this tenant. Raises a GraphTokenError subclass."""
        self._check_blocked(tenant_id)
        result = await self._run(tenant_id, lambda app: self._client_credentials(app))
        return await self._token_or_raise(tenant_id, result)

    async def obo_token(self, tenant_id: str, user_assertion: str, scopes: list[str] | None = None) -> str:
        """A Graph token on behalf of the user whose (already validated) API token is `user_assertion`."""
        self._check_blocked(tenant_id)
        wanted = scopes or [self.scope]
        result = await self._run(tenant_id, lambda app: app.acquire_token_on_behalf_of(user_assertion, wanted))
        return await self._token_or_raise(tenant_id, result)

    def consent_url(self, tenant_id: str) -> str:
        """Where the firm's admin grants Rapport's application permissions."""
        from rapport.identity.consent import callback_url  # the page that says what was granted

        redirect = quote(callback_url(self.settings.public_url), safe="")
        return f"{self.host}/{tenant_id}/adminconsent?client_id={self.settings.client_id}&redirect_uri={redirect}"

    async def clear(self, tenant_id: str) -> None:
        """Forget a tenant's failure state (after the admin consented or it was re-onboarded)."""
        self._blocked.pop(tenant_id, None)
        await self._set_state(tenant_id, "ok")

    # --- msal ------------------------------------------------------------------------------------

    def _client_credentials(self, app: msal.ConfidentialClientApplication) -> dict[str, Any]:
        # acquire_token_for_client consults msal's cache first (msal >= 1.23).
        return app.acquire_token_for_client(scopes=[self.scope])

    def _credential(self) -> Any:
        if self.settings.client_secret:
            return self.settings.client_secret
        # No secret: the Function App's managed identity as a federated credential (no secret in the settings).
        from azure.identity import ManagedIdentityCredential

        mi = ManagedIdentityCredential()
        return {"client_assertion": lambda: mi.get_token("api://AzureADTokenExchange/.default").token}

    def _new_app(self, tenant_id: str) -> msal.ConfidentialClientApplication:
        authority = f"{self.host}/{tenant_id}"
        known = urlparse(self.host).hostname in MICROSOFT_AUTHORITY_HOSTS
        return msal.ConfidentialClientApplication(
            self.settings.client_id, client_credential=self._credential(), authority=authority,
            http_client=self._http_client, timeout=HTTP_TIMEOUT,
            # Instance discovery asks login.microsoftonline.com about the authority host; for a
            # private host (the test stand-in) there is nothing to ask, and no network to ask it on.
            validate_authority=known, instance_discovery=known,
        )

    def _app(self, tenant_id: str) -> msal.ConfidentialClientApplication:
        with self._guard:
            lock = self._app_locks.setdefault(tenant_id, threading.Lock())
        with lock:  # one constructor run per tenant; other tenants build theirs in parallel
            app = self._apps.get(tenant_id)
            if app is None:
                app = self._apps[tenant_id] = self._new_app(tenant_id)
            return app

    async def _run(self, tenant_id: str, call: Callable[[msal.ConfidentialClientApplication], dict[str, Any]]
                   ) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            return call(self._app(tenant_id))

        try:
            return await asyncio.to_thread(work)
        except (requests.RequestException, OSError, msal.exceptions.MsalServiceError) as exc:
            # Unreachable, TLS refused, or a 5xx that msal raises instead of returning.
            log.warning("token endpoint unreachable for tenant %s: %s", tenant_id, type(exc).__name__,
                        extra={"tenant_id": tenant_id})
            raise TokenServiceUnavailable(tenant_id, "the token service is unreachable; try again later") from None
        except ValueError as exc:
            # msal raises ValueError when the authority's metadata cannot be loaded (endpoint down,
            # or an unknown tenant). The app is not cached, so the next call tries again.
            log.warning("authority metadata unavailable for tenant %s: %s", tenant_id, str(exc)[:200],
                        extra={"tenant_id": tenant_id})
            raise TokenServiceUnavailable(tenant_id, "the token service is unavailable; try again later") from None

    async def _token_or_raise(self, tenant_id: str, result: dict[str, Any] | None) -> str:
        if result and "access_token" in result:
            if self.states.get(tenant_id) != "ok":  # first success, or recovered: record "ok"
                await self._set_state(tenant_id, "ok")
            return str(result["access_token"])
        result = result or {}
        error = str(result.get("error") or "")
        codes = _codes(result)
        suberror = str(result.get("suberror") or "")
        reason = f"{error} {sorted(codes)}".strip()
        log.info("token request refused for tenant %s: %s", tenant_id, reason, extra={"tenant_id": tenant_id})
        if codes & CONSENT_CODES or suberror == "consent_required":
            err: GraphTokenError = ConsentRequired(tenant_id, self.consent_url(tenant_id))
            await self._block(tenant_id, err, "needs_admin_consent")
            raise err
        if codes & REVOKED_CODES or (error in ("unauthorized_client", "invalid_client") and not codes & SIGN_IN_CODES):
            err = TenantRevoked(tenant_id, reason)
            await self._block(tenant_id, err, "revoked")
            raise err
        if error in ("interaction_required", "login_required") or result.get("claims") or codes & SIGN_IN_CODES \
                or error == "invalid_grant":
            raise SignInRequired(tenant_id, claims=result.get("claims"), reason=reason)
        raise TokenServiceUnavailable(tenant_id, f"the token service refused the request ({reason or 'no reason'})")

    # --- per-tenant state --------------------------------------------------------------------

    def _check_blocked(self, tenant_id: str) -> None:
        hit = self._blocked.get(tenant_id)
        if hit is not None:
            if hit[1] > self._clock():
                raise hit[0]
            self._blocked.pop(tenant_id, None)

    async def _block(self, tenant_id: str, err: GraphTokenError, state: str) -> None:
        self._blocked[tenant_id] = (err, self._clock() + self._cooldown)
        await self._set_state(tenant_id, state)

    async def _set_state(self, tenant_id: str, state: str) -> None:
        previous = self.states.get(tenant_id)
        self.states[tenant_id] = state
        if previous != state:
            if previous is not None or state != "ok":
                log.warning("tenant %s Graph access state: %s -> %s", tenant_id, previous or "ok", state,
                            extra={"tenant_id": tenant_id, "alert": state != "ok"})
            try:
                await self._on_state(tenant_id, state)
            except Exception:  # noqa: BLE001 - recording the state must not hide the token outcome
                log.warning("could not record tenant %s state %s", tenant_id, state, exc_info=True,
                            extra={"tenant_id": tenant_id})


def store_state_hook(store: Any) -> StateHook:
    """A hook writing the state onto the Tenant record (consentState), ETag-safe."""
    from rapport.records import Tenant

    async def hook(tenant_id: str, state: str) -> None:
        def change(t: Tenant) -> Tenant | None:
            if t.consentState == state:
                return None
            t.consentState = state  # type: ignore[assignment]
            return t

        await store.update(Tenant, tenant_id, tenant_id, change)

    return hook


async def _runtime_state_hook(tenant_id: str, state: str) -> None:
    """Default hook: the process store, if a host has opened one (never opens one as a side effect)."""
    from rapport import runtime

    store = runtime.opened_store()
    if store is not None:
        await store_state_hook(store)(tenant_id, state)


__all__ = [
    "GRAPH_SCOPE",
    "MICROSOFT_AUTHORITY_HOSTS",
    "ConsentRequired",
    "GraphTokenError",
    "GraphTokens",
    "SignInRequired",
    "TenantRevoked",
    "TokenServiceUnavailable",
]
