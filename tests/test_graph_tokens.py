"""Graph tokens through msal against the identity stand-in (msal's own HTTP client hook)."""

from __future__ import annotations

import asyncio

import jwt
import pytest
import requests

from rapport.identity.graph_tokens import (
    ConsentRequired,
    GraphTokens,
    SignInRequired,
    TenantRevoked,
    TokenServiceUnavailable,
    store_state_hook,
)
from rapport.records import Tenant
from rapport.store import make_store
from tests.plugins.identity import CLIENT_ID, TENANT_A, TENANT_B, identity_settings


@pytest.fixture
def http(test_ca) -> requests.Session:
    s = requests.Session()
    s.verify = str(test_ca.ca_path)  # msal talks HTTPS to the stand-in, trusting only the test CA
    return s


@pytest.fixture
async def store(identity_server, tmp_path):
    settings = identity_settings(identity_server, tmp_path)
    st = make_store(settings)
    await st.open()
    for tid in (TENANT_A, TENANT_B):
        await st.put_tenant(Tenant(id=tid, tenantId=tid, name=f"Firm {tid[:4]}"))
    yield st
    await st.close()


@pytest.fixture
def clock() -> list[float]:
    return [5000.0]


@pytest.fixture
def graph(identity_server, tmp_path, http, store, clock) -> GraphTokens:
    return GraphTokens(identity_settings(identity_server, tmp_path), http_client=http,
                       on_state=store_state_hook(store), clock=lambda: clock[0])


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


async def test_app_token_per_tenant_and_cached(graph, identity_server):
    a = await graph.app_token(TENANT_A)
    b = await graph.app_token(TENANT_B)
    assert claims_of(a)["tid"] == TENANT_A and claims_of(b)["tid"] == TENANT_B
    grants = [r for r in identity_server.token_requests if r["grant_type"] == "client_credentials"]
    assert [r["tenant"] for r in grants] == [TENANT_A, TENANT_B]
    assert grants[0]["client_id"] == CLIENT_ID and "graph.microsoft.com/.default" in grants[0]["scope"]
    assert await graph.app_token(TENANT_A) == a  # msal's cache: no second request
    assert len(identity_server.token_requests) == 2


async def test_msal_runs_off_the_event_loop(graph, identity_server):
    identity_server.delay = 0.2  # a slow token endpoint: the event loop must keep turning meanwhile
    ticks = 0
    task = asyncio.create_task(graph.app_token(TENANT_A))
    while not task.done():
        ticks += 1
        await asyncio.sleep(0)
    assert claims_of(await task)["tid"] == TENANT_A
    assert ticks > 10


async def test_obo_token(graph, identity_server):
    token = await graph.obo_token(TENANT_A, "the-users-api-token", ["https://graph.microsoft.com/Mail.Read"])
    assert claims_of(token)["idtyp"] == "user"
    req = identity_server.token_requests[-1]
    assert req["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert req["requested_token_use"] == "on_behalf_of"
    assert "assertion" not in req  # (the stand-in never records it; nor may we log it)


async def test_consent_required_typed_state_and_others_unaffected(graph, identity_server, store, clock):
    identity_server.tenant_errors[TENANT_A] = "consent_required"
    with pytest.raises(ConsentRequired) as info:
        await graph.app_token(TENANT_A)
    assert info.value.tenant_id == TENANT_A
    assert f"/{TENANT_A}/adminconsent?client_id={CLIENT_ID}" in info.value.consent_url
    assert info.value.consent_url.startswith(identity_server.base_url)
    assert (await store.get_tenant(TENANT_A)).consentState == "needs_admin_consent"
    # another firm is untouched
    assert claims_of(await graph.app_token(TENANT_B))["tid"] == TENANT_B
    assert (await store.get_tenant(TENANT_B)).consentState == "ok"
    # while in that state, the token endpoint is not asked again
    asked = len(identity_server.token_requests)
    with pytest.raises(ConsentRequired):
        await graph.app_token(TENANT_A)
    assert len(identity_server.token_requests) == asked


async def test_consent_granted_clears_state(graph, identity_server, store):
    identity_server.tenant_errors[TENANT_A] = "consent_required"
    with pytest.raises(ConsentRequired):
        await graph.app_token(TENANT_A)
    del identity_server.tenant_errors[TENANT_A]
    await graph.clear(TENANT_A)
    graph._apps.pop(TENANT_A)  # msal remembers the 400 for a minute per app; a re-onboarding makes a new one
    assert claims_of(await graph.app_token(TENANT_A))["tid"] == TENANT_A
    assert (await store.get_tenant(TENANT_A)).consentState == "ok"


async def test_claims_challenge_on_obo_is_sign_in_required(graph, identity_server):
    identity_server.tenant_errors[TENANT_A] = "claims_challenge"
    with pytest.raises(SignInRequired) as info:
        await graph.obo_token(TENANT_A, "assertion")
    assert info.value.claims and "capolids" in info.value.claims


async def test_revoked_user_grant_is_sign_in_required(graph, identity_server):
    identity_server.tenant_errors[TENANT_A] = "user_revoked"
    with pytest.raises(SignInRequired):
        await graph.obo_token(TENANT_A, "assertion")


async def test_app_removed_from_tenant_is_revoked_state(graph, identity_server, store):
    identity_server.tenant_errors[TENANT_B] = "revoked"
    with pytest.raises(TenantRevoked):
        await graph.app_token(TENANT_B)
    assert (await store.get_tenant(TENANT_B)).consentState == "revoked"
    assert graph.states[TENANT_B] == "revoked"
    assert claims_of(await graph.app_token(TENANT_A))["tid"] == TENANT_A


async def test_token_endpoint_outage(graph, identity_server):
    identity_server.down.add("token")
    with pytest.raises(TokenServiceUnavailable):
        await graph.app_token(TENANT_A)


async def test_authority_metadata_outage_then_recovery(graph, identity_server):
    identity_server.down.add("entra-meta")
    with pytest.raises(TokenServiceUnavailable):
        await graph.app_token(TENANT_A)
    assert TENANT_A not in graph._apps  # the half-made app is not cached
    identity_server.down.clear()
    assert claims_of(await graph.app_token(TENANT_A))["tid"] == TENANT_A


async def test_token_endpoint_unreachable(graph, identity_server):
    await identity_server.stop()
    with pytest.raises(TokenServiceUnavailable):
        await graph.app_token(TENANT_A)


async def test_untrusted_certificate_is_refused(identity_server, tmp_path):
    s = requests.Session()
    s.verify = True  # the system store does not know the test CA
    s.trust_env = False
    tokens = GraphTokens(identity_settings(identity_server, tmp_path), http_client=s)
    with pytest.raises(TokenServiceUnavailable):
        await tokens.app_token(TENANT_A)


async def test_state_recorded_in_the_runtime_store_by_default(identity_server, tmp_path, http, store):
    """GraphTokens(settings) as the sync makes it: the state lands on the Tenant record."""
    from rapport import runtime

    settings = identity_settings(identity_server, tmp_path)
    with runtime.override(settings=settings, store=store):
        identity_server.tenant_errors[TENANT_A] = "consent_required"
        with pytest.raises(ConsentRequired):
            await GraphTokens(settings, http_client=http).app_token(TENANT_A)
        assert (await store.get_tenant(TENANT_A)).consentState == "needs_admin_consent"
