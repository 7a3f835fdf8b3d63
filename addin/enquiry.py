"""POST /api/addin/enquiry : the sidebar's enquiry actions for the sender of the open mail.

Body: {"action": "log", "email": sender} ("Log as enquiry" on an unknown sender: the caller owns
it; an open enquiry of the same person is returned instead of a second) or {"action": "stage",
"enquiryId", "stage", "reason"?} (the next-step button; "lost" needs a reason) or
{"action": "conflicts", "enquiryId"}. Tenant and caller come from the token only. The rules live in
rapport.pipeline.stages: an enquiry the caller may not see (walls, privacy, another tenant, a bad
id) is a 404, the same as none; someone who may see but not change it gets a 403.
"""

from __future__ import annotations

from addin.auth import Caller, authenticated
from rapport import runtime
from rapport.pipeline import notify, stages
from rapport.records import iso
from rapport.web import Answer, ApiError, Request, parse_json_body

MAX_BODY = 4 * 1024
_STATUS = {"ok": 200, "already": 200, "not_found": 404, "refused": 403, "invalid": 400}


@authenticated
async def enquiry_action(request: Request, caller: Caller) -> Answer:
    ctype = (request.header("content-type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ApiError(415, "send the action as application/json")
    if len(request.body) > MAX_BODY:
        raise ApiError(413, "the request is too long")
    body = parse_json_body(request.body, ctype, max_bytes=MAX_BODY)
    if not isinstance(body, dict):
        raise ApiError(400, "expected a JSON object with an action")
    store = await runtime.store()
    action = body.get("action")
    if action == "log":
        out = await stages.log_by_hand(store, caller.tenant_id, caller.oid, body.get("email"))
        if out.status == "ok" and out.enquiry is not None:
            await notify.queue(store, caller.tenant_id, out.enquiry.id, "new", caller.oid)
    elif action == "stage":
        out = await stages.change_stage(store, caller.tenant_id, caller.oid, body.get("enquiryId"), body.get("stage"),
                                        reason=body.get("reason") or "")
    elif action == "conflicts":
        out = await stages.set_conflicts_cleared(store, caller.tenant_id, caller.oid, body.get("enquiryId"))
    else:
        raise ApiError(400, "action must be log, stage or conflicts")
    status = _STATUS[out.status]
    if status == 404:
        raise ApiError(404, "this enquiry was not found")
    if status >= 400:
        raise ApiError(status, out.message or "this enquiry cannot be changed")
    e = out.enquiry
    facts = None if e is None else {"id": e.id, "stage": e.stage, "receivedAt": iso(e.receivedAt),
                                    "conflictsCleared": e.conflictsCleared}
    return Answer(200, {"message": out.message, "enquiry": facts}, headers={"Cache-Control": "no-store"})
