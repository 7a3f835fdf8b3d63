"""GET /api/addin/context?email= : who the sender is to the firm, for the signed-in partner.

Answers from Rapport's own records through the viewer's ScopedStore (rapport.sidebar), never from
Graph or a model. The body is the Adaptive Card plus the same facts as plain JSON fields, so the
task pane renders the card and tests and other clients read the facts.
"""

from __future__ import annotations

import logging

from addin.auth import Caller, authenticated
from rapport import runtime, sidebar
from rapport.cards import context_card
from rapport.records import normalize_email, utcnow
from rapport.store import ScopedStore
from rapport.web import Answer, ApiError, Request

log = logging.getLogger("rapport.addin.context")

MAX_EMAIL_PARAM = 320  # RFC 5321 caps an address at 254; anything far longer is a mistake or probing


def email_param(raw: str | None) -> str:
    """The sender address from the query, normalized, or ApiError 400 saying what is wrong."""
    if raw is None or not raw.strip():
        raise ApiError(400, "the email parameter is required, e.g. ?email=name@example.com")
    if len(raw) > MAX_EMAIL_PARAM:
        raise ApiError(400, "the email parameter is too long to be an email address")
    try:
        return normalize_email(raw)
    except ValueError:
        raise ApiError(400, "the email parameter is not a valid email address") from None


@authenticated
async def context(request: Request, caller: Caller) -> Answer:
    email = email_param(request.params.get("email"))
    scoped = ScopedStore(await runtime.store(), caller.tenant_id, caller.oid)
    now = utcnow()
    facts = await sidebar.compose(scoped, email, now)
    # Status and trip count only: the address and the facts stay out of the logs.
    log.info("sidebar %s in %d store calls", facts["status"], scoped.calls,
             extra={"correlation_id": request.correlation_id, "tenant_id": caller.tenant_id})
    return Answer(200, {"card": context_card(facts, now), **facts},
                  headers={"cache-control": "private, no-store", "x-rapport-store-calls": str(scoped.calls)})
