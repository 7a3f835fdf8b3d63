"""The one wrapper every admin API route goes through: Rapport's admin app role proven, every call audited.

Usage (the only form admin routes use):

    from admin.auth import admin_only, AdminCaller

    @admin_only
    async def handler(request: Request, caller: AdminCaller) -> Answer: ...

    @admin_only(verbs={"POST": "import"})      # audit "admin.walls.import" instead of "admin.walls.create"
    async def walls(request: Request, caller: AdminCaller) -> Answer: ...

Who may call (rapport.identity.membership.admin_refusal, the validator's `admin_caller`): a token
validated exactly as the add-in's (rapport.identity.tokens: signature, aud, iss/tid, expiry) whose
`roles` carry Rapport's admin app role (membership.ADMIN_APP_ROLE, "Rapport.Admin"), of an
onboarded, allowed tenant. Both kinds of token Entra issues with an app role are accepted:
- app-only (client credentials), the firm's automation app to which its admin assigned the role:
  what a walls system or a provisioning script uses;
- delegated, a member of the firm (enabled, non-guest Person) with the role assigned, through one of
  Rapport's client apps with the access_as_user scope.
The tenant acted on is the token's `tid`, never a parameter or a body field: a handler is given
`caller.tenant_id` and nothing else names a firm.

The audit: every call by a proven caller is an AuditEvent "admin.<area>.<verb>" in the caller's
firm (area: the path segment after /api/admin/; verb from the method, or `verbs`), written BEFORE
the handler runs (an admin change cannot happen unaudited: if the audit cannot be written the call
is refused, 503) and completed with the answer's status afterwards. It records the actor, the
method, the status and the correlation id: never a body, a query value or the token. A token that
is not proven has no trustworthy firm to audit in; it is refused and logged (rapport.identity).

The wrapped function has the `async def (request) -> Answer` shape function_app._http expects and
carries `__rapport_admin_only__ = True`; tests/test_admin_auth.py walks every function_app route
under api/admin/ and fails if one is not wrapped.
"""

from __future__ import annotations

import functools
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import overload
from urllib.parse import urlsplit

from rapport import runtime
from rapport.identity.caller import AdminCaller
from rapport.identity.tokens import authenticate_admin
from rapport.records import AuditEvent, utcnow
from rapport.store.errors import StoreUnavailable
from rapport.web import Answer, ApiError, Request, refusal

__all__ = ["ADMIN_MARK", "AdminCaller", "admin_only", "audit_action", "is_admin_only"]

ADMIN_MARK = "__rapport_admin_only__"
log = logging.getLogger("rapport.admin")

Handler = Callable[[Request, AdminCaller], Awaitable[Answer]]
Route = Callable[[Request], Awaitable[Answer]]

VERBS = {"GET": "read", "HEAD": "read", "POST": "create", "PUT": "replace", "PATCH": "update", "DELETE": "delete"}
_AREA = re.compile(r"/api/admin/([a-z0-9][a-z0-9-]{0,39})(?:/|$)")


def audit_action(request: Request, verbs: dict[str, str] | None = None) -> str:
    """"admin.<area>.<verb>" for this request: a name from a fixed alphabet, never the caller's text
    beyond a short lower-case path segment."""
    m = _AREA.match(urlsplit(request.path).path.lower())
    area = m.group(1) if m else "unknown"
    verb = (verbs or {}).get(request.method) or VERBS.get(request.method, "other")
    return f"admin.{area}.{verb}"


@overload
def admin_only(handler: Handler) -> Route: ...
@overload
def admin_only(*, verbs: dict[str, str]) -> Callable[[Handler], Route]: ...


def admin_only(handler: Handler | None = None, *, verbs: dict[str, str] | None = None):
    """Wrap `handler(request, caller)` so it runs only for a caller with Rapport's admin app role,
    audited. Use bare (`@admin_only`) or with audit verbs per method (`@admin_only(verbs={...})`)."""
    if handler is None:
        return lambda h: _wrap(h, verbs)
    return _wrap(handler, verbs)


def _wrap(handler: Handler, verbs: dict[str, str] | None) -> Route:
    @functools.wraps(handler)
    async def wrapper(request: Request) -> Answer:
        caller = await authenticate_admin(request)  # raises ApiError 401/403/503, fail-closed
        store = await runtime.store()
        event = AuditEvent(
            id=f"au_admin_{uuid.uuid4().hex}", tenantId=caller.tenant_id, at=utcnow(), actorOid=caller.actor,
            action=audit_action(request, verbs),
            details={"method": request.method, "via": caller.kind, "clientId": caller.client_id,
                     "correlationId": request.correlation_id, "status": None},
        )
        try:
            await store.audit(event)
        except StoreUnavailable:
            raise ApiError(503, "the admin API cannot record this call right now (the store is unavailable); "
                                "nothing was changed, try again shortly", headers={"retry-after": "10"}) from None
        status = 500
        try:
            answer = await handler(request, caller)
            status = answer.status
            return answer
        except Exception as exc:
            refused = refusal(exc)
            status = refused.status if refused is not None else 500
            raise
        finally:
            await _complete(store, event, status)

    setattr(wrapper, ADMIN_MARK, True)
    return wrapper


async def _complete(store, event: AuditEvent, status: int) -> None:
    """Add the answer's status to the call's audit event. Best effort: the call is already audited."""
    def change(e: AuditEvent) -> AuditEvent:
        e.details = {**e.details, "status": status}
        return e

    try:
        await store.update(AuditEvent, event.tenantId, event.id, change)
    except Exception:  # noqa: BLE001 - the event written before the call stands; the answer is not held up
        log.warning("could not complete the audit event of an admin call", extra={"tenant_id": event.tenantId})


def is_admin_only(func: object) -> bool:
    """True when `func` is a handler made by `admin_only` (or a functools.wraps copy of one)."""
    return getattr(func, ADMIN_MARK, False) is True
