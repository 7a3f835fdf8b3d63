"""The "relationship-card" work (rapport.relationships.notify.queue): build the card of a request or
a move as it is now, for the one person it is for, and send it (notify.send).

A separate module because it knows every kind of card (intros, moves) while those modules only
queue; listed in rapport.work.HANDLER_MODULES so the drain loads it.
"""

from __future__ import annotations

from typing import Any

from rapport import work
from rapport.records import IntroRequest, MoveAlert, WorkItem
from rapport.relationships import intros, moves, notify
from rapport.store.base import Store

SUMMARIES = {
    intros.CARD_REQUEST: "Introduction requested",
    intros.CARD_OUTCOME: "Your introduction request",
    moves.CARD_MOVE: "A contact of yours moved",
    moves.CARD_BOUNCE: "A contact's address bounced",
}


async def build(store: Store, tenant_id: str, kind: str, ref: str, to_oid: str) -> dict[str, Any] | None:
    if kind == intros.CARD_REQUEST:
        req = await store.get(IntroRequest, tenant_id, ref)
        if req is None or to_oid not in req.routedTo:
            return None
        return await intros.request_card(store, req, to_oid)
    if kind == intros.CARD_OUTCOME:
        req = await store.get(IntroRequest, tenant_id, ref)
        if req is None or req.askerOid != to_oid or req.state == "open":
            return None
        return await intros.outcome_card(store, req)
    if kind in (moves.CARD_MOVE, moves.CARD_BOUNCE):
        alert = await store.get(MoveAlert, tenant_id, ref)
        if alert is None or to_oid not in alert.partnerOids:
            return None
        return await moves.card_for(store, alert, to_oid)
    return None


@work.handler(notify.CARD_WORK)
async def _deliver(store: Store, item: WorkItem) -> None:
    p = item.payload
    person = await store.get_person(item.tenantId, p.get("to", ""))
    if person is None or not person.enabled:
        return
    card = await build(store, item.tenantId, p.get("kind", ""), p.get("ref", ""), person.oid)
    if card is None:
        return  # gone, or hidden from this person since it was queued
    await notify.send(store, person, card, SUMMARIES.get(p.get("kind", ""), "Rapport"), item.key)
