"""/api/admin/people and /api/admin/settings: the same domain functions as the CLI, over HTTP,
behind admin_only. Tokens from tests/doubles via the identity stand-in; Graph is the stand-in; the
store is SQLite and the local Cosmos server (the `admin` fixture runs each test on both)."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
import pytest

import function_app
from rapport.identity.membership import ADMIN_APP_ROLE
from rapport.records import AuditEvent, Person, Tenant
from tests.plugins.identity import PERSON_OID, TENANT_A, TENANT_B, entra_world, new_oid

SCRIPT_APP = "77777777-8888-4999-8aaa-bbbbbbbbbbbb"
TENANT_D = "dddddddd-0000-4000-8000-00000000000d"  # another onboarded firm


@pytest.fixture(params=["sqlite", pytest.param("cosmos", marks=pytest.mark.cosmos)])
async def admin(request, identity_server, tmp_path, graph):
    extra = request.getfixturevalue("cosmos_env")() if request.param == "cosmos" else {}
    async with entra_world(identity_server, tmp_path, **extra) as world:
        await world.store.put_tenant(Tenant(id=TENANT_D, tenantId=TENANT_D, name="Firm D", domains=["d.test"]))
        b = await world.store.get_tenant(TENANT_B)
        b.domains = ["b.test", "firm.test"]
        await world.store.put_tenant(b)
        yield world
        if request.param == "cosmos":
            from tests.doubles.cosmos_server import drop_database

            await drop_database(request.getfixturevalue("cosmos_endpoint"), world.settings.cosmos_database)


def app_token(world, tid: str = TENANT_B, roles: list[str] | None = None) -> str:
    return world.minter.token(tid, new_oid(), scp=None, idtyp="app", azp=SCRIPT_APP,
                              roles=[ADMIN_APP_ROLE] if roles is None else roles)


async def call(token: str | None, method: str, route: str, body: Any = None, query: str = "") -> tuple[int, Any]:
    from urllib.parse import parse_qsl

    from admin.people import people
    from admin.settings import settings

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    raw = b""
    if body is not None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = func.HttpRequest(method, f"http://127.0.0.1:7071/api/admin/{route}{query}", headers=headers, body=raw,
                           params=dict(parse_qsl(query.lstrip("?"))))
    resp = await function_app._http(req, people if route == "people" else settings)
    out = resp.get_body()
    text = out.decode()
    assert "Traceback" not in text
    return resp.status_code, json.loads(out) if out else None


async def snapshot(world, tid: str) -> str:
    t = await world.store.get_tenant(tid)
    people = sorted(p.model_dump(mode="json", exclude={"etag"}) for p in await world.store.people(tid))
    return json.dumps([t.model_dump(mode="json", exclude={"etag"}), people], sort_keys=True, default=str)


# --- people -------------------------------------------------------------------------------------

async def test_people_list_add_set_role_remove_over_http(admin, graph_standin):
    token = app_token(admin)
    mb = graph_standin.add_mailbox(TENANT_B, "new.partner@b.test", "New Partner")
    status, body = await call(token, "POST", "people", {"upn": "new.partner@b.test", "role": "partner", "capture": True})
    assert status == 201, body
    assert body["person"] == {"oid": mb.oid, "upn": "new.partner@b.test", "name": "New Partner", "role": "partner",
                              "enabled": True, "captured": True}
    assert (await admin.store.get_tenant(TENANT_B)).partners[-1] == "new.partner@b.test"

    status, body = await call(token, "GET", "people")
    assert status == 200
    assert {p["upn"]: p["role"] for p in body["people"]} == {"ada@firm.test": "partner", "new.partner@b.test": "partner"}

    status, body = await call(token, "PATCH", "people", {"who": "new.partner@b.test", "role": "managing_partner"})
    assert status == 200 and body["person"]["role"] == "managing_partner" and body["action"] == "updated"

    status, body = await call(token, "DELETE", "people", query=f"?who={mb.oid}")
    assert status == 200 and body["action"] == "removed" and body["person"]["enabled"] is False
    p = await admin.store.get_person(TENANT_B, mb.oid)
    assert p is not None and not p.enabled and not p.captured  # the record stays, disabled

    actions = sorted(e.action for e in await admin.store.find_all(AuditEvent, TENANT_B))
    assert actions == sorted(["admin.people.add", "people.added", "admin.people.list", "admin.people.set_role",
                              "people.role_changed", "admin.people.remove", "people.removed"])
    domain = [e for e in await admin.store.find_all(AuditEvent, TENANT_B) if e.action.startswith("people.")]
    assert all(e.actorOid.startswith("app:") for e in domain)


@pytest.mark.parametrize("method, body, query, status, words", [
    ("POST", {"upn": "x@b.test", "role": "boss"}, "", 400, "unknown role 'boss'"),
    ("POST", {"upn": "not an address"}, "", 400, "not a user principal name"),
    ("POST", {"upn": "x@elsewhere.test"}, "", 400, "not in the firm's domains"),
    ("POST", {"upn": "ghost@b.test"}, "", 400, "no user ghost@b.test in the firm's directory"),
    ("POST", {"upn": "x@b.test", "capture": "yes"}, "", 400, "capture must be true or false"),
    ("POST", ["x@b.test"], "", 400, "JSON object"),
    ("POST", b"{not json", "", 400, "not valid JSON"),
    ("PATCH", {"who": "ada@firm.test", "role": "emperor"}, "", 400, "unknown role"),
    ("PATCH", {"who": "nobody@b.test", "role": "bd"}, "", 404, "no person nobody@b.test"),
    ("DELETE", None, "?who=nobody@b.test", 404, "no person"),
    ("DELETE", None, "", 400, "name the person"),
])
async def test_bad_people_input_is_a_4xx_with_a_message_and_nothing_written(admin, method, body, query, status, words):
    before = await snapshot(admin, TENANT_B)
    got, answer = await call(app_token(admin), method, "people", body, query)
    assert got == status, answer
    assert words in answer["error"]["message"] and answer["error"]["correlationId"]
    assert await snapshot(admin, TENANT_B) == before


async def test_refused_without_the_role_or_for_a_tenant_not_onboarded(admin):
    before = await snapshot(admin, TENANT_B)
    no_role = admin.minter.token(TENANT_B, PERSON_OID)  # a member, but no app role
    for token, want in ((no_role, 403), (app_token(admin, roles=[]), 403), (app_token(admin, TENANT_A), 401), (None, 401)):
        for method, route, body in (("GET", "people", None), ("POST", "people", {"upn": "x@b.test", "oid": new_oid(), "name": "X"}),
                                    ("DELETE", "people", {"who": "ada@firm.test"}), ("PATCH", "settings", {"briefLeadMinutes": 9})):
            status, answer = await call(token, method, route, body)
            assert status == want, (method, route, answer)
    assert await snapshot(admin, TENANT_B) == before
    assert [e for e in await admin.store.find_all(AuditEvent, TENANT_B)] == []


async def test_an_admin_of_one_firm_cannot_touch_another(admin):
    """The firm is the token's: another firm's person is "no such person", its settings untouched,
    and a parameter naming the other firm changes nothing."""
    other = new_oid()
    await admin.store.put(Person(id=other, tenantId=TENANT_D, oid=other, upn="dee@d.test", name="Dee"))
    before_d = await snapshot(admin, TENANT_D)
    token = app_token(admin, TENANT_B)
    assert (await call(token, "DELETE", "people", query=f"?who={other}&tenant={TENANT_D}"))[0] == 404
    assert (await call(token, "PATCH", "people", {"who": other, "role": "admin", "tenant": TENANT_D}))[0] == 404
    status, body = await call(token, "GET", "people", query=f"?tenant={TENANT_D}")
    assert status == 200 and "dee@d.test" not in json.dumps(body)
    status, body = await call(token, "PATCH", "settings", {"tenant": TENANT_D})
    assert status == 400 and "unknown setting 'tenant'" in body["error"]["message"]
    assert await snapshot(admin, TENANT_D) == before_d
    # and D's own admin sees only D
    status, body = await call(app_token(admin, TENANT_D), "GET", "people")
    assert [p["upn"] for p in body["people"]] == ["dee@d.test"]


# --- settings -------------------------------------------------------------------------------------

async def test_settings_get_and_patch(admin):
    token = app_token(admin)
    status, body = await call(token, "GET", "settings")
    assert status == 200 and body["tenant"] == TENANT_B and body["settings"]["outlookBriefs"] is False
    assert body["sync"] == {"wallsSyncedAt": None, "mailboxes": [], "subscriptions": []}
    status, body = await call(token, "PATCH", "settings",
                              {"outlookBriefs": True, "briefLeadMinutes": "45", "workingHours": "Mon-Fri 08:00-17:00 Europe/Berlin"})
    assert status == 200, body
    assert set(body["changed"]) == {"outlookBriefs", "briefLeadMinutes", "workingHours"}
    s = (await admin.store.get_tenant(TENANT_B)).settings
    assert (s.outlookBriefs, s.briefLeadMinutes, s.workingHours) == (True, 45, "Mon-Fri 08:00-17:00 Europe/Berlin")
    events = {e.action for e in await admin.store.find_all(AuditEvent, TENANT_B)}
    assert {"admin.settings.show", "admin.settings.set", "settings.changed"} <= events


@pytest.mark.parametrize("body, words", [
    ({"colour": "red"}, "unknown setting 'colour'"),
    ({"briefLeadMinutes": 2}, "greater than or equal to 5"),
    ({"briefLeadMinutes": 30, "wallsMaxAgeHours": -1}, "wallsMaxAgeHours"),
    ({"workingHours": "whenever"}, "working hours look like"),
    ({}, "nothing to set"),
    ([1], "JSON object"),
])
async def test_bad_settings_are_400_naming_the_keys_and_nothing_is_written(admin, body, words):
    before = await snapshot(admin, TENANT_B)
    status, answer = await call(app_token(admin), "PATCH", "settings", body)
    assert status == 400 and words in answer["error"]["message"]
    assert await snapshot(admin, TENANT_B) == before


async def test_admin_routes_over_real_http_through_the_local_host(admin):
    import aiohttp

    from local.host import DevHost

    token = app_token(admin)
    async with DevHost(admin.settings, store=admin.store) as host, aiohttp.ClientSession() as http:
        h = {"Authorization": f"Bearer {token}"}
        async with http.patch(f"{host.base_url}/api/admin/settings", json={"followUpDelayMinutes": 30}, headers=h) as r:
            assert r.status == 200, await r.text()
        async with http.delete(f"{host.base_url}/api/admin/people?who=ada@firm.test", headers=h) as r:
            assert r.status == 200
        async with http.put(f"{host.base_url}/api/admin/people", headers=h) as r:
            assert r.status == 405
        async with http.get(f"{host.base_url}/api/admin/people") as r:
            assert r.status == 401
    assert (await admin.store.get_tenant(TENANT_B)).settings.followUpDelayMinutes == 30
