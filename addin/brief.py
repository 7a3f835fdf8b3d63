"""GET /api/addin/brief?eventId= : the brief for a calendar item, for the signed-in partner.

`eventId` is Outlook's item id in REST form (the Graph event id; the task pane converts it with
Office.js convertToRestId). The meeting is looked up as Meeting.id_for(caller.oid, eventId): only
the caller's own calendar can be named, and another partner's, a walled or a missing meeting all
answer the same 404. Answers from Rapport's records with the template drafter (no model call while
the partner waits). Body: the card plus the same facts as plain JSON.

Also GET /dev/addin/meetings (preview only, same guard as addin/preview.py): the caller's coming
meetings for the task pane's "meeting" picker outside Outlook.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from addin.auth import Caller, authenticated
from rapport import briefs, runtime
from rapport.cards.brief import brief_card
from rapport.identity.dev import dev_only
from rapport.records import Meeting, iso, utcnow
from rapport.store import ScopedStore
from rapport.web import Answer, ApiError, Request

log = logging.getLogger("rapport.addin.brief")

MAX_EVENT_ID = 512  # Graph event ids are ~150 characters of base64
_EVENT_ID = re.compile(r"^[A-Za-z0-9+/=_\-]+$")


def event_param(raw: str | None) -> str:
    if raw is None or not raw.strip():
        raise ApiError(400, "the eventId parameter is required (the calendar item's REST id)")
    value = raw.strip()
    if len(value) > MAX_EVENT_ID or not _EVENT_ID.match(value):
        raise ApiError(400, "the eventId parameter is not a calendar item id")
    return value


@authenticated
async def brief(request: Request, caller: Caller) -> Answer:
    event_id = event_param(request.params.get("eventId"))
    scoped = ScopedStore(await runtime.store(), caller.tenant_id, caller.oid)
    now = utcnow()
    facts = await briefs.build(scoped, Meeting.id_for(caller.oid, event_id), now)
    if facts is None:
        raise ApiError(404, "no such meeting in your calendar")
    log.info("brief for %d attendees in %d store calls", len(facts["attendees"]), scoped.calls,
             extra={"correlation_id": request.correlation_id, "tenant_id": caller.tenant_id})
    return Answer(200, {"card": brief_card(facts, now), **facts},
                  headers={"cache-control": "private, no-store", "x-rapport-store-calls": str(scoped.calls)})


@dev_only  # outermost: where the preview is off, this route does not exist (404, not 401)
@authenticated
async def dev_meetings(request: Request, caller: Caller) -> Answer:
    scoped = ScopedStore(await runtime.store(), caller.tenant_id, caller.oid)
    now = utcnow()
    meetings = await scoped.meetings_between(now - timedelta(hours=12), now + timedelta(days=7))
    out = [{"eventId": m.eventId, "subject": m.subject, "start": iso(m.start), "external": m.external,
            "cancelled": m.isCancelled} for m in meetings]
    return Answer(200, {"meetings": out[:40]})
