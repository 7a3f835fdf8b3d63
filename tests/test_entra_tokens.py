"""Entra bearer tokens on add-in routes: docs/reliability.md section 1 (Entra ID tokens).

Every request goes through function_app._http (the real adapter every route uses) into a handler
wrapped by addin.auth.authenticated, with tokens minted by tests/doubles and keys served over
HTTPS by the identity stand-in.
"""

from __future__ import annotations

import ast
import inspect
import json
import logging
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

import function_app
from addin.auth import Caller, authenticated, is_authenticated
from rapport.web import Answer, Request
from tests.doubles.tokens import GRAPH_AUDIENCE, MSA_TENANT, SigningKey, hs256_with_public_key, unsigned
from tests.plugins.identity import (
    AUDIENCE,
    CLIENT_ID,
    PERSON_OID,
    TENANT_A,
    TENANT_B,
    TENANT_C,
    TENANT_X,
    entra_world,
    new_oid,
)

ROOT = Path(__file__).resolve().parents[1]


@authenticated
async def whoami(request: Request, caller: Caller) -> Answer:
    return Answer(200, {"tid": caller.tenant_id, "oid": caller.oid, "name": caller.name})


async def call(token: str | None = None, *, auth: str | None = None) -> tuple[int, Any, dict[str, str]]:
    headers = {}
    if auth is not None:
        headers["Authorization"] = auth
    elif token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = func.HttpRequest("GET", "http://127.0.0.1:7071/api/addin/whoami", headers=headers, body=b"")
    resp = await function_app._http(req, whoami)
    raw = resp.get_body()
    if token:
        assert token.encode() not in raw, "the answer echoes the token"
        assert token not in json.dumps(dict(resp.headers))
    return resp.status_code, json.loads(raw) if raw else None, dict(resp.headers)


def rejected(status: int, body: Any, headers: dict[str, str], want: int, words: str) -> None:
    assert status == want, body
    assert words in body["error"]["message"], body
    assert body["error"]["correlationId"]
    challenge = headers.get("www-authenticate") or headers.get("WWW-Authenticate")
    assert challenge and challenge.startswith("Bearer "), headers
    if want == 403:
        assert 'error="insufficient_scope"' in challenge


# --- the happy paths -----------------------------------------------------------------------------

async def test_valid_token_gives_caller_from_tid_and_oid(entra):
    oid = await entra.person(TENANT_A)
    status, body, _ = await call(entra.minter.token(TENANT_A, oid, name="Ada Partner"))
    assert status == 200
    assert body == {"tid": TENANT_A, "oid": oid, "name": "Ada Partner"}


async def test_onboarded_tenant_record_is_allowed(entra):
    status, body, _ = await call(entra.minter.token(TENANT_B))
    assert status == 200 and body["tid"] == TENANT_B


async def test_bare_client_id_audience_is_accepted(entra):
    status, _, _ = await call(entra.minter.token(TENANT_A, aud=CLIENT_ID))
    assert status == 200


async def test_identity_ignores_email_and_upn_claims(entra):
    oid = await entra.person(TENANT_A)
    token = entra.minter.token(TENANT_A, oid, preferred_username="boss@a.test", upn="boss@a.test", email="boss@a.test")
    status, body, _ = await call(token)
    assert status == 200 and body["oid"] == oid and "boss" not in json.dumps(body)


# --- header and algorithm --------------------------------------------------------------------------

async def test_missing_header(entra):
    status, body, headers = await call()
    rejected(status, body, headers, 401, "no Authorization header")
    assert entra.server.hits["entra-keys"] == 0  # nothing fetched for a request without a token


async def test_wrong_scheme(entra):
    status, body, headers = await call(auth="Basic dXNlcjpwYXNz")
    rejected(status, body, headers, 401, "Bearer scheme")


async def test_garbage_token(entra):
    status, body, headers = await call("not.a.jwt")
    rejected(status, body, headers, 401, "not a well-formed JWT")


async def test_alg_none_refused(entra):
    token = unsigned(entra.minter.claims(TENANT_A), kid=entra.server.entra_key.kid)
    status, body, headers = await call(token)
    rejected(status, body, headers, 401, "only RS256")


async def test_hs256_keyed_with_public_key_refused(entra):
    token = hs256_with_public_key(entra.minter.claims(TENANT_A), entra.server.entra_key)
    status, body, headers = await call(token)
    rejected(status, body, headers, 401, "only RS256")


async def test_oversized_token_refused(entra):
    status, body, headers = await call("a" * 20000)
    rejected(status, body, headers, 401, "too large")


async def test_jku_header_is_ignored_keys_only_from_metadata(entra):
    attacker = SigningKey.generate("attacker")
    token = entra.minter.token(TENANT_A, key=attacker, headers={"jku": "https://evil.test/keys", "jwk": attacker.jwk()})
    status, body, headers = await call(token)
    rejected(status, body, headers, 401, "key the identity provider does not publish")


async def test_forged_signature_with_known_kid(entra):
    forger = SigningKey(entra.server.entra_key.kid, SigningKey.generate().private)
    status, body, headers = await call(entra.minter.token(TENANT_A, key=forger))
    rejected(status, body, headers, 401, "signature is not valid")


# --- keys: unknown kid, rotation, outage ------------------------------------------------------------

async def test_unknown_kid_one_rate_limited_refresh(entra):
    assert (await call(entra.minter.token(TENANT_A)))[0] == 200
    fetched = entra.server.hits["entra-keys"]
    stranger = SigningKey.generate("unknown-kid")
    entra.clock[0] += 301  # past the refresh interval: one refresh allowed
    status, body, headers = await call(entra.minter.token(TENANT_A, key=stranger))
    rejected(status, body, headers, 401, "does not publish")
    assert entra.server.hits["entra-keys"] == fetched + 1
    for _ in range(5):  # a flood of unknown kids does not become a flood of fetches
        assert (await call(entra.minter.token(TENANT_A, key=SigningKey(f"k{_}", stranger.private))))[0] == 401
    assert entra.server.hits["entra-keys"] == fetched + 1


async def test_key_rotation_accepted(entra):
    assert (await call(entra.minter.token(TENANT_A)))[0] == 200
    new_key = entra.server.rotate_entra_key("entra-2")
    entra.clock[0] += 301
    status, _, _ = await call(entra.minter.token(TENANT_A, key=new_key))
    assert status == 200


async def test_keys_refreshed_after_max_age(entra):
    assert (await call(entra.minter.token(TENANT_A)))[0] == 200
    before = entra.server.hits["entra-keys"]
    entra.clock[0] += 24 * 3600 + 1
    assert (await call(entra.minter.token(TENANT_A)))[0] == 200
    assert entra.server.hits["entra-keys"] == before + 1


async def test_jwks_down_cached_keys_still_used(entra):
    assert (await call(entra.minter.token(TENANT_A)))[0] == 200
    entra.server.down |= {"entra-meta", "entra-keys"}
    entra.clock[0] += 24 * 3600 + 1  # the cache is due a refresh, which fails
    status, _, _ = await call(entra.minter.token(TENANT_A))
    assert status == 200


async def test_jwks_down_no_cache_503_never_skips(entra):
    entra.server.down |= {"entra-keys"}
    status, body, headers = await call(entra.minter.token(TENANT_A))
    assert status == 503, body
    assert "try again" in body["error"]["message"]
    assert headers.get("retry-after")
    # and a forged token does not slip through while the keys are away
    forged = hs256_with_public_key(entra.minter.claims(TENANT_A), entra.server.entra_key)
    assert (await call(forged))[0] == 401
    entra.server.down.clear()
    entra.clock[0] += 11
    assert (await call(entra.minter.token(TENANT_A)))[0] == 200


async def test_jwks_down_unknown_kid_is_503(entra):
    assert (await call(entra.minter.token(TENANT_A)))[0] == 200
    entra.server.down |= {"entra-keys", "entra-meta"}
    entra.clock[0] += 301
    status, body, _ = await call(entra.minter.token(TENANT_A, key=SigningKey.generate("rotated")))
    assert status == 503, body


# --- time ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("offset", "lifetime", "ok", "words"), [
    (-3600 - 360, 3600, False, "expired"),   # expired 6 min ago: beyond skew
    (-3600 - 240, 3600, True, ""),           # expired 4 min ago: within skew
    (360, 3600, False, "not valid yet"),     # valid from 6 min ahead
    (240, 3600, True, ""),                   # valid from 4 min ahead
])
async def test_exp_nbf_with_five_minutes_skew(entra, offset, lifetime, ok, words):
    status, body, headers = await call(entra.minter.token(TENANT_A, offset=offset, lifetime=lifetime))
    if ok:
        assert status == 200, body
    else:
        rejected(status, body, headers, 401, words)


async def test_missing_exp_refused(entra):
    status, body, headers = await call(entra.minter.token(TENANT_A, exp=None))
    rejected(status, body, headers, 401, "lacks the exp claim")


# --- audience, token kind, scope ------------------------------------------------------------------

@pytest.mark.parametrize("aud", [GRAPH_AUDIENCE, "https://graph.microsoft.com", "api://another-app", "99999999-2222-4333-8444-555555555555"])
async def test_other_audiences_refused(entra, aud):
    status, body, headers = await call(entra.minter.token(TENANT_A, aud=aud))
    rejected(status, body, headers, 401, "another API")


async def test_id_token_refused(entra):
    status, body, headers = await call(entra.minter.id_token(TENANT_A, client_id=CLIENT_ID))
    rejected(status, body, headers, 401, "ID token")


async def test_missing_scope_is_403(entra):
    status, body, headers = await call(entra.minter.token(TENANT_A, scp=None))
    rejected(status, body, headers, 403, "access_as_user")


async def test_other_scope_is_403(entra):
    status, body, headers = await call(entra.minter.token(TENANT_A, scp="User.Read Mail.Read"))
    rejected(status, body, headers, 403, "access_as_user")


async def test_app_only_token_on_user_route_is_403(entra):
    status, body, headers = await call(entra.minter.app_token(TENANT_A))
    rejected(status, body, headers, 403, "app-only")


# --- issuer and tenant ------------------------------------------------------------------------------

async def test_iss_of_another_tenant_refused(entra):
    token = entra.minter.token(TENANT_A, iss=f"{entra.server.base_url}/{TENANT_B}/v2.0")
    status, body, headers = await call(token)
    rejected(status, body, headers, 401, "issuer does not match")


async def test_v1_issuer_refused(entra):
    token = entra.minter.token(TENANT_A, iss=f"https://sts.windows.net/{TENANT_A}/")
    status, body, headers = await call(token)
    rejected(status, body, headers, 401, "issuer")


async def test_issuer_of_real_entra_refused_when_host_is_elsewhere(entra):
    token = entra.minter.token(TENANT_A, iss=f"https://login.microsoftonline.com/{TENANT_A}/v2.0")
    assert (await call(token))[0] == 401


async def test_tenant_not_allowed_401_and_alert(entra, caplog):
    caplog.set_level(logging.WARNING, logger="rapport.identity")
    token = entra.minter.token(TENANT_X)
    status, body, headers = await call(token)
    rejected(status, body, headers, 401, "not enabled for Rapport")
    alerts = [r for r in caplog.records if getattr(r, "alert", False)]
    assert alerts and alerts[0].tenant_id == TENANT_X
    assert all(token not in r.getMessage() for r in caplog.records)


async def test_tenant_record_with_allowed_false_refused(entra):
    status, body, headers = await call(entra.minter.token(TENANT_C))
    rejected(status, body, headers, 401, "not enabled")


async def test_personal_microsoft_account_refused_even_if_listed(identity_server, tmp_path):
    async with entra_world(identity_server, tmp_path, RAPPORT_ALLOWED_TENANTS=f"{TENANT_A},{MSA_TENANT}") as world:
        status, body, headers = await call(world.minter.token(MSA_TENANT))
        rejected(status, body, headers, 401, "personal Microsoft accounts")


async def test_onboarding_takes_effect_after_the_short_denial_cache(entra):
    from rapport.records import Tenant

    assert (await call(entra.minter.token(TENANT_X)))[0] == 401
    await entra.store.put_tenant(Tenant(id=TENANT_X, tenantId=TENANT_X, name="New firm"))
    await entra.person(TENANT_X, PERSON_OID)  # and its people (the minter signs as PERSON_OID)
    entra.clock[0] += 6
    assert (await call(entra.minter.token(TENANT_X)))[0] == 200


async def test_malformed_oid_refused(entra):
    status, body, headers = await call(entra.minter.token(TENANT_A, oid="not-a-guid"))
    rejected(status, body, headers, 401, "oid")


async def test_token_for_other_audience_setting_default(identity_server, tmp_path):
    """With RAPPORT_API_AUDIENCE unset, the audience is api://<client id> (rapport/settings.py)."""
    async with entra_world(identity_server, tmp_path, RAPPORT_API_AUDIENCE="") as world:
        assert (await call(world.minter.token(TENANT_A, aud=f"api://{CLIENT_ID}")))[0] == 200
        assert (await call(world.minter.token(TENANT_A, aud=AUDIENCE)))[0] == 401


# --- a route cannot be added without the wrapper ------------------------------------------------

def unwrapped_addin_routes(source: str, namespace: dict[str, Any], prefix: str = "api/addin",
                           wrapped: Any = is_authenticated, wrapper: str = "@authenticated") -> list[str]:
    """Routes under `prefix` (api/addin/) whose trigger does not hand a `wrapped` handler to _http
    (tests/test_admin_auth.py asks the same of api/admin/ and admin_only)."""
    bad: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef):
            continue
        route = None
        for deco in node.decorator_list:
            if isinstance(deco, ast.Call):
                for kw in deco.keywords:
                    if kw.arg == "route" and isinstance(kw.value, ast.Constant):
                        route = str(kw.value.value)
        if route is None or not route.strip("/").startswith(prefix):
            continue
        handlers = [c.args[1] for c in ast.walk(node) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
                    and c.func.id == "_http" and len(c.args) >= 2]
        if not handlers:
            bad.append(f"{route} (does not go through _http)")
            continue
        scope = dict(namespace)
        for imp in ast.walk(node):  # triggers import their handler lazily: resolve like they do
            if isinstance(imp, ast.Import | ast.ImportFrom):
                try:
                    exec(compile(ast.Module([imp], []), "<route>", "exec"), scope)  # noqa: S102
                except Exception:  # noqa: BLE001, S110 - unresolvable handlers are reported below
                    pass
        for h in handlers:
            try:
                target = eval(compile(ast.Expression(h), "<route>", "eval"), scope)  # noqa: S307
            except Exception:  # noqa: BLE001 - a handler we cannot resolve is not proven wrapped
                bad.append(f"{route} (handler {ast.unparse(h)} cannot be resolved)")
                continue
            if not wrapped(target):
                bad.append(f"{route} (handler {ast.unparse(h)} is not {wrapper})")
    return bad


def test_every_addin_api_route_is_authenticated():
    source = inspect.getsource(function_app)
    namespace = vars(function_app)
    assert unwrapped_addin_routes(source, namespace) == []
    # every registered api/addin route was seen by the check (none hidden from the AST walk)
    from local.host import functions

    triggers = [f.get_trigger() for f in functions(function_app.app)]
    routes = [t.route for t in triggers if getattr(t, "route", None)]
    addin_routes = [r for r in routes if r.strip("/").startswith("api/addin")]
    tree_routes = source.count('route="api/addin')
    assert len(addin_routes) == tree_routes


def test_route_check_catches_an_unwrapped_handler():
    async def naked(request: Request) -> Answer:
        return Answer(200, {})

    source = (
        "@app.route(route=\"api/addin/leak\", methods=[\"GET\"])\n"
        "async def leak(req):\n    return await _http(req, naked)\n"
        "@app.route(route=\"api/addin/ok\", methods=[\"GET\"])\n"
        "async def ok(req):\n    return await _http(req, whoami)\n"
        "@app.route(route=\"api/addin/raw\", methods=[\"GET\"])\n"
        "async def raw(req):\n    return None\n"
        "@app.route(route=\"api/addin/lazy\", methods=[\"GET\"])\n"
        "async def lazy(req):\n    from tests.test_entra_tokens import whoami as w\n    return await _http(req, w)\n"
    )
    bad = unwrapped_addin_routes(source, {"naked": naked, "whoami": whoami})
    assert len(bad) == 2 and "api/addin/leak" in bad[0] and "api/addin/raw" in bad[1]


# --- over real HTTP, through the local host that runs function_app ------------------------------

async def test_addin_route_over_http_through_devhost(entra):
    import aiohttp

    from local.host import DevHost

    token = entra.minter.token(TENANT_A)
    async with DevHost(entra.settings, store=entra.store) as host, aiohttp.ClientSession() as http:
        url = f"{host.base_url}/api/addin/context?email=someone@client.test"
        async with http.get(url) as resp:
            assert resp.status == 401
            assert resp.headers["WWW-Authenticate"].startswith("Bearer ")
        async with http.get(url, headers={"Authorization": f"Bearer {entra.minter.token(TENANT_X)}"}) as resp:
            assert resp.status == 401
        async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200, await resp.text()
            assert token not in await resp.text()


async def test_no_audience_configured_refuses_everything(identity_server, tmp_path):
    async with entra_world(identity_server, tmp_path, RAPPORT_API_AUDIENCE="", RAPPORT_CLIENT_ID="") as world:
        status, body, _ = await call(world.minter.token(TENANT_A))
        assert status == 503 and "not configured" in body["error"]["message"]


# --- the verified-token cache ----------------------------------------------------------------------

async def test_a_verified_token_is_remembered_only_until_it_expires(entra):
    import hashlib

    from rapport.identity import tokens as token_module
    from rapport.identity.keys import KeySet
    from rapport.web import ApiError

    validator = token_module.validator()
    token = entra.minter.token(TENANT_A, new_oid())
    first = await validator.claims(token)
    # Take the keys away: the same token still passes (remembered), a new one cannot be verified.
    validator.keys = KeySet("https://127.0.0.1:9/none/.well-known/openid-configuration", clock=entra.now)
    validator.dev_keys = {}
    assert (await validator.claims(token))["oid"] == first["oid"]
    with pytest.raises(ApiError):
        await validator.claims(entra.minter.token(TENANT_A, new_oid()))
    # Past its expiry (and the skew) the remembered verdict is dropped and the token re-verified.
    validator._wall = lambda: float(first["exp"]) + 301
    with pytest.raises(ApiError):
        await validator.claims(token)
    assert hashlib.sha256(token.encode()).digest() not in validator._verified
