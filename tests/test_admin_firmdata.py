"""/api/admin/export and /api/admin/contacts/forget through function_app's one error policy, behind
admin_only (admin/export.py, admin/forget.py), on SQLite and the local Cosmos server (the `admin`
fixture of tests/test_admin_api.py).

The tenant is always the token's: another firm's records never appear in an export page, another
firm's contact is never erased; a token without Rapport's admin role is refused; every call is
audited; bad input is a 400 with a correlation id.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

import azure.functions as func

import function_app
from rapport.records import AuditEvent, Contact, Interaction, contact_id
from tests.plugins.identity import TENANT_A, TENANT_B
from tests.test_admin_api import admin, app_token  # noqa: F401 - the fixture, and its token

EMAIL = "jane.roe@client.test"


async def call(token: str | None, method: str, route: str, *, params: dict | None = None, body=None):
    from admin.export import export_page
    from admin.forget import forget

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    raw = b""
    if body is not None:
        raw = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    query = f"?{urlencode(params)}" if params else ""
    req = func.HttpRequest(method, f"http://127.0.0.1:7071/api/admin/{route}{query}", headers=headers, body=raw,
                           params=dict(parse_qsl(query.lstrip("?"))))
    resp = await function_app._http(req, export_page if route == "export" else forget)
    text = resp.get_body().decode()
    assert "Traceback" not in text
    return resp, text


async def seed(store) -> None:
    for tid in (TENANT_A, TENANT_B):
        await store.put(Contact.new(tid, EMAIL, name=f"Jane of {tid[:4]}"))
        await store.put_many([
            Interaction(id=f"ix-{tid[:4]}-{n:02d}", tenantId=tid, channel="email", ownerOid="oid-1",
                        at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=n), contactIds=[contact_id(EMAIL)],
                        subject=f"mail {n} of {tid[:4]}") for n in range(7)])


async def test_export_pages_one_family_of_the_callers_firm_as_ndjson(admin):  # noqa: F811
    await seed(admin.store)
    token = app_token(admin, TENANT_B)
    lines, after, pages = [], None, 0
    while True:
        resp, text = await call(token, "GET", "export",
                                params={"family": "interactions", "limit": "3", **({"after": after} if after else {})})
        assert resp.status_code == 200 and resp.mimetype == "application/x-ndjson", text
        lines += text.splitlines()
        pages += 1
        after = resp.headers["x-rapport-next"]
        if not after:
            break
    docs = [json.loads(line) for line in lines]
    assert pages == 3 and len(docs) == 7 and {d["tenantId"] for d in docs} == {TENANT_B}
    assert all("of aaaa" not in line for line in lines)
    for bad in ({"family": "../etc"}, {"family": "contacts", "limit": "0"}, {"family": "contacts", "limit": "x"},
                {"family": "contacts", "limit": "5000"}, {}):
        resp, text = await call(token, "GET", "export", params=bad)
        assert resp.status_code == 400 and "correlationId" in text
    # Without the admin role: refused, nothing exported.
    resp, text = await call(app_token(admin, TENANT_B, roles=[]), "GET", "export", params={"family": "contacts"})
    assert resp.status_code == 403 and "Jane" not in text
    resp, _ = await call(None, "GET", "export", params={"family": "contacts"})
    assert resp.status_code == 401
    actions = [a.action for a in await admin.store.find_all(AuditEvent, TENANT_B)]
    assert actions.count("admin.export.read") == 3 + 5


async def test_forget_erases_in_the_callers_firm_only(admin):  # noqa: F811
    await seed(admin.store)
    resp, text = await call(app_token(admin, TENANT_B), "POST", "contacts/forget", body={"email": EMAIL.upper()})
    assert resp.status_code == 200, text
    assert json.loads(text)["counts"]["contacts deleted"] == 1 and EMAIL not in text.lower()
    assert await admin.store.contact_by_email(TENANT_B, EMAIL) is None
    assert (await admin.store.contact_by_email(TENANT_A, EMAIL)).name == "Jane of aaaa"
    assert len((await admin.store.interactions_for_contact(TENANT_A, contact_id(EMAIL))).items) == 7
    for body in ({"email": "not an address"}, {"email": 3}, {}, ["x"], {"email": "x@b.test"}):
        resp, text = await call(app_token(admin, TENANT_B), "POST", "contacts/forget", body=body)
        assert resp.status_code == 400 and "correlationId" in text, (body, text)
    resp, _ = await call(app_token(admin, TENANT_B, roles=[]), "POST", "contacts/forget", body={"email": EMAIL})
    assert resp.status_code == 403
    resp, _ = await call(app_token(admin, TENANT_A, roles=[]), "POST", "contacts/forget", body={"email": EMAIL})
    assert resp.status_code in (401, 403)
    assert await admin.store.contact_by_email(TENANT_A, EMAIL) is not None
    actions = [a.action for a in await admin.store.find_all(AuditEvent, TENANT_B)]
    assert "admin.contacts.forget" in actions and "contact.forgotten" in actions
