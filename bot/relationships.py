"""Relationship cards in Teams: the introduction request's verbs, the counsel move's, and the brief's
"Ask for an introduction".

Every verb acts as the activity's user in the activity's proven tenant (bot/verbs.py); card data
carries one record id (or, for askIntro, the address the brief showed). The decisions live in
rapport.relationships; this module maps their outcomes to Universal Actions answers: the updated
card, or the same 404 for a bad id, another tenant's record, or one not meant for this user.

Exports `VERBS`, which bot/routes.py merges into the bot's table.
"""

from __future__ import annotations

from typing import Any

from botbuilder.core import InvokeResponse, TurnContext

from bot import verbs
from rapport import runtime, work
from rapport.cards.relationships import (
    REASON_INPUT,
    VERB_ASK_INTRO,
    VERB_INTRO_DECLINE,
    VERB_INTRO_INTRODUCE,
    VERB_INTRO_REFRESH,
    VERB_INTRO_SHARE,
    VERB_MOVE_DISMISS,
    VERB_MOVE_REFRESH,
)
from rapport.relationships import intros, moves

NOT_FOUND = "This request was not found."
MOVE_NOT_FOUND = "This move was not found."
BRIEF_REASON = "Ahead of a meeting with them."
DECISIONS = {VERB_INTRO_SHARE: "share", VERB_INTRO_INTRODUCE: "introduce", VERB_INTRO_DECLINE: "decline"}


async def _intro(turn_context: TurnContext, tenant_id: str, verb: str, data: dict[str, Any]) -> InvokeResponse:
    oid = verbs.viewer(turn_context)
    store = await runtime.store()
    if oid is None:
        return verbs.error_response(404, NOT_FOUND, "NotFound")
    rid = data.get("requestId")
    notice = None
    if verb in DECISIONS:
        out = await intros.answer(store, tenant_id, oid, rid, DECISIONS[verb], data.get(REASON_INPUT, ""))  # type: ignore[arg-type]
        if out.status == "not_found" or out.request is None:
            return verbs.error_response(404, NOT_FOUND, "NotFound")
        if out.status == "ok":
            work.kick_coalesced(store, tenant_id)  # the asker's card goes out after the answer
        notice = {"already": "This request was already answered.", "invalid": out.message}.get(out.status)
        req = out.request
    else:
        req = await intros.request_for(store, tenant_id, oid, rid)
        if req is None:
            return verbs.error_response(404, NOT_FOUND, "NotFound")
    return verbs.card_response(await intros.request_card(store, req, oid, notice=notice))


async def _move(turn_context: TurnContext, tenant_id: str, verb: str, data: dict[str, Any]) -> InvokeResponse:
    oid = verbs.viewer(turn_context)
    store = await runtime.store()
    if oid is None:
        return verbs.error_response(404, MOVE_NOT_FOUND, "NotFound")
    aid = data.get("alertId")
    if verb == VERB_MOVE_DISMISS:
        out = await moves.dismiss(store, tenant_id, oid, aid)
        alert = out.alert
        if out.status == "ok":
            work.kick_coalesced(store, tenant_id)  # the skipped note's card is updated after the answer
    else:
        alert = await moves.alert_for(store, tenant_id, oid, aid)
    card = await moves.card_for(store, alert, oid) if alert is not None else None
    if card is None:
        return verbs.error_response(404, MOVE_NOT_FOUND, "NotFound")
    return verbs.card_response(card)


async def _ask(turn_context: TurnContext, tenant_id: str, data: dict[str, Any]) -> InvokeResponse:
    """The brief's button: the same request as the sidebar's, answered with a one-line message."""
    oid = verbs.viewer(turn_context)
    email = data.get("email")
    if oid is None or not isinstance(email, str):
        return verbs.error_response(404, "This contact was not found.", "NotFound")
    store = await runtime.store()
    out = await intros.ask(store, tenant_id, oid, email, data.get("introReason") or BRIEF_REASON)
    if out.status in ("ok", "folded"):
        work.kick_coalesced(store, tenant_id)
        return verbs.message_response("Your request is on its way." if out.status == "ok" else out.message)
    if out.status == "not_found":
        return verbs.error_response(404, "This contact was not found.", "NotFound")
    return verbs.message_response(out.message or "There is nobody to ask.")


def _handler(verb: str, fn: Any) -> verbs.VerbHandler:
    async def handle(turn_context: TurnContext, tenant_id: str, data: dict[str, Any]) -> InvokeResponse:
        return await fn(turn_context, tenant_id, verb, data)

    return handle


VERBS: dict[str, verbs.VerbHandler] = {
    **{v: _handler(v, _intro) for v in (VERB_INTRO_SHARE, VERB_INTRO_INTRODUCE, VERB_INTRO_DECLINE, VERB_INTRO_REFRESH)},
    **{v: _handler(v, _move) for v in (VERB_MOVE_DISMISS, VERB_MOVE_REFRESH)},
    VERB_ASK_INTRO: _ask,
}
