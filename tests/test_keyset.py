"""The signing-key cache under a burst at cold start: one fetch, everyone waits for it, nobody gets 503."""

import asyncio

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from rapport.identity.keys import KeySet, KeysUnavailable

META = "https://login.example.test/common/v2.0/.well-known/openid-configuration"
JWKS = "https://login.example.test/common/discovery/v2.0/keys"


def _jwk(kid: str) -> dict:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
    jwk.update(kid=kid, use="sig")
    return jwk


async def test_a_burst_at_cold_start_waits_for_the_one_fetch():
    gate = asyncio.Event()
    calls = []
    doc = {"keys": [_jwk("k1")]}

    async def fetch(url):
        calls.append(url)
        await gate.wait()  # the first fetch is slow: everyone else arrives meanwhile
        return {"jwks_uri": JWKS} if url == META else doc

    keys = KeySet(META, fetch=fetch)
    waiting = [asyncio.create_task(keys.get("k1")) for _ in range(10)]
    await asyncio.sleep(0)
    gate.set()
    found = await asyncio.gather(*waiting)
    assert all(k is not None and k.kid == "k1" for k in found)
    assert calls == [META, JWKS]  # exactly one refresh for the whole burst


async def test_a_failed_first_fetch_is_not_hammered():
    calls = []

    async def fetch(url):
        calls.append(url)
        raise KeysUnavailable("down")

    now = [1000.0]
    keys = KeySet(META, fetch=fetch, clock=lambda: now[0])
    with pytest.raises(KeysUnavailable):
        await keys.get("k1")
    with pytest.raises(KeysUnavailable):
        await keys.get("k1")  # within the cold-retry window: answered at once, no second fetch
    assert calls == [META]
    now[0] += 11
    with pytest.raises(KeysUnavailable):
        await keys.get("k1")
    assert calls == [META, META]
