"""A phone call with an enquirer, logged by hand: "the clock stops ... at a recorded phone call".

Rapport does not capture calls (there is no call record in Graph to read), so a call is what
someone says happened: "Log a call" on the enquiry's card, on the sidebar for that sender, or
"called NAME or EMAIL" to the bot. `log_call` is the one way all three go:

- Who: anyone at the firm who can see the enquiry. A call is something its caller did, not a change
  to the enquiry: a colleague who phoned the enquirer answered them, as a colleague's reply by mail
  does (rapport.pipeline.mail), and the clock is credited to them. Changing the enquiry (its stage,
  a merge) stays with those who may act on it (stages.may_act). Anyone who may not see it (walls,
  privacy, another tenant, a merged or bad id) gets "not_found", the same as for none.
- The record: an Interaction(channel "call", direction "outbound") owned by the caller, naming the
  enquiry's person and company, written through the caller's scoped store, so it is seen as any of
  their mail or notes is (the owner visibility rule of rapport.store.scope). Its id comes from
  (caller, enquiry, minute): a double click or a retried request logs one call.
- The clock: if it runs, the call stops it, credited to the caller (rapport.pipeline.response,
  the rule a first reply by mail follows).
- The cadence: a call after the proposal is the prospect answering, as a reply by mail is, so the
  cadence pauses (its next touch says "I have not heard back", which a call makes wrong); the
  owner is told when someone else logged the call.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rapport.cards.common import NOTE_MAX_CHARS
from rapport.pipeline import stages
from rapport.pipeline.response import pause_cadence, stop_clock
from rapport.records import Interaction, aware, utcnow
from rapport.store.base import AlreadyExists, Store
from rapport.store.errors import NotFound
from rapport.store.scope import ScopedStore
from rapport.text import clean

SOURCE = "enquiry-call"


def call_id(viewer_oid: str, enquiry_id: str, at: datetime) -> str:
    return Interaction.id_for(SOURCE, f"{viewer_oid}:{enquiry_id}:{aware(at).strftime('%Y%m%dT%H%M')}")


def _minutes(seconds: float) -> str:
    m = int(seconds // 60)
    return f"{m // 60} h {m % 60:02d} min" if m >= 60 else f"{m} min"


async def log_call(store: Store, tenant_id: str, viewer_oid: str, enquiry_id: Any, *, note: Any = "",
                   now: datetime | None = None) -> stages.Outcome:
    """Record that the viewer spoke with the enquirer by phone now (see the module docstring)."""
    now = aware(now or utcnow())
    if not isinstance(enquiry_id, str) or not enquiry_id.strip():
        return stages.Outcome("invalid", message="Say which enquiry the call was about.")
    if note is not None and not isinstance(note, str):
        return stages.Outcome("invalid", message="The call's note must be text.")
    text = clean(note or "").strip()
    if len(text) > NOTE_MAX_CHARS:
        return stages.Outcome("invalid", message=f"The call's note is too long (limit {NOTE_MAX_CHARS:,} characters).")
    e = await stages.visible_enquiry(store, tenant_id, viewer_oid, enquiry_id)
    if e is None:
        return stages.Outcome("not_found")
    if e.contactId is None:
        return stages.Outcome("invalid", e, "This enquiry names no one to have called.")
    call = Interaction(id=call_id(viewer_oid, e.id, now), tenantId=tenant_id, channel="call", at=now,
                       subject="Call", direction="outbound", ownerOid=viewer_oid, contactIds=[e.contactId],
                       accountIds=[e.accountId] if e.accountId else [], source=SOURCE, sourceId=e.id,
                       text=text or None)
    try:
        await ScopedStore(store, tenant_id, viewer_oid).add(call, create_only=True)
    except AlreadyExists:
        return stages.Outcome("already", e, "That call is already logged.")
    except NotFound:
        return stages.Outcome("not_found")  # walled since it was read: as if it did not exist
    firm = await store.get_tenant(tenant_id)
    said = ["Call logged."]
    if firm is not None and e.clock_running:
        stopped = await stop_clock(store, firm, e.id, now, viewer_oid, channel="call")
        if stopped is not None and stopped.firstResponseAt == now:
            took = _minutes(stopped.responseSeconds or 0)
            said.append(f"The clock stopped: answered in {took} of working time.")
            e = stopped
    if e.cadence_active:
        paused = await pause_cadence(store, tenant_id, e, now, kind="called", tell=e.ownerOid != viewer_oid)
        if paused is not None:
            said.append("Follow-ups paused: you have spoken with them.")
            e = paused
    await stages.audit(store, e, viewer_oid, "enquiry.call", {"interaction": call.id}, now)
    return stages.Outcome("ok", await store.get(type(e), tenant_id, e.id) or e, " ".join(said))


__all__ = ["SOURCE", "call_id", "log_call"]
