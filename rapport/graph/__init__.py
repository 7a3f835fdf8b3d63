"""The Microsoft Graph client: the few Graph calls Rapport makes, through msgraph-sdk, with Graph's
limits honoured (per-mailbox concurrency, Retry-After, one HTTP client per tenant).

Owns the HTTP side of Graph and nothing of what the answers mean (capture, sending and brief
delivery build on it). msgraph-sdk is imported lazily inside the client, so importing this package
costs a cold start nothing. May import: the standard library only (tokens come in through a
`TokenProvider`, e.g. rapport.identity.graph_tokens).
"""

from rapport.graph.client import (
    EXCERPT_FIELD,
    MAIL_FOLDERS,
    MESSAGE_SELECT,
    DeltaExpired,
    DeltaPage,
    GraphClient,
    GraphError,
    GraphThrottled,
    TokenProvider,
    retry_after_seconds,
)

__all__ = [
    "EXCERPT_FIELD",
    "MAIL_FOLDERS",
    "MESSAGE_SELECT",
    "DeltaExpired",
    "DeltaPage",
    "GraphClient",
    "GraphError",
    "GraphThrottled",
    "TokenProvider",
    "retry_after_seconds",
]
