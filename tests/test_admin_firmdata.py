"""The admin HTTP handlers of export and forget (admin/export.py, admin/forget.py).

They are not routed yet (admin/auth.py's admin_only wrapper is another part of issue 15): called
here as the route will call them, with the Caller the wrapper proves. The tenant is always the
caller's: another firm's records never appear, and another firm's contact is never erased.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from admin.export import export_page
from admin.forget import forget
from rapport import runtime
from rapport.identity import Caller
from rapport.records import Contact, Interaction, Tenant, contact_id
from rapport.web import ApiError, Request

A = "aaaaaaaa-0000-4000-8000-00000000000a"
B = "bbbbbbbb-0000-4000-8000-00000000000b"
EMAIL = "jane.roe@client.test"


def request(params=None, body=None) -> Request:
    return Request("POST" if body is not None else "GET", "/api/admin/x", {"content-type": "application/json"},
                   params or {}, json.dumps(body).encode() if body is not None else b"", "corr-1")


@pytest.fixture
async def firms(capture_store):
    for tid in (A, B):
        await capture_store.put_tenant(Tenant(id=tid, tenantId=tid, name=tid[:4], domains=[f"{tid[:4]}.test"]))
        await capture_store.put(Contact.new(tid, EMAIL, name=f"Jane of {tid[:4]}"))
        await capture_store.put_many([
            Interaction(id=f"ix-{tid[:4]}-{n:02d}", tenantId=tid, channel="email", ownerOid="oid-1",
                        at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=n), contactIds=[contact_id(EMAIL)],
                        subject=f"mail {n} of {tid[:4]}") for n in range(7)])
    with runtime.override(store=capture_store):
        yield capture_store


async def test_export_pages_one_family_of_the_callers_firm_as_ndjson(firms):
    caller = Caller(A, "oid-admin")
    lines, after, pages = [], None, 0
    while True:
        answer = await export_page(request({"family": "interactions", "limit": "3", **({"after": after} if after else {})}),
                                   caller)
        assert answer.status == 200 and answer.mimetype == "application/x-ndjson"
        lines += answer.encoded().decode().splitlines()
        pages += 1
        after = answer.headers["x-rapport-next"]
        if not after:
            break
    docs = [json.loads(line) for line in lines]
    assert pages == 3 and len(docs) == 7 and {d["tenantId"] for d in docs} == {A}
    assert all("of bbbb" not in line for line in lines)
    for bad in ({"family": "../etc"}, {"family": "contacts", "limit": "0"}, {"family": "contacts", "limit": "x"},
                {"family": "contacts", "limit": "5000"}, {}):
        with pytest.raises(ApiError) as err:
            await export_page(request(bad), caller)
        assert err.value.status == 400


async def test_forget_erases_in_the_callers_firm_only(firms):
    answer = await forget(request(body={"email": EMAIL.upper()}), Caller(A, "oid-admin"))
    assert answer.status == 200 and answer.body["counts"]["contacts deleted"] == 1
    assert EMAIL not in answer.encoded().decode()
    assert await firms.contact_by_email(A, EMAIL) is None
    assert (await firms.contact_by_email(B, EMAIL)).name == "Jane of bbbb"
    assert len((await firms.interactions_for_contact(B, contact_id(EMAIL))).items) == 7
    for body in ({"email": "not an address"}, {"email": 3}, {}, ["x"], {"email": "x@aaaa.test"}):
        with pytest.raises(ApiError) as err:
            await forget(request(body=body), Caller(A, "oid-admin"))
        assert err.value.status == 400
