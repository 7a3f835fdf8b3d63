"""POST /api/addin/enquiry : the sidebar's enquiry actions for the sender of the open mail.

Body: {"action": "log", "email": sender} ("Log as enquiry" on an unknown sender: the caller owns
it; an open enquiry of the same person is returned instead of a second) or {"action": "stage",
"enquiryId", "stage", "reason"?} (the next-step button; "lost" needs a reason) or
{"action": "conflicts", "enquiryId"} or {"action": "call", "enquiryId", "note"?} ("Log a call": the
caller spoke with the sender by phone, rapport.pipeline.calls) or {"action": "merge", "enquiryId",
"otherId"} ("Merge into one" when the sender has two open enquiries: the older is kept). Tenant and
caller come from the token only. The rules live in rapport.pipeline.stages and .calls: an enquiry
the caller may not see (walls, privacy, another tenant, a bad id) is a 404, the same as none;
someone who may see but not change it gets a 403; a missing enquiryId (or otherId) a 400.
"""

from __future__ import annotations

from addin.auth import Caller, authenticated
from rapport import runtime
from rapport.pipeline import calls, notify, stages
from rapport.records import iso
from rapport.web import Answer, ApiError, Request, parse_json_body

MAX_BODY = 16 * 1024  # a call's note of 2,000 characters in JSON, with room for escapes (as addin/notes.py)
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
    if action in ("stage", "conflicts", "call", "merge"):
        for field in ("enquiryId", "otherId") if action == "merge" else ("enquiryId",):
            if not isinstance(body.get(field), str) or not body[field].strip():
                raise ApiError(400, f"say which enquiry ({field})")
    if action == "log":
        out = await stages.log_by_hand(store, caller.tenant_id, caller.oid, body.get("email"))
        if out.status == "ok" and out.enquiry is not None:
            await notify.queue(store, caller.tenant_id, out.enquiry.id, "new", caller.oid)
    elif action == "stage":
        out = await stages.change_stage(store, caller.tenant_id, caller.oid, body.get("enquiryId"), body.get("stage"),
                                        reason=body.get("reason") or "")
    elif action == "conflicts":
        out = await stages.set_conflicts_cleared(store, caller.tenant_id, caller.oid, body.get("enquiryId"))
    elif action == "call":
        out = await calls.log_call(store, caller.tenant_id, caller.oid, body.get("enquiryId"), note=body.get("note"))
    elif action == "merge":
        out = await stages.merge_duplicate(store, caller.tenant_id, caller.oid, body.get("enquiryId"),
                                           body.get("otherId"))
    else:
        raise ApiError(400, "action must be log, stage, conflicts, call or merge")
    status = _STATUS[out.status]
    if status == 404:
        raise ApiError(404, "this enquiry was not found")
    if status >= 400:
        raise ApiError(status, out.message or "this enquiry cannot be changed")
    e = out.enquiry
    facts = None if e is None else {"id": e.id, "stage": e.stage, "receivedAt": iso(e.receivedAt),
                                    "conflictsCleared": e.conflictsCleared,
                                    "answeredAt": iso(e.firstResponseAt) if e.firstResponseAt else None,
                                    "answeredVia": e.firstResponseChannel or None}
    return Answer(200, {"message": out.message, "enquiry": facts}, headers={"Cache-Control": "no-store"})
