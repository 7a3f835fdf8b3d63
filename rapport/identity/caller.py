"""The typed result of authenticating a request, and the scope that request's token must carry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

REQUIRED_SCOPE = "access_as_user"  # the delegated scope of Rapport's API (Entra and dev tokens alike)


@dataclass(frozen=True, slots=True)
class Caller:
    """A proven user: identity is (tenant_id, oid), never email or UPN (both can be reassigned)."""

    tenant_id: str
    oid: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class AdminCaller:
    """A proven caller of the admin API: a member of the firm, or the firm's own app (client
    credentials), whose token carries Rapport's admin app role for `tenant_id`. `oid` is the user's
    object id, or the app's service principal object id when `kind` is "app"."""

    tenant_id: str
    oid: str
    name: str = ""
    kind: Literal["user", "app"] = "user"
    client_id: str = ""  # the calling app (azp/appid): for the audit

    @property
    def actor(self) -> str:
        """Who the audit names: a user's oid, or "app:<service principal oid>"."""
        return self.oid if self.kind == "user" else f"app:{self.oid}"
