"""Entra ID bearer tokens for the add-in API: the rules of docs/reliability.md section 1 (Entra ID tokens).

Fail closed, in this order (the signature before any claim is believed):
 1. `Authorization: Bearer <jwt>` present                          else 401
 2. header `alg` is RS256 (no `none`, no HS/RS confusion)           else 401
 3. `kid` is a key of the pinned metadata (or the local dev key)    else 401; keys unreachable: 503
 4. signature, `exp`/`nbf` (5 min leeway), `aud` (our API)          else 401
 5. not an ID token, `iss` == the issuer of the token's own `tid`   else 401
 6. personal Microsoft accounts refused                             else 401
 7. a user token (not app-only) carrying scope `access_as_user`     else 403
 8. `tid` allowed (RAPPORT_ALLOWED_TENANTS or an allowed Tenant)    else 401 + alert
 9. the caller is a member of the firm (rapport.identity.membership): not a guest (acct, idp), the
    client app (azp/appid) one of ours (RAPPORT_CLIENT_ID, RAPPORT_CLIENT_APPS), and an enabled
    Person record for (tid, oid)                                    else 403 "Rapport is not
    enabled for you", the same answer for every cause; the reason goes to the log only
The caller is (tid, oid): never email/upn/preferred_username, which can be reassigned.

Issuer policy: only v2.0 tokens (`{ENTRA_AUTHORITY_HOST}/{tid}/v2.0`). The API app registration
sets requestedAccessTokenVersion=2, so Entra never issues v1 tokens for it; accepting the v1 issuer
(`https://sts.windows.net/{tid}/`) would widen what we accept for no caller we have, and that host
is not under ENTRA_AUTHORITY_HOST, so it could not be pointed at a stand-in and tested.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import jwt

from rapport import runtime
from rapport.identity import dev, membership
from rapport.identity.caller import REQUIRED_SCOPE, AdminCaller, Caller
from rapport.identity.dev import DEV_AUDIENCE, DEV_CLIENT
from rapport.identity.keys import KeySet, KeysUnavailable, PublicKey
from rapport.settings import Settings
from rapport.web import ApiError, Request

log = logging.getLogger("rapport.identity")

MSA_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"  # personal Microsoft accounts
LEEWAY_SECONDS = 300
MAX_TOKEN_CHARS = 16 * 1024  # Entra tokens are a few KB; a 1 MB "token" is not worth parsing
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_REQUIRED_CLAIMS = ["exp", "nbf", "iat", "iss", "aud", "tid", "oid"]

TenantCheck = Callable[[str], Awaitable[bool]]
PersonCheck = Callable[[str, str], Awaitable[bool]]  # (tid, oid) -> a member of the firm?


def _quoted_safe(text: str) -> str:
    # error_description is a quoted-string: no quotes, backslashes or control characters (RFC 6750 3).
    return "".join(ch for ch in text if 0x20 <= ord(ch) < 0x7F and ch not in '"\\')


def unauthorized(description: str, *, code: str | None = "invalid_token") -> ApiError:
    """401 with a WWW-Authenticate header the client can act on (re-acquire a token)."""
    description = _quoted_safe(description)
    challenge = 'Bearer realm="rapport"'
    if code:
        challenge += f', error="{code}"'
    challenge += f', error_description="{description}"'
    return ApiError(401, f"not signed in: {description}", headers={"www-authenticate": challenge})


def forbidden(description: str) -> ApiError:
    """403: a valid caller without the right (RFC 6750 insufficient_scope)."""
    description = _quoted_safe(description)
    challenge = (f'Bearer realm="rapport", error="insufficient_scope", scope="{REQUIRED_SCOPE}", '
                 f'error_description="{description}"')
    return ApiError(403, f"not allowed: {description}", headers={"www-authenticate": challenge})


def not_enabled() -> ApiError:
    """403 for a valid token of an allowed tenant whose user is not one of the firm's people.
    One answer whatever the cause, and no challenge: a new token would not change it."""
    return ApiError(403, membership.NOT_ENABLED)


def admin_forbidden() -> ApiError:
    """403 for a valid token of an onboarded tenant without Rapport's admin app role (or, delegated,
    not a member's). One answer whatever the cause; the reason goes to the log only."""
    return ApiError(403, f"not allowed: the admin API needs Rapport's {membership.ADMIN_APP_ROLE} app role "
                         "for your organisation")


def keys_unavailable() -> ApiError:
    return ApiError(503, "sign-in cannot be checked right now (the identity provider's keys are unreachable); "
                         "try again shortly", headers={"retry-after": "30"})


def bearer_token(headers: Mapping[str, str]) -> str:
    """The raw token of an `Authorization: Bearer` header, or ApiError 401."""
    value = headers.get("authorization")
    if not value:
        raise unauthorized("the request has no Authorization header; send a bearer access token", code=None)
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("the Authorization header must use the Bearer scheme", code="invalid_request")
    token = token.strip()
    if len(token) > MAX_TOKEN_CHARS:
        raise unauthorized("the bearer token is too large to be an access token")
    return token


class EntraValidator:
    """Validates add-in API tokens. One per process; keys and tenant decisions are cached."""

    def __init__(self, settings: Settings, keys: KeySet, tenant_allowed: TenantCheck, *,
                 person_member: PersonCheck | None = None,
                 dev_keys: Mapping[str, PublicKey] | None = None, clock: Callable[[], float] = time.monotonic,
                 tenant_ttl: float = 60.0, denied_ttl: float = 5.0) -> None:
        self.settings = settings
        self.host = settings.entra_authority_host.rstrip("/")
        audiences = [a for a in (settings.api_audience, settings.client_id) if a]
        if dev_keys and not audiences:
            audiences = [DEV_AUDIENCE]
        self.audiences = audiences
        self.keys = keys
        self.dev_keys = dict(dev_keys or {})
        self._tenant_allowed = tenant_allowed
        self._static_tenants = frozenset(settings.allowed_tenants)
        self._clock = clock
        self._tenant_ttl = tenant_ttl  # allowed tenants: re-checked each minute (offboarding applies soon)
        self._denied_ttl = denied_ttl  # refused tenants: short, so onboarding applies at once-ish
        self._tenant_cache: dict[str, tuple[bool, float]] = {}
        self._person_member = person_member or _store_person_member
        # Person decisions, cached like the tenant's: a member for a minute (removal applies within
        # it), a refusal for seconds (onboarding applies at once-ish). Keeps the sidebar at its
        # store-call budget: a warm request reads no Person.
        self._person_cache: dict[tuple[str, str], tuple[bool, float]] = {}
        clients = {*settings.client_apps, *([settings.client_id] if settings.client_id else [])}
        if self.dev_keys:
            clients.add(DEV_CLIENT)
        self.client_apps = frozenset(c.lower() for c in clients)
        self._verified: dict[bytes, tuple[dict[str, Any], float]] = {}  # sha256(token) -> (claims, exp)
        self._wall = time.time  # wall clock for cached expiry (tests move it)

    async def caller(self, headers: Mapping[str, str]) -> Caller:
        claims = await self.claims(bearer_token(headers))
        self._check_user_token(claims)
        tid, oid = claims["tid"], claims["oid"]
        if not await self._allowed(tid):
            # A genuine token from an organisation we do not serve. Alert, no token logged.
            log.warning("refused token of a tenant that is not allowed", extra={"tenant_id": tid, "alert": True})
            raise unauthorized("your organisation is not enabled for Rapport")
        reason = membership.refusal(claims, tid, self.host, self.client_apps)
        if reason is None and not await self._member(tid, oid):
            reason = "no enabled, non-guest Person record for this user"
        if reason is not None:
            # One answer for every cause (no oracle); the reason for the firm's admin, no token.
            log.warning("refused a caller who is not one of the firm's people: %s", reason, extra={"tenant_id": tid})
            raise not_enabled()
        name = claims.get("name")
        return Caller(tenant_id=tid, oid=oid, name=name if isinstance(name, str) else "")

    async def admin_caller(self, headers: Mapping[str, str], tenant_onboarded: TenantCheck) -> AdminCaller:
        """The caller of an admin API request (/api/admin/*), or ApiError 401/403/503.

        Rapport's admin app role on the token is the right (membership.admin_refusal says which
        tokens carry it); the tenant is the token's own `tid`, and must be an onboarded, allowed
        Tenant record (`tenant_onboarded`; a tenant only allowed by RAPPORT_ALLOWED_TENANTS has no
        settings or people to administer). A delegated token must also be a member's.
        """
        claims = await self.claims(bearer_token(headers))
        tid, oid = claims["tid"], claims["oid"]
        if not await tenant_onboarded(tid):
            log.warning("refused an admin token of a tenant that is not onboarded", extra={"tenant_id": tid, "alert": True})
            raise unauthorized("your organisation is not enabled for Rapport")
        app_only = membership.is_app_only(claims)
        reason = membership.admin_refusal(claims, tid, self.host, self.client_apps)
        if reason is None and not app_only and not await self._member(tid, oid):
            reason = "no enabled, non-guest Person record for this user"
        if reason is not None:
            log.warning("refused an admin API caller: %s", reason, extra={"tenant_id": tid})
            raise admin_forbidden()
        name = claims.get("name") if not app_only else claims.get("azp") or claims.get("appid")
        client = claims.get("azp") or claims.get("appid")
        return AdminCaller(tenant_id=tid, oid=oid, name=name if isinstance(name, str) else "",
                           kind="app" if app_only else "user", client_id=client if isinstance(client, str) else "")

    async def claims(self, token: str) -> dict[str, Any]:
        """Signature and claim checks common to every kind of caller (not the tenant allow-list, nor
        what kind of token the route wants: `caller` and `admin_caller` check that). Raises ApiError.

        A token that passed every check is remembered (by its SHA-256, never the token itself)
        until it expires: the task pane sends the same token for an hour, and re-verifying an RSA
        signature on every sidebar call is most of the request's cost. Only expiry can change the
        verdict on an unchanged token; the tenant allow-list is re-checked on every call.
        """
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        hit = self._verified.get(digest)
        if hit is not None:
            if self._wall() < hit[1] + LEEWAY_SECONDS:
                return dict(hit[0])
            del self._verified[digest]
        claims = await self._verify(token)
        if len(self._verified) >= 10_000:  # bounded: a flood of distinct tokens only costs a reset
            self._verified.clear()
        self._verified[digest] = (dict(claims), float(claims["exp"]))
        return claims

    async def _verify(self, token: str) -> dict[str, Any]:
        if not self.audiences:
            # No audience to check against: refuse everything rather than accept any audience.
            raise ApiError(503, "the add-in API is not configured (RAPPORT_CLIENT_ID / RAPPORT_API_AUDIENCE unset)")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise unauthorized("the bearer token is not a well-formed JWT") from None
        alg = header.get("alg")
        if alg != "RS256":
            shown = re.sub(r"[^A-Za-z0-9]", "", str(alg))[:12] or "no algorithm"
            raise unauthorized(f"tokens signed with {shown} are not accepted; only RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise unauthorized("the token names no signing key (kid)")
        key = self.dev_keys.get(kid)
        if key is None:
            try:
                key = await self.keys.get(kid)
            except KeysUnavailable:
                raise keys_unavailable() from None
        if key is None:
            raise unauthorized("the token is signed by a key the identity provider does not publish")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=["RS256"], audience=self.audiences, leeway=LEEWAY_SECONDS,
                options={"require": _REQUIRED_CLAIMS, "verify_iss": False},  # iss depends on tid: below
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized("the access token has expired; get a new one") from None
        except jwt.ImmatureSignatureError:
            raise unauthorized("the access token is not valid yet (nbf/iat in the future)") from None
        except jwt.InvalidAudienceError:
            raise unauthorized("the access token was issued for another API (aud is not Rapport's)") from None
        except jwt.MissingRequiredClaimError as exc:
            raise unauthorized(f"the access token lacks the {exc.claim} claim") from None
        except jwt.InvalidSignatureError:
            raise unauthorized("the token signature is not valid") from None
        except jwt.PyJWTError:
            raise unauthorized("the bearer token is not a valid access token") from None
        self._check_claims(claims)
        return claims

    def _check_claims(self, c: dict[str, Any]) -> None:
        if "nonce" in c or "at_hash" in c or "c_hash" in c or ("azp" not in c and "appid" not in c):
            # v2 access tokens always name the client (azp); ID tokens never do and carry a nonce.
            raise unauthorized("an ID token is not an access token; request a token for Rapport's API")
        tid, oid = c.get("tid"), c.get("oid")
        if not isinstance(tid, str) or not _GUID.match(tid):
            raise unauthorized("the token's tenant id (tid) is malformed")
        if c.get("iss") != f"{self.host}/{tid}/v2.0":
            raise unauthorized("the token's issuer does not match its tenant (iss/tid), or is not a v2.0 issuer")
        if tid == MSA_TENANT:
            raise unauthorized("personal Microsoft accounts cannot use Rapport; sign in with your work account")
        if not isinstance(oid, str) or not _GUID.match(oid):
            raise unauthorized("the token's object id (oid) is malformed")

    @staticmethod
    def _check_user_token(c: Mapping[str, Any]) -> None:
        """A delegated token of a user carrying our scope (checked on every call, after the cache)."""
        if membership.is_app_only(c):
            raise forbidden("an app-only token cannot call a route that acts for a user")
        scopes = c.get("scp")
        if not isinstance(scopes, str) or REQUIRED_SCOPE not in scopes.split():
            raise forbidden(f"the token lacks the {REQUIRED_SCOPE} scope")

    async def _member(self, tid: str, oid: str) -> bool:
        now = self._clock()
        key = (tid, oid)
        hit = self._person_cache.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        member = await self._person_member(tid, oid)
        if len(self._person_cache) > 50_000:  # only signed tokens of allowed tenants get here; bounded anyway
            self._person_cache.clear()
        self._person_cache[key] = (member, now + (self._tenant_ttl if member else self._denied_ttl))
        return member

    async def _allowed(self, tid: str) -> bool:
        if tid in self._static_tenants:
            return True
        now = self._clock()
        hit = self._tenant_cache.get(tid)
        if hit is not None and hit[1] > now:
            return hit[0]
        allowed = await self._tenant_allowed(tid)
        if len(self._tenant_cache) > 10_000:  # only signed tokens get here, but keep memory bounded
            self._tenant_cache.clear()
        self._tenant_cache[tid] = (allowed, now + (self._tenant_ttl if allowed else self._denied_ttl))
        return allowed


# --- the process-wide validator the add-in routes use ---------------------------------------------

def entra_metadata_url(settings: Settings) -> str:
    # Entra publishes the same signing keys for every tenant; `common` needs one fetch for all.
    # The issuer is still checked against each token's own tid (_check_claims).
    return f"{settings.entra_authority_host.rstrip('/')}/common/v2.0/.well-known/openid-configuration"


async def _store_tenant_allowed(tid: str) -> bool:
    from rapport.store.errors import StoreUnavailable

    try:
        tenant = await (await runtime.store()).get_tenant(tid)
    except StoreUnavailable:
        raise ApiError(503, "sign-in cannot be checked right now (the store is unavailable); try again shortly",
                       headers={"retry-after": "10"}) from None
    return tenant is not None and tenant.allowed and tenant.tenantId == tid


async def _store_person_member(tid: str, oid: str) -> bool:
    from rapport.store.errors import StoreUnavailable

    try:
        person = await (await runtime.store()).get_person(tid, oid)
    except StoreUnavailable:
        raise ApiError(503, "sign-in cannot be checked right now (the store is unavailable); try again shortly",
                       headers={"retry-after": "10"}) from None
    return membership.is_member(person, tid)


def make_validator(settings: Settings, *, keys: KeySet | None = None,
                   tenant_allowed: TenantCheck | None = None) -> EntraValidator:
    return EntraValidator(
        settings, keys or KeySet(entra_metadata_url(settings)), tenant_allowed or _store_tenant_allowed,
        dev_keys=dev.accepted_dev_keys(settings),
    )


def validator() -> EntraValidator:
    """The process validator: runtime.services().entra_validator, else one made from the settings and
    kept while the services stay the same (a local host starting or stopping changes them, and with
    its declared bind whether the dev key is among the keys)."""
    services = runtime.services()
    if services.entra_validator is not None:
        return services.entra_validator
    settings = runtime.settings()
    return services.once("entra_validator", lambda: make_validator(settings))


async def authenticate_request(request: Request) -> Caller:
    """The caller of an add-in API request, or ApiError 401/403/503."""
    return await validator().caller(request.headers)


async def authenticate_admin(request: Request) -> AdminCaller:
    """The caller of an admin API request (the admin app role, an onboarded tenant), or ApiError."""
    return await validator().admin_caller(request.headers, _store_tenant_allowed)
