"""POST /api/addin/notes : a partner's quick note on a contact, from the task pane.

Body: {"email": sender, "text": note, "clientKey": optional idempotency key}. The note becomes an
Interaction(channel="note") owned by the caller (tenant and owner come from the token; any such
fields in the body are ignored). The same clientKey from the same caller always maps to the same
interaction id, so a retried or double-clicked submit stores one note.

Stored as text, as typed once cleaned (parse_json_body cleans every string with rapport.text.clean,
so no lone surrogate, control or bidi character reaches the record). It is shown through TextRun
(never markdown) and the task pane never injects it as HTML, so markup in a note is displayed, not run.
"""

from __future__ import annotations

import re
import uuid

from addin.auth import Caller, authenticated
from addin.context import email_param
from rapport import runtime
from rapport.cards.common import NOTE_MAX_CHARS
from rapport.records import Contact, Interaction, contact_id, iso, utcnow
from rapport.store import AlreadyExists, ScopedStore
from rapport.store.base import Read
from rapport.web import Answer, ApiError, Request, parse_json_body

MAX_NOTE_BODY = 16 * 1024  # a 2,000-character note in JSON, with room for escapes
_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def _parse(request: Request) -> tuple[str, str, str | None]:
    ctype = (request.header("content-type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ApiError(415, "send the note as application/json")
    if len(request.body) > MAX_NOTE_BODY:
        raise ApiError(413, f"the note is too long (limit {NOTE_MAX_CHARS:,} characters)")
    body = parse_json_body(request.body, ctype, max_bytes=MAX_NOTE_BODY)
    if not isinstance(body, dict):
        raise ApiError(400, "expected a JSON object with email and text")
    email = email_param(body.get("email") if isinstance(body.get("email"), str) else None)
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "the note is empty; write something before saving")
    text = text.strip()
    if len(text) > NOTE_MAX_CHARS:
        raise ApiError(413, f"the note is too long (limit {NOTE_MAX_CHARS:,} characters)")
    key = body.get("clientKey")
    if key is not None and (not isinstance(key, str) or not _KEY.match(key)):
        raise ApiError(400, "clientKey must be 1-100 letters, digits or . _ : -")
    return email, text, key


@authenticated
async def add_note(request: Request, caller: Caller) -> Answer:
    email, text, key = _parse(request)
    scoped = ScopedStore(await runtime.store(), caller.tenant_id, caller.oid)
    (view,) = await scoped.read_many([Read(Contact, record_id=contact_id(email))])
    if view is None:
        # Unknown, walled or another tenant's: the same answer for all.
        raise ApiError(404, "this sender is not known to the firm yet, so there is no contact to add a note to")
    if view.restricted:
        raise ApiError(403, "a colleague keeps this contact private; ask them for an introduction")
    contact = view.contact
    key = key or uuid.uuid4().hex  # no key: still stored, just not deduplicated
    note = Interaction(
        id=Interaction.id_for("addin-note", f"{caller.oid}:{key}"), tenantId=caller.tenant_id,
        channel="note", at=utcnow(), subject="Note", direction="internal", ownerOid=caller.oid,
        contactIds=[contact.id], accountIds=[contact.accountId] if contact.accountId else [],
        source="addin-note", sourceId=key, text=text,
    )
    status = 201
    try:
        await scoped.add(note, create_only=True)
    except AlreadyExists:
        existing = await scoped.interaction_by_id(note.id)
        if existing is None:  # pragma: no cover - only if deleted between the two calls
            raise ApiError(409, "this note was changed meanwhile; try again") from None
        note, status = existing, 200
    return Answer(status, {"id": note.id, "created": status == 201,
                           "note": {"at": iso(note.at), "text": note.text, "email": email}})
