"""What the firm's contact with an enquirer does to the enquiry, whichever way it happened.

One place for two rules, used by every path that sees such contact: a reply in sent mail
(rapport.pipeline.mail), an acknowledgement or touch sent through the approval card
(rapport.pipeline.drafts) and a recorded phone call (rapport.pipeline.calls).

- `stop_clock`: the first response to the enquirer stops the clock, credited to whoever gave it;
  the earliest wins, so applying a later one (or the same one twice) changes nothing. A pending
  acknowledgement draft is dismissed (`dismiss_ack`: its card says it is no longer needed).
- `pause_cadence`: the prospect answered after the proposal (they wrote, or someone spoke with them
  on the phone), so the cadence's "I have not heard back" touches stop, and the owner is told.
"""

from __future__ import annotations

from datetime import datetime

from rapport.followups.cards import queue_card
from rapport.pipeline import notify
from rapport.pipeline.clock import Hours, working_seconds
from rapport.records import Draft, Enquiry, Tenant, aware, utcnow
from rapport.store.base import Store


async def stop_clock(store: Store, firm: Tenant, enquiry_id: str, at: datetime, by_oid: str, *,
                     channel: str = "email") -> Enquiry | None:
    """The first response to the enquirer (a mail, or a call: `channel`): the clock stops, credited
    to whoever gave it (idempotent: the earliest wins, a later one changes nothing). A pending
    acknowledgement is dropped. Returns the enquiry when this call stopped (or moved back) its
    clock, else None."""
    at = aware(at)

    def stop(x: Enquiry) -> Enquiry | None:
        if x.firstResponseAt is not None and aware(x.firstResponseAt) <= at:
            return None
        if at < aware(x.receivedAt):
            return None
        x.firstResponseAt, x.firstResponderOid = at, by_oid
        x.firstResponseChannel = "call" if channel == "call" else "email"
        x.responseSeconds = int(working_seconds(Hours.of(firm.settings), x.receivedAt, at))
        return x

    updated = await store.update(Enquiry, firm.id, enquiry_id, stop)
    if updated is not None and updated.ackDraftId:
        await dismiss_ack(store, firm.id, updated.ackDraftId)
    return updated


async def dismiss_ack(store: Store, tenant_id: str, draft_id: str) -> None:
    """An acknowledgement no longer needed (someone answered, or its enquiry was merged away):
    dismissed if still waiting for approval, and its card says so."""

    def drop(d: Draft) -> Draft | None:
        if d.state not in ("drafted", "snoozed"):
            return None
        d.state, d.updatedAt = "dismissed", utcnow()
        d.failureReason = None
        return d

    dropped = await store.update(Draft, tenant_id, draft_id, drop)
    if dropped is not None:
        await queue_card(store, dropped)  # the card says it is no longer needed


async def pause_cadence(store: Store, tenant_id: str, e: Enquiry, at: datetime, *, kind: str = "replied",
                        tell: bool = True) -> Enquiry | None:
    """The prospect answered at `at`: pause the cadence if it runs and `at` is after the proposal
    (contact before it is no answer to a follow-up). The owner gets a `kind` card unless `tell` is
    False (they logged the call themselves). Returns the enquiry when this call paused it."""
    if e.proposalAt is None or aware(at) <= aware(e.proposalAt):
        return None

    def pause(x: Enquiry) -> Enquiry | None:
        if not x.cadence_active:
            return None
        x.cadencePausedAt = at
        return x

    paused = await store.update(Enquiry, tenant_id, e.id, pause)
    if paused is not None and paused.ownerOid and tell:
        await notify.queue(store, tenant_id, e.id, kind, paused.ownerOid)
    return paused


__all__ = ["dismiss_ack", "pause_cadence", "stop_clock"]
