"""POST /api/admin/contacts/forget {"email": "..."}: erase one outside person from the caller's firm
and keep them from being captured again (rapport.firmdata.forget; as `rapport contact forget`)."""

from __future__ import annotations

from admin.auth import AdminCaller, admin_only
from rapport import runtime
from rapport.firmdata import Refused
from rapport.firmdata.forget import forget_contact
from rapport.web import Answer, ApiError, Request


@admin_only(verbs={"POST": "forget"})  # audited as admin.contacts.forget
async def forget(request: Request, caller: AdminCaller) -> Answer:
    body = request.json()
    email = body.get("email") if isinstance(body, dict) else None
    if not isinstance(email, str) or not email:
        raise ApiError(400, 'expected {"email": "<address>"}')
    try:
        report = await forget_contact(await runtime.store(), caller.tenant_id, email, actor=caller.actor)
    except Refused as exc:
        raise ApiError(400, str(exc)) from None
    # The answer names the suppression (a hash), never the address.
    return Answer(200, {"suppressionId": report.suppression_id, "counts": dict(report.counts)},
                  headers={"cache-control": "no-store"})
