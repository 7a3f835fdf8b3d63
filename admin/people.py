"""/api/admin/people: the firm's people and roles over HTTP, the same functions as `rapport people`.

GET list; POST add {"upn", "role"?, "oid"?, "name"?, "capture"?}; DELETE remove (?who=UPN-or-oid,
or {"who"}); PATCH set the role {"who", "role"}. The firm is the caller's (admin.auth), never a
parameter. Bad input 400, an unknown person 404, nothing written (rapport.firm.people).
"""

from __future__ import annotations

from typing import Any

from admin.auth import AdminCaller, admin_only
from rapport import runtime
from rapport.firm import FirmInputError
from rapport.firm import people as firm_people
from rapport.web import Answer, Request

VERBS = {"GET": "list", "POST": "add", "DELETE": "remove", "PATCH": "set_role"}


@admin_only(verbs=VERBS)
async def people(request: Request, caller: AdminCaller) -> Answer:
    store = await runtime.store()
    tid = caller.tenant_id
    if request.method == "GET":
        rows = await firm_people.list_people(store, tid)
        return Answer(200, {"people": [r.as_json() for r in rows]})
    if request.method == "POST":
        body = _object(request)
        capture = body.get("capture", False)
        if not isinstance(capture, bool):
            raise FirmInputError("capture must be true or false")
        person, action = await firm_people.add_person(
            store, tid, body.get("upn"), role=body.get("role", "partner"), oid=body.get("oid"), name=body.get("name"),
            capture=capture, graph=firm_people.directory(), actor=caller.actor)
        return Answer(201 if action == "added" else 200, {"action": action, "person": _row(person, capture)})
    if request.method == "DELETE":
        who = request.params.get("who") or (_object(request).get("who") if request.body else None)
        done = await firm_people.remove_person(store, tid, who, graph=firm_people.directory(), actor=caller.actor)
        return Answer(200, {"action": done["action"], "person": _row(done["person"], False),
                            "subscriptionsRetired": done["subscriptions"], "draftsExpired": done["drafts"]})
    body = _object(request)  # PATCH
    person, action = await firm_people.set_role(store, tid, body.get("who"), body.get("role"), actor=caller.actor)
    return Answer(200, {"action": action, "person": _row(person, None)})


def _object(request: Request) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise FirmInputError("the request body must be a JSON object")
    return body


def _row(person: Any, captured: bool | None) -> dict[str, Any]:
    out = {"oid": person.oid, "upn": person.upn, "name": person.name, "role": person.role, "enabled": person.enabled}
    if captured is not None:
        out["captured"] = captured
    return out
