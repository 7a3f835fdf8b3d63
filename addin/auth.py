"""The one wrapper every add-in API route goes through: no bearer token proven, no handler call.

Usage (the only form add-in routes use):

    from addin.auth import authenticated, Caller

    @authenticated
    async def handler(request: Request, caller: Caller) -> Answer: ...

The wrapped function has the `async def (request) -> Answer` shape function_app._http expects and
carries `__rapport_authenticated__ = True`; tests/test_entra_tokens.py walks every function_app
route under api/addin/ and fails if one is not wrapped, so a route cannot be added without it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from rapport import telemetry
from rapport.identity import Caller, authenticate_request
from rapport.web import Answer, Request

__all__ = ["AUTH_MARK", "Caller", "authenticated", "is_authenticated"]

AUTH_MARK = "__rapport_authenticated__"

Handler = Callable[[Request, Caller], Awaitable[Answer]]


def authenticated(handler: Handler) -> Callable[[Request], Awaitable[Answer]]:
    """Wrap `handler(request, caller)` so it only runs for a caller with a valid Entra token."""

    @functools.wraps(handler)
    async def wrapper(request: Request) -> Answer:
        caller = await authenticate_request(request)  # raises ApiError 401/403/503, fail-closed
        telemetry.annotate(**{"rapport.tenant_id": caller.tenant_id})  # from the validated token only
        return await handler(request, caller)

    setattr(wrapper, AUTH_MARK, True)
    return wrapper


def is_authenticated(func: object) -> bool:
    """True when `func` is a handler made by `authenticated` (or a functools.wraps copy of one)."""
    return getattr(func, AUTH_MARK, False) is True
