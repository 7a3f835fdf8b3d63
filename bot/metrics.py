"""The partner's week card's verbs (rapport.cards.week): "Draft a note" to a relationship going cold.

The viewer is the activity's user (bot/verbs.py), the card's data carries only a contact id; the
draft is made by rapport.metrics.notes and goes to the partner's approval card like any follow-up.
"""

from __future__ import annotations

from typing import Any

from botbuilder.core import InvokeResponse, TurnContext

from bot import verbs
from rapport import runtime, work
from rapport.cards.week import VERB_DRAFT_NOTE
from rapport.metrics.notes import draft_note

NOT_FOUND = "That contact is not one of yours any more."
DRAFTED = "A note is on its way to you for approval."


async def _draft_note(turn_context: TurnContext, tenant_id: str, data: dict[str, Any]) -> InvokeResponse:
    oid = verbs.viewer(turn_context)
    if oid is None:
        return verbs.error_response(403, "Rapport is not enabled for you.", "Forbidden")
    cid = data.get("contactId")
    if not isinstance(cid, str) or not cid.startswith("ct_") or len(cid) > 40:
        return verbs.error_response(400, "This button is missing what it acts on.", "BadRequest")
    store = await runtime.store()
    draft = await draft_note(store, tenant_id, oid, cid)
    if draft is None:
        return verbs.error_response(404, NOT_FOUND, "NotFound")
    work.kick_coalesced(store, tenant_id)  # the approval card goes out after the answer
    return verbs.message_response(DRAFTED)


VERBS: dict[str, verbs.VerbHandler] = {VERB_DRAFT_NOTE: _draft_note}
