"""The only two places Rapport reaches inside a library, each because no public hook exists.

tests/test_seams.py fails when either library changes what these rely on, so an upgrade that moves
them is caught by the suite, not by a partner's failed click.

1. botframework-connector's JwtTokenExtractor finds the signing keys of a channel token by its
   OpenID metadata URL in the class-level dict `metadataCache`; there is no parameter to hand it a
   key source. We put our own key set there (rapport.identity.keys: cached, refreshed, fail-closed),
   so botbuilder checks signatures with the keys Rapport already vetted.
2. msrest (botbuilder's HTTP layer) builds a ClientRetryPolicy for every ConnectorClient, and its
   constructor tests `i not in safe_codes` over a 500-item list: ~13 ms of CPU per client, twice
   per card click. The same codes as a frozenset give the same policy in microseconds.
"""

from __future__ import annotations

from typing import Any


def hand_channel_keys_to_botbuilder(metadata_url: str, keys: Any) -> None:
    """Make botbuilder verify channel tokens from `metadata_url` with `keys` (seam 1)."""
    from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor

    JwtTokenExtractor.metadataCache[metadata_url] = keys


def channel_keys(metadata_url: str) -> Any:
    """What botbuilder will use for `metadata_url` (the lookup seam 1 relies on)."""
    from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor

    return JwtTokenExtractor.get_open_id_metadata(metadata_url)


def speed_up_retry_policy() -> None:
    """Seam 2; idempotent."""
    try:
        from msrest.universal_http.requests import ClientRetryPolicy
    except ImportError:  # pragma: no cover - msrest is botbuilder's dependency
        return
    if not isinstance(ClientRetryPolicy.safe_codes, frozenset):
        ClientRetryPolicy.safe_codes = frozenset(ClientRetryPolicy.safe_codes)  # type: ignore[assignment]
