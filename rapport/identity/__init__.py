"""Who is calling: Entra bearer tokens for the add-in API, dev tokens, Graph tokens.

Public surface (the rest of Rapport imports only these names):
- Caller: the proven identity (tenant id, user oid, display name) of an add-in API request.
- authenticate_request(request) -> Caller, raising rapport.web.ApiError 401/403/503.
- GraphTokens (rapport.identity.graph_tokens; its failures in rapport.identity.errors): app-only and on-behalf-of tokens per tenant.
- rapport.identity.membership: who is a person of the firm (may use Rapport) and who is a partner
  (Rapport captures and works for them); the one place either is decided.
- rapport.identity.dev: local development only (RAPPORT_DEV_AUTH=1): the dev key and its tokens, the
  loopback bind the local host declares, and `dev_route_open`/`dev_only`, THE rule of every /dev/* route.
  tokens imports dev (the dev key is one of the validator's keys), never the other way round.
"""

from __future__ import annotations

from rapport.identity.caller import Caller
from rapport.identity.tokens import authenticate_request

__all__ = ["Caller", "authenticate_request"]
