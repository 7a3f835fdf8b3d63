"""Signing keys from OpenID metadata: fetched off a pinned URL, parsed once, cached, refreshed rarely.

Used for Entra (add-in API) and, through bot/adapter.py, for the Bot Framework channel keys, so both
get the same behaviour (docs/reliability.md section 1):
- keys come only from the configured metadata URL and its `jwks_uri` on the same host (never from
  a token's `jku`/`x5u`/`jwk` header);
- parsed key objects are cached (no per-request JWK parsing: validation stays well under 0.5 ms);
- an unknown `kid` triggers one refresh, at most once per `min_refresh` seconds (a flood of forged
  kids cannot turn into a flood of fetches);
- after `max_age` the set is refreshed; if that fails the cached keys keep working (A9);
- with nothing cached and the endpoint down, KeysUnavailable: the caller answers 503, never skips.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from jwt.algorithms import RSAAlgorithm

log = logging.getLogger("rapport.identity")

FETCH_TIMEOUT = 5.0  # seconds; a hung key endpoint must not hang requests behind it


class KeysUnavailable(Exception):
    """The signing keys cannot be fetched and none are cached: answer 503, do not skip validation."""


@dataclass(frozen=True, slots=True)
class PublicKey:
    kid: str
    key: Any  # cryptography RSAPublicKey, ready for PyJWT
    endorsements: tuple[str, ...] | None = None  # Bot Framework: channels this key may sign for


FetchJson = Callable[[str], Awaitable[Any]]


def _default_ssl() -> ssl.SSLContext:
    # Made at first fetch, not import, so SSL_CERT_FILE (the test CA, a corporate CA) is honoured.
    return ssl.create_default_context()


def _get(url: str, ssl_context: ssl.SSLContext | None) -> Any:
    import urllib.request

    req = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "rapport"})
    ctx = (ssl_context or _default_ssl()) if url.startswith("https:") else None
    with urllib.request.urlopen(req, timeout=FETCH_TIMEOUT, context=ctx) as resp:  # noqa: S310 - pinned URL
        if resp.status != 200:
            raise KeysUnavailable(f"{urlparse(url).netloc} answered {resp.status}")
        return json.loads(resp.read(1024 * 1024))


async def fetch_json(url: str, *, ssl_context: ssl.SSLContext | None = None) -> Any:
    """GET a JSON document with a short timeout. Raises KeysUnavailable on any failure.

    stdlib urllib in a worker thread: this runs about once a day, and importing an async HTTP
    client here would add ~0.5 s to every cold start for nothing.
    """
    import urllib.error

    try:
        return await asyncio.to_thread(_get, url, ssl_context)
    except KeysUnavailable:
        raise
    except urllib.error.HTTPError as exc:
        raise KeysUnavailable(f"{urlparse(url).netloc} answered {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, ValueError, OSError) as exc:
        raise KeysUnavailable(f"{urlparse(url).netloc} unreachable: {type(exc).__name__}") from None


class KeySet:
    """The signing keys published behind one OpenID metadata URL."""

    def __init__(self, metadata_url: str, *, fetch: FetchJson | None = None,
                 clock: Callable[[], float] = time.monotonic, max_age: float = 24 * 3600,
                 min_refresh: float = 300.0) -> None:
        self.metadata_url = metadata_url
        self._fetch = fetch or fetch_json
        self._clock = clock
        self._max_age = max_age  # Bot Framework asks for <= 5 days; a day suits both
        self._min_refresh = min_refresh
        self._cold_retry = min(10.0, min_refresh)  # nothing cached: retry sooner than a refresh
        self._keys: dict[str, PublicKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._last_failed = False
        self._lock = asyncio.Lock()
        self.fetches = 0  # successful refreshes, for tests and the benchmark

    async def get(self, kid: str) -> PublicKey | None:
        """The key with this kid, or None if the publisher does not list it (after one refresh)."""
        now = self._clock()
        if self._fetched_at is None:
            # A fetch in flight is waited for (a burst at cold start must not get 503s); only a
            # recent *failed* first fetch answers "try later" at once, so an outage is not hammered.
            failed_recently = self._last_failed and self._attempted_at is not None \
                and now - self._attempted_at < self._cold_retry
            if failed_recently and not self._lock.locked():
                raise KeysUnavailable("signing keys unavailable (retrying shortly)")
            await self._refresh(required=True)
        elif now - self._fetched_at > self._max_age and self._may_try(now):
            await self._refresh(required=False)
        key = self._keys.get(kid)
        if key is None:
            if self._may_try(self._clock()):
                await self._refresh(required=False)
                key = self._keys.get(kid)
            if key is None and self._last_failed:
                # Possibly a rotation we cannot see because the endpoint is down: say "try later".
                raise KeysUnavailable("signing keys could not be refreshed")
        return key

    def _may_try(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self._min_refresh

    async def _refresh(self, *, required: bool) -> None:
        async with self._lock:
            # Another task may have refreshed (or tried) while this one waited for the lock.
            if required and self._fetched_at is not None:
                return
            if required and self._last_failed and self._attempted_at is not None \
                    and self._clock() - self._attempted_at < self._cold_retry:
                raise KeysUnavailable("signing keys unavailable (retrying shortly)")  # the fetch we waited for failed
            if not required and not self._may_try(self._clock()):
                return
            self._attempted_at = self._clock()
            try:
                keys = await self._load()
            except KeysUnavailable as exc:
                self._last_failed = True
                if required and not self._keys:
                    log.error("signing keys unavailable from %s: %s", self.metadata_url, exc)
                    raise
                log.warning("signing key refresh failed (%s); keeping %d cached keys", exc, len(self._keys))
                return
            self._keys = keys
            self._fetched_at = self._clock()
            self._last_failed = False
            self.fetches += 1

    async def _load(self) -> dict[str, PublicKey]:
        meta = await self._fetch(self.metadata_url)
        jwks_uri = meta.get("jwks_uri") if isinstance(meta, dict) else None
        if not isinstance(jwks_uri, str) or urlparse(jwks_uri).netloc != urlparse(self.metadata_url).netloc \
                or urlparse(jwks_uri).scheme != urlparse(self.metadata_url).scheme:
            # Keys only from the pinned host: metadata pointing elsewhere is treated as an outage.
            raise KeysUnavailable("metadata jwks_uri is missing or not on the metadata host")
        doc = await self._fetch(jwks_uri)
        out: dict[str, PublicKey] = {}
        for jwk in (doc.get("keys") if isinstance(doc, dict) else None) or []:
            if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
                continue
            kid = jwk.get("kid")
            if not isinstance(kid, str):
                continue
            try:
                key = RSAAlgorithm.from_jwk(jwk)
            except Exception:  # noqa: BLE001 - one bad key must not hide the good ones
                log.warning("ignoring malformed JWK %s from %s", kid, self.metadata_url)
                continue
            endorsements = jwk.get("endorsements")
            out[kid] = PublicKey(kid, key, tuple(endorsements) if isinstance(endorsements, list) else None)
        if not out:
            raise KeysUnavailable("key set is empty")
        return out
