"""The sidebar's relationship buttons: ask for an introduction, and an owner's choice of who sees a contact.

POST /api/addin/intro       {"email": sender, "reason": short text}
POST /api/addin/visibility  {"email": sender, "visibility": "private" | "team" | "firm"}

Both act as the token's caller in the token's tenant (any such fields in the body are ignored) and
call one domain function (rapport.relationships). Answers say what the caller may know and no
more: an introduction answer carries the caller's own request state only, never anything about
the contact; an unknown, walled or other tenant's contact is the same 404.
"""

from __future__ import annotations

from addin.auth import Caller, authenticated
from addin.context import email_param
from rapport import runtime, work
from rapport.records import iso
from rapport.relationships import intros, visibility
from rapport.web import Answer, ApiError, Request, parse_json_body

MAX_BODY = 4 * 1024
UNKNOWN = "this sender is not known to the firm"


def _body(request: Request) -> dict:
    ctype = (request.header("content-type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ApiError(415, "send the request as application/json")
    if len(request.body) > MAX_BODY:
        raise ApiError(413, "the request is too long")
    body = parse_json_body(request.body, ctype, max_bytes=MAX_BODY)
    if not isinstance(body, dict):
        raise ApiError(400, "expected a JSON object")
    return body


@authenticated
async def ask_intro(request: Request, caller: Caller) -> Answer:
    body = _body(request)
    email = email_param(body.get("email") if isinstance(body.get("email"), str) else None)
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 1000:
        raise ApiError(400, "the reason must be a short text (at most 300 characters are kept)")
    store = await runtime.store()
    out = await intros.ask(store, caller.tenant_id, caller.oid, email, reason)
    if out.status == "not_found":
        raise ApiError(404, UNKNOWN)
    if out.status == "visible":
        raise ApiError(409, "you already see this contact; there is nobody to ask")
    if out.status == "nobody":
        raise ApiError(409, "nobody at the firm can answer for this contact right now")
    req = out.request
    assert req is not None
    work.kick_coalesced(store, caller.tenant_id)  # the owner's card goes out after the answer
    return Answer(201 if out.status == "ok" else 200, {
        "requestId": req.id, "state": req.state, "asks": req.asks, "folded": out.status == "folded",
        "askedAt": iso(req.createdAt),
        "message": "Your request is on its way." if out.status == "ok" else out.message})


@authenticated
async def set_visibility(request: Request, caller: Caller) -> Answer:
    body = _body(request)
    email = email_param(body.get("email") if isinstance(body.get("email"), str) else None)
    try:
        choice = visibility.parse(body.get("visibility"))
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    try:
        _, previous = await visibility.set_visibility(await runtime.store(), caller.tenant_id, caller.oid, email,
                                                      choice)
    except visibility.NotOwner as exc:
        raise ApiError(403, str(exc)) from None
    return Answer(200, {"email": email, "visibility": choice, "previous": previous})
