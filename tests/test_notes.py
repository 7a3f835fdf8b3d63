"""POST /api/addin/notes over real HTTP: validation, idempotency, scoping, text stays text."""

from __future__ import annotations

import json

from local.demo import DEMO_PARTNERS, DEMO_TENANT_ID, build_demo
from rapport.records import Interaction, contact_id
from tests.plugins.browser import OTHER_ONLY_EMAIL, OTHER_TENANT, SHARED_EMAIL

ELEANOR = "eleanor.marsh@ashgrovepell.example"
ELEANOR_OID = DEMO_PARTNERS[0][0]
TOMASZ = "tomasz.wieczorek@ashgrovepell.example"
DANIEL = "daniel.okafor@ashgrovepell.example"
SCRIPT_NOTE = '<script>alert("x")</script><img src=x onerror=alert(1)> **bold** [link](https://evil.example)'


async def post(http, pane, body, *, upn=ELEANOR, ctype="application/json", raw: bytes | None = None, auth=True):
    headers = pane.auth(upn) if auth else {}
    if ctype is not None:
        headers["Content-Type"] = ctype
    data = raw if raw is not None else json.dumps(body).encode()
    async with http.post(pane.url("/api/addin/notes"), data=data, headers=headers) as r:
        return r.status, await r.json()


async def notes_on(pane, email: str) -> list[Interaction]:
    page = await pane.store.interactions_for_contact(DEMO_TENANT_ID, contact_id(email), limit=200)
    return [i for i in page.items if i.channel == "note"]


async def test_note_is_stored_as_text_owned_by_the_viewer_and_shows_escaped(demo_pane, http):
    status, body = await post(http, demo_pane, {"email": SHARED_EMAIL, "text": SCRIPT_NOTE, "clientKey": "k-1"})
    assert status == 201 and body["created"] and body["note"]["text"] == SCRIPT_NOTE
    [note] = await notes_on(demo_pane, SHARED_EMAIL)
    assert note.text == SCRIPT_NOTE and note.ownerOid == ELEANOR_OID and note.tenantId == DEMO_TENANT_ID
    assert note.channel == "note" and note.contactIds == [contact_id(SHARED_EMAIL)]
    async with http.get(demo_pane.url("/api/addin/context"), params={"email": SHARED_EMAIL},
                        headers=demo_pane.auth(ELEANOR)) as r:
        ctx = await r.json()
    assert ctx["interactions"][0]["text"] == SCRIPT_NOTE and ctx["interactions"][0]["by"] == "you"
    # In the card the note is a TextRun (never markdown, never HTML) and nowhere a TextBlock.
    runs, blocks = [], []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "TextRun":
                runs.append(node["text"])
            if node.get("type") == "TextBlock":
                blocks.append(node["text"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(ctx["card"])
    assert any("<script>" in t for t in runs) and not any("<script>" in t for t in blocks)


async def test_same_client_key_stores_one_note(demo_pane, http):
    first = await post(http, demo_pane, {"email": SHARED_EMAIL, "text": "Met at INTA", "clientKey": "dup-1"})
    again = await post(http, demo_pane, {"email": SHARED_EMAIL, "text": "Met at INTA", "clientKey": "dup-1"})
    assert first[0] == 201 and again[0] == 200 and not again[1]["created"]
    assert first[1]["id"] == again[1]["id"]
    assert len(await notes_on(demo_pane, SHARED_EMAIL)) == 1
    other = await post(http, demo_pane, {"email": SHARED_EMAIL, "text": "Met at INTA", "clientKey": "dup-1"},
                       upn=TOMASZ)
    assert other[0] == 201 and other[1]["id"] != first[1]["id"]  # keys are per user
    assert len(await notes_on(demo_pane, SHARED_EMAIL)) == 2


async def test_tenant_and_owner_in_the_body_are_ignored(demo_pane, http):
    status, body = await post(http, demo_pane, {
        "email": SHARED_EMAIL, "text": "hello", "clientKey": "c4", "tenantId": OTHER_TENANT,
        "ownerOid": DEMO_PARTNERS[1][0], "id": "ix_chosen_by_client", "channel": "email"})
    assert status == 201 and body["id"] != "ix_chosen_by_client"
    [note] = await notes_on(demo_pane, SHARED_EMAIL)
    assert note.ownerOid == ELEANOR_OID and note.tenantId == DEMO_TENANT_ID and note.channel == "note"
    assert await demo_pane.store.get(Interaction, OTHER_TENANT, body["id"]) is None


async def test_oversized_note_is_413(demo_pane, http):
    status, body = await post(http, demo_pane, {"email": SHARED_EMAIL, "text": "x" * 2001})
    assert status == 413 and "too long" in body["error"]["message"] and "2,000" in body["error"]["message"]
    status, body = await post(http, demo_pane, {"email": SHARED_EMAIL, "text": "y" * 40_000})
    assert status == 413
    assert await notes_on(demo_pane, SHARED_EMAIL) == []


async def test_wrong_content_type_is_415(demo_pane, http):
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None):
        status, body = await post(http, demo_pane, {"email": SHARED_EMAIL, "text": "hi"}, ctype=ctype)
        assert status == 415, ctype
        assert "application/json" in body["error"]["message"]


async def test_malformed_bodies_are_400(demo_pane, http):
    cases = [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"text": "hi"}).encode(), "email parameter is required"),
        (json.dumps({"email": "nope", "text": "hi"}).encode(), "not a valid email"),
        (json.dumps({"email": SHARED_EMAIL, "text": "   "}).encode(), "empty"),
        (json.dumps({"email": SHARED_EMAIL, "text": 5}).encode(), "empty"),
        (json.dumps({"email": SHARED_EMAIL, "text": "hi", "clientKey": "../../x"}).encode(), "clientKey"),
        (json.dumps({"email": "a" * 10_000, "text": "hi"}).encode(), "too long"),
    ]
    for raw, words in cases:
        status, body = await post(http, demo_pane, None, raw=raw)
        assert status == 400 and words in body["error"]["message"], (raw[:40], body)
        assert body["error"]["correlationId"]


async def test_unknown_other_tenant_and_walled_senders_get_the_same_404(demo_pane, http):
    halcyra = next(c.email for c in build_demo().contacts if c.domain == "halcyra.example")
    answers = [
        await post(http, demo_pane, {"email": "nobody@nowhere.example", "text": "hi"}),
        await post(http, demo_pane, {"email": OTHER_ONLY_EMAIL, "text": "hi"}),
        await post(http, demo_pane, {"email": halcyra, "text": "hi"}, upn=DANIEL),
    ]
    assert {a[0] for a in answers} == {404}
    assert len({a[1]["error"]["message"] for a in answers}) == 1
    ok = await post(http, demo_pane, {"email": halcyra, "text": "hi"}, upn=ELEANOR)
    assert ok[0] == 201


async def test_private_contact_of_a_colleague_is_refused(demo_pane, http):
    private = next(c for c in build_demo().contacts if c.private_owner and c.private_owner != ELEANOR_OID)
    status, body = await post(http, demo_pane, {"email": private.email, "text": "hi"})
    assert status == 403 and "introduction" in body["error"]["message"]
    assert await notes_on(demo_pane, private.email) == []


async def test_note_needs_a_token(demo_pane, http):
    status, _ = await post(http, demo_pane, {"email": SHARED_EMAIL, "text": "hi"}, auth=False)
    assert status == 401
    assert await notes_on(demo_pane, SHARED_EMAIL) == []
