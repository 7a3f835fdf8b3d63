"""/api/admin/settings: the firm's settings over HTTP, the same functions as `rapport tenant set|show`.

GET: the settings and the last sync times; PATCH {"key": value, ...}: generic over TenantSettings
(an unknown key or a bad value: 400 naming the keys, nothing written). The firm is the caller's.
"""

from __future__ import annotations

from admin.auth import AdminCaller, admin_only
from rapport import runtime
from rapport.firm import FirmInputError
from rapport.firm import settings as firm_settings
from rapport.web import Answer, Request


@admin_only(verbs={"GET": "show", "PATCH": "set"})
async def settings(request: Request, caller: AdminCaller) -> Answer:
    store = await runtime.store()
    if request.method == "GET":
        return Answer(200, await firm_settings.show(store, caller.tenant_id))
    body = request.json()
    if not isinstance(body, dict):
        raise FirmInputError("the request body must be a JSON object of settings")
    after, changed = await firm_settings.set_settings(store, caller.tenant_id, body, actor=caller.actor)
    return Answer(200, {"settings": after.model_dump(mode="json"), "changed": changed})
