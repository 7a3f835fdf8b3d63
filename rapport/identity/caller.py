"""The typed result of authenticating a request, and the scope that request's token must carry."""

from __future__ import annotations

from dataclasses import dataclass

REQUIRED_SCOPE = "access_as_user"  # the delegated scope of Rapport's API (Entra and dev tokens alike)


@dataclass(frozen=True, slots=True)
class Caller:
    """A proven user: identity is (tenant_id, oid), never email or UPN (both can be reassigned)."""

    tenant_id: str
    oid: str
    name: str = ""
