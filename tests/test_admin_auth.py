"""The admin API's one wrapper (admin/auth.py): Rapport's admin app role on a validated Entra token
of an onboarded tenant, the tenant from the token only, every call audited.

Requests go through function_app._http (the adapter every route uses) with tokens minted by
tests/doubles and keys served over HTTPS by the identity stand-in (tests/plugins/identity.py).
Tenant B is onboarded (a Tenant record), A is allowed only by RAPPORT_ALLOWED_TENANTS (nothing to
administer), C is onboarded but not allowed, X is a stranger.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import azure.functions as func
import pytest

import function_app
from admin.auth import AdminCaller, admin_only, audit_action, is_admin_only
from rapport.identity.membership import ADMIN_APP_ROLE
from rapport.records import AuditEvent
from rapport.web import Answer, Request
from tests.plugins.identity import PERSON_OID, TENANT_A, TENANT_B, TENANT_C, TENANT_X, new_oid
from tests.test_entra_tokens import unwrapped_addin_routes

SCRIPT_APP = "77777777-8888-4999-8aaa-bbbbbbbbbbbb"  # the firm's own automation app (client credentials)
CANARY = "CANARY-BODY-adminprobe"
calls: list[AdminCaller] = []


@admin_only
async def probe(request: Request, caller: AdminCaller) -> Answer:
    calls.append(caller)
    return Answer(200, {"tid": caller.tenant_id, "kind": caller.kind, "actor": caller.actor})


@admin_only(verbs={"POST": "import"})
async def importer(request: Request, caller: AdminCaller) -> Answer:
    request.json()
    return Answer(202, {"ok": True})


async def call(handler, token: str | None, *, method: str = "GET", path: str = "/api/admin/probe",
               body: bytes = b"") -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body:
        headers["Content-Type"] = "application/json"
    req = func.HttpRequest(method, f"http://127.0.0.1:7071{path}", headers=headers, body=body)
    resp = await function_app._http(req, handler)
    raw = resp.get_body()
    if token:
        assert token.encode() not in raw
    return resp.status_code, json.loads(raw) if raw else None


def app_token(world, tid: str, oid: str | None = None, roles: list[str] | None = None, **kw) -> str:
    return world.minter.token(tid, oid or new_oid(), scp=None, idtyp="app", azp=SCRIPT_APP,
                              roles=[ADMIN_APP_ROLE] if roles is None else roles, **kw)


def user_token(world, tid: str, oid: str = PERSON_OID, roles: list[str] | None = None, **kw) -> str:
    return world.minter.token(tid, oid, roles=[ADMIN_APP_ROLE] if roles is None else roles, **kw)


async def audits(world, tid: str) -> list[AuditEvent]:
    return [e for e in await world.store.find_all(AuditEvent, tid) if e.action.startswith("admin.")]


# --- who is let in -------------------------------------------------------------------------------

async def test_app_only_token_with_the_role_is_an_admin_caller(entra):
    sp = new_oid()
    status, body = await call(probe, app_token(entra, TENANT_B, sp))
    assert status == 200, body
    assert body == {"tid": TENANT_B, "kind": "app", "actor": f"app:{sp}"}


async def test_delegated_member_token_with_the_role_is_an_admin_caller(entra):
    status, body = await call(probe, user_token(entra, TENANT_B))
    assert status == 200, body
    assert body == {"tid": TENANT_B, "kind": "user", "actor": PERSON_OID}


@pytest.mark.parametrize("case", ["no-role", "other-role", "app-no-role", "non-member", "guest", "other-client",
                                  "no-scope", "disabled-member"])
async def test_tokens_without_the_right_are_refused_403(entra, case):

    token = {
        "no-role": lambda: user_token(entra, TENANT_B, roles=[]),
        "other-role": lambda: user_token(entra, TENANT_B, roles=["Rapport.Reader", "rapport.admin"]),
        "app-no-role": lambda: app_token(entra, TENANT_B, roles=["Contacts.Read.All"]),
        "non-member": lambda: user_token(entra, TENANT_B, new_oid()),
        "guest": lambda: user_token(entra, TENANT_B, acct=1),
        "other-client": lambda: user_token(entra, TENANT_B, azp=SCRIPT_APP),
        "no-scope": lambda: user_token(entra, TENANT_B, scp="User.Read"),
        "disabled-member": lambda: user_token(entra, TENANT_B, PERSON_OID),
    }[case]()
    if case == "disabled-member":
        p = await entra.store.get_person(TENANT_B, PERSON_OID)
        p.enabled = False
        await entra.store.put(p)
    calls.clear()
    status, body = await call(probe, token)
    assert status == 403, body
    assert ADMIN_APP_ROLE in body["error"]["message"] and body["error"]["correlationId"]
    assert calls == [] and await audits(entra, TENANT_B) == []


@pytest.mark.parametrize("tid", [TENANT_A, TENANT_C, TENANT_X])
async def test_a_tenant_that_is_not_onboarded_and_allowed_is_refused_401(entra, tid):
    calls.clear()
    for token in (app_token(entra, tid), user_token(entra, tid)):
        status, body = await call(probe, token)
        assert status == 401, body
    assert calls == []


async def test_no_token_or_a_forged_one_is_refused(entra):
    from tests.doubles.tokens import SigningKey

    assert (await call(probe, None))[0] == 401
    forged = entra.minter.token(TENANT_B, new_oid(), scp=None, idtyp="app", roles=[ADMIN_APP_ROLE],
                                key=SigningKey.generate(entra.server.entra_key.kid))
    assert (await call(probe, forged))[0] == 401
    expired = app_token(entra, TENANT_B, offset=-7200)
    assert (await call(probe, expired))[0] == 401
    assert await audits(entra, TENANT_B) == []


async def test_an_admin_token_is_still_refused_on_the_addin_routes(entra):
    """The app role opens /api/admin/* only: an app-only token never acts for a user in the pane."""
    from tests.test_entra_tokens import whoami

    req = func.HttpRequest("GET", "http://127.0.0.1:7071/api/addin/whoami",
                           headers={"Authorization": f"Bearer {app_token(entra, TENANT_B)}"}, body=b"")
    assert (await function_app._http(req, whoami)).status_code == 403


async def test_the_tenant_is_the_tokens_whatever_the_request_names(entra):
    """A query or body naming another firm changes nothing: handlers only get caller.tenant_id."""
    status, body = await call(probe, app_token(entra, TENANT_B), path=f"/api/admin/probe?tenant={TENANT_A}")
    assert status == 200 and body["tid"] == TENANT_B
    assert await audits(entra, TENANT_A) == []


# --- every call audited ----------------------------------------------------------------------------

async def test_every_call_is_audited_with_actor_verb_and_status_never_the_body(entra):
    sp = new_oid()
    token = app_token(entra, TENANT_B, sp)
    assert (await call(probe, token))[0] == 200
    assert (await call(importer, token, method="POST", path="/api/admin/walls",
                       body=json.dumps({"text": CANARY}).encode()))[0] == 202
    assert (await call(importer, token, method="POST", path="/api/admin/walls", body=b"{not json"))[0] == 400
    events = sorted(await audits(entra, TENANT_B), key=lambda e: e.at)
    assert [(e.action, e.actorOid, e.details["status"]) for e in events] == [
        ("admin.probe.read", f"app:{sp}", 200),
        ("admin.walls.import", f"app:{sp}", 202),
        ("admin.walls.import", f"app:{sp}", 400),
    ]
    assert all(e.details["via"] == "app" and e.details["clientId"] == SCRIPT_APP for e in events)
    dumped = json.dumps([e.model_dump(mode="json") for e in events])
    assert CANARY not in dumped and token not in dumped


async def test_a_call_that_cannot_be_audited_is_refused_and_does_nothing(entra):
    from rapport import runtime
    from rapport.store.errors import StoreUnavailable

    class NoAudit:
        """The real store, whose audit write fails (Cosmos throttled or down)."""

        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        async def audit(self, event):
            raise StoreUnavailable("the store is unavailable")

    calls.clear()
    with runtime.override(store=NoAudit(entra.store)):
        status, body = await call(probe, app_token(entra, TENANT_B))
    assert status == 503 and "nothing was changed" in body["error"]["message"]
    assert calls == []


def test_audit_action_is_a_fixed_alphabet_name():
    def req(method: str, path: str) -> Request:
        return Request(method, f"http://h{path}", {}, {}, b"", "c")

    assert audit_action(req("PATCH", "/api/admin/people")) == "admin.people.update"
    assert audit_action(req("DELETE", "/api/admin/people/x?y=1")) == "admin.people.delete"
    assert audit_action(req("GET", "/api/admin/<script>/x")) == "admin.unknown.read"
    assert audit_action(req("POST", "/api/admin/walls"), {"POST": "import"}) == "admin.walls.import"


# --- a route cannot be added without the wrapper ------------------------------------------------

def test_every_admin_api_route_is_admin_only():
    source = inspect.getsource(function_app)
    assert unwrapped_addin_routes(source, vars(function_app), "api/admin", is_admin_only, "@admin_only") == []
    triggers = [fb._function.get_trigger() for fb in function_app.app._function_builders]
    routes = [t.route for t in triggers if getattr(t, "route", None)]
    assert len([r for r in routes if r.strip("/").startswith("api/admin")]) == source.count('route="api/admin')


def test_route_check_catches_an_unwrapped_admin_handler():
    async def naked(request: Request) -> Answer:
        return Answer(200, {})

    from tests.test_entra_tokens import whoami  # authenticated, but not admin_only: not enough

    source = (
        "@app.route(route=\"api/admin/leak\", methods=[\"GET\"])\n"
        "async def leak(req):\n    return await _http(req, naked)\n"
        "@app.route(route=\"api/admin/user\", methods=[\"GET\"])\n"
        "async def user(req):\n    return await _http(req, whoami)\n"
        "@app.route(route=\"api/admin/ok\", methods=[\"GET\"])\n"
        "async def ok(req):\n    return await _http(req, probe)\n"
    )
    bad = unwrapped_addin_routes(source, {"naked": naked, "whoami": whoami, "probe": probe},
                                 "api/admin", is_admin_only, "@admin_only")
    assert len(bad) == 2 and "api/admin/leak" in bad[0] and "api/admin/user" in bad[1]
