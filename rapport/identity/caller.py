"""The typed result of authenticating a request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Caller:
    """A proven user: identity is (tenant_id, oid), never email or UPN (both can be reassigned)."""

    tenant_id: str
    oid: str
    name: str = ""
