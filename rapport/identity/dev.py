"""Local development sign-in: a dev key whose tokens go through the very same validation code.

RAPPORT_DEV_AUTH=1 adds one public key (the local dev key) to the keys the add-in API accepts; it
never skips a check (alg, signature, exp, aud, iss/tid, scope, tenant allow-list all still apply).

Why a generated key, not one derived from a fixed seed: a derivable key would be known to everyone
with the repository, so any dev token would work on any dev host; a key generated once per machine
(`.rapport/dev-key.pem` beside the SQLite file, mode 0600, never committed) keeps a token that leaks
from one laptop useless on another, and nothing secret lives in the repo.

Loopback only, twice over: settings refuse RAPPORT_DEV_AUTH with a non-loopback RAPPORT_PUBLIC_URL,
and the dev key is accepted only after the host declared a loopback bind address (the local host,
local/host.py, checks it with `check_bind` and sets runtime.services().bind_host while it serves).
Azure Functions never declares one, so production cannot enable it. rapport.identity.tokens makes
its process validator per services (so per settings and bind): nothing here reaches into it.

The /dev/* routes (the task pane preview's token and senders, its meeting list, the local outbox and
its card buttons) exist only when `dev_route_open` says so: THE rule, called by every one of them
(`dev_only` for function_app's handlers, local/host.py for the host's own routes) before anything
else, authentication included, so elsewhere they answer exactly like a path that does not exist.

The local host also names the tenant the preview acts in (runtime.services().preview_tenant: the
demo firm); Rapport itself knows no demo. This module imports rapport.settings, rapport.web,
rapport.records, rapport.runtime and rapport.identity.keys/caller/membership.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from rapport import runtime
from rapport.identity.caller import REQUIRED_SCOPE
from rapport.identity.keys import PublicKey
from rapport.identity.membership import is_member
from rapport.records import Tenant
from rapport.settings import Settings, SettingsError
from rapport.web import Answer, ApiError, Request

DEV_AUDIENCE = "api://rapport-dev"  # audience of dev tokens when no API audience is configured
DEV_CLIENT = "rapport-dev-token"  # the client (azp) of dev tokens: ours only while the dev key is accepted


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    h = host.strip().strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, host: str) -> None:
    """Raise SettingsError if this bind address is not allowed with these settings."""
    if settings.dev_auth and not is_loopback(host):
        raise SettingsError(f"RAPPORT_DEV_AUTH=1 is refused: the host binds to {host}, not a loopback address "
                            "(dev tokens are for this machine only)")


def declared_bind() -> str | None:
    """The bind address a host declared in this process (runtime.services().bind_host), or None
    (always None on Azure)."""
    return runtime.services().bind_host


def bound_to_loopback() -> bool:
    """True only when a host declared a loopback bind address in this process."""
    return is_loopback(declared_bind())


def preview_tenant() -> str | None:
    """The tenant the task pane preview acts in (the local host names its demo firm), or None."""
    return runtime.services().preview_tenant


async def only_tenant(store: Any) -> Tenant | None:
    """The one onboarded tenant, or None when there are none or several."""
    tenants = await store.list_tenants()
    return tenants[0] if len(tenants) == 1 else None


# --- the /dev/* routes -------------------------------------------------------------------------

# A Host header as RFC 9110 has it for this machine: a name or an IPv4 literal, or a bracketed IPv6
# literal, then an optional port. Nothing else (userinfo, a second value, a trailing dot, spaces)
# is read leniently: a lenient parse is how "127.0.0.1.attacker.example" or "[::1]@x" get through.
_HOST_HEADER = re.compile(r"(?P<name>[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::(?P<port>[0-9]{1,5}))?")
_IPV4 = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){3}")  # dotted quad only: no 127.1, 0x7f.0.0.1, 2130706433


def loopback_host(value: str | None) -> bool:
    """True for a Host (or an Origin's host[:port]) naming this machine: localhost, 127.0.0.0/8, [::1].

    DNS rebinding makes a browser send the attacker's name here, and a proxy passes on whatever its
    client sent; either way the name is not one of these, so the route stays hidden."""
    m = _HOST_HEADER.fullmatch(value or "")
    if m is None or (m["port"] is not None and not 0 < int(m["port"]) < 65536):
        return False
    name = m["name"]
    if not name.startswith("[") and name.lower() != "localhost" and not _IPV4.fullmatch(name):
        return False  # a name other than localhost resolves wherever its owner says
    return is_loopback(name)


def dev_route_open(host_header: str | None, settings: Settings | None = None) -> bool:
    """THE rule for every /dev/* route: RAPPORT_DEV_AUTH=1, a loopback bind declared by this process
    (Azure never declares one), and a loopback Host header. Anything else: the route does not exist."""
    if settings is None:
        settings = runtime.settings()
    return bool(settings.dev_auth) and bound_to_loopback() and loopback_host(host_header)


NO_SUCH_ROUTE = "no such route"  # word for word what a host answers for a path it does not serve


def dev_only(handler: Callable[[Request], Awaitable[Answer]]) -> Callable[[Request], Awaitable[Answer]]:
    """Wrap a /dev/* handler of function_app so it exists only where `dev_route_open` holds. Put it
    outermost (above @authenticated): a hidden route must not answer 401 and so show it exists."""

    @functools.wraps(handler)
    async def guarded(request: Request) -> Answer:
        if not dev_route_open(request.header("host")):
            raise ApiError(404, NO_SUCH_ROUTE)
        return await handler(request)

    return guarded


# --- the key ---------------------------------------------------------------------------------

def dev_key_path(settings: Settings) -> Path:
    return Path(settings.sqlite_path).parent / "dev-key.pem"


def load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        try:
            # O_EXCL: if `rapport serve` and `rapport dev-token` race, one key wins and both read it.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise SettingsError(f"{path} is not an RSA private key; delete it to make a new dev key")
    return loaded


def key_id(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "rapport-dev-" + hashlib.sha256(der).hexdigest()[:16]


def accepted_dev_keys(settings: Settings) -> dict[str, PublicKey]:
    """The dev key to accept, or nothing: dev auth off, or no loopback bind declared."""
    if not settings.dev_auth or not bound_to_loopback():
        return {}
    key = load_or_create_key(dev_key_path(settings))
    kid = key_id(key)
    return {kid: PublicKey(kid, key.public_key())}


def mint_dev_token(settings: Settings, tenant_id: str, oid: str, *, name: str = "", upn: str = "",
                   lifetime: int = 8 * 3600) -> str:
    """A token shaped like an Entra v2 access token for Rapport's API, signed by the dev key."""
    key = load_or_create_key(dev_key_path(settings))
    now = int(time.time())
    claims: dict[str, Any] = {
        "aud": settings.api_audience or settings.client_id or DEV_AUDIENCE,
        "iss": f"{settings.entra_authority_host.rstrip('/')}/{tenant_id}/v2.0",
        "iat": now, "nbf": now, "exp": now + lifetime, "ver": "2.0",
        "tid": tenant_id, "oid": oid, "sub": uuid.uuid4().hex, "name": name, "preferred_username": upn,
        "scp": REQUIRED_SCOPE, "azp": DEV_CLIENT, "azpacr": "0",
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": key_id(key), "typ": "JWT"})


class DevTokenRefused(Exception):
    """Why no dev token is minted; the message says what to do (the CLI prints it)."""


async def dev_token_for(settings: Settings, store: Any, tenant_id: str, upn: str | None) -> str:
    """A dev token for a person of an onboarded tenant (`rapport dev-token`): `upn`, or the tenant's
    first listed partner. Raises DevTokenRefused when dev auth is off or there is no such person."""
    if not settings.dev_auth:
        raise DevTokenRefused("RAPPORT_DEV_AUTH=1 is not set; dev tokens are for local use only")
    record = await store.get_tenant(tenant_id)
    if record is None:
        raise DevTokenRefused(f"tenant {tenant_id} is not onboarded (rapport tenant add, or serve --demo)")
    upn = upn or (record.partners[0] if record.partners else None)
    person = await store.person_by_upn(tenant_id, upn) if upn else None
    if not is_member(person, tenant_id):  # the API would refuse its token anyway (rapport.identity.membership)
        raise DevTokenRefused(f"no person {upn or '(no partners listed)'} in tenant {tenant_id}")
    return mint_dev_token(settings, tenant_id, person.oid, name=person.name, upn=person.upn)
