"""Identity's typed token failures, as plain exceptions with no msal import, so that the code that
meets them (capture's sync opening a tenant's circuit, the follow-up sender) can catch them by class
without loading msal. rapport.identity.graph_tokens raises them. Imports: nothing first-party.
"""

from __future__ import annotations


class GraphTokenError(Exception):
    """Base of the typed token failures. Never carries a token or a secret."""

    def __init__(self, tenant_id: str, message: str) -> None:
        super().__init__(message)
        self.tenant_id = tenant_id


class ConsentRequired(GraphTokenError):
    def __init__(self, tenant_id: str, consent_url: str) -> None:
        super().__init__(tenant_id, f"tenant {tenant_id} needs admin consent: {consent_url}")
        self.consent_url = consent_url


class SignInRequired(GraphTokenError):
    def __init__(self, tenant_id: str, claims: str | None = None, reason: str = "") -> None:
        super().__init__(tenant_id, f"the user must sign in again ({reason or 'interaction required'})")
        self.claims = claims  # the claims challenge to pass back to the client, if any


class TenantRevoked(GraphTokenError):
    def __init__(self, tenant_id: str, reason: str = "") -> None:
        super().__init__(tenant_id, f"Rapport's access to tenant {tenant_id} was revoked ({reason})")


class TokenServiceUnavailable(GraphTokenError):
    pass


# The failures that only an admin (consent) or the user (sign-in) can clear: retrying is pointless.
CONSENT_ERRORS: tuple[type[GraphTokenError], ...] = (ConsentRequired, SignInRequired, TenantRevoked)

__all__ = [
    "CONSENT_ERRORS",
    "ConsentRequired",
    "GraphTokenError",
    "SignInRequired",
    "TenantRevoked",
    "TokenServiceUnavailable",
]
