"""The approval card of a follow-up draft: built, queued after every change, put in front of the partner.

- `card_for` builds the card (rapport.cards.followup) for the draft's owner, refreshed for the owner
  and every delegate the owner named (as Teams names them: rapport.identity.membership.teams_user_id).
- `queue_card` queues a "followup-card" work item after each new draft or change of state, keyed by
  (draft, version, state), so each state's card goes out exactly once; the work handler delivers it
  after the answer through the process's `CardDelivery`: Teams when the host provides bot/'s
  (runtime.services().teams_cards, function_app.py's wiring) and the bot has an identity, else the
  local outbox (the embedded default).

Imports rapport's records, store, runtime, work queue, local outbox and cards only; nothing else of
rapport.followups, so drafting, approval and sending can all queue a card.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from rapport import runtime, timezones, work
from rapport.cards.followup import followup_card, title_for
from rapport.identity.membership import teams_user_id
from rapport.records import Draft, Person, aware, utcnow
from rapport.store.base import Store

CARD_WORK = "followup-card"


async def card_for(store: Store, draft: Draft, *, notice: str | None = None, editing: bool = False,
                   now: datetime | None = None, choices: Sequence[str] = (),
                   typed: dict[str, str] | None = None) -> dict[str, Any]:
    """The card for a draft, refreshed for the owner and every delegate."""
    owner = await store.get_person(draft.tenantId, draft.ownerOid)
    users: list[str] = []
    names = owner.name if owner else ""
    for oid in [draft.ownerOid, *(owner.delegates if owner else [])]:
        person = owner if owner and oid == owner.oid else await store.get_person(draft.tenantId, oid)
        users.append(teams_user_id(person, oid))  # one rule: rapport.identity.membership
    return followup_card(draft, owner_name=names, now=aware(now or utcnow()), refresh_users=users, notice=notice,
                         editing=editing, tz=timezones.zone(owner.timeZone if owner else ""), choices=choices,
                         typed=typed)


async def queue_card(store: Store, draft: Draft) -> None:
    """Put the draft's current card in front of the partner (after the answer, exactly once per state)."""
    stamp = draft.updatedAt.isoformat() if draft.state == "drafted" else ""
    key = f"{draft.id}:v{draft.version}:{draft.state}:{stamp}"
    await work.enqueue(store, draft.tenantId, CARD_WORK, key, {"draftId": draft.id})


# --- the card delivery of this process -----------------------------------------------------------

class CardDelivery(Protocol):
    """Puts a card in front of the partner. Returns the delivered message's id (for updates)."""

    async def deliver(self, store: Store, person: Person, draft: Draft, card: dict[str, Any]) -> str | None: ...


class LocalCardDelivery:
    """The embedded default: the card lands in the local outbox (/dev/outbox), one per state."""

    async def deliver(self, store: Store, person: Person, draft: Draft, card: dict[str, Any]) -> str | None:
        from rapport import local_outbox

        key = f"card:{draft.id}:v{draft.version}:{draft.state}:{draft.updatedAt.isoformat()}"
        item, _ = await local_outbox.deliver(store, draft.tenantId, "teams", key, fromOid="", to=[person.upn],
                                             subject=f"{title_for(draft)}: {draft.subject}"[:200], card=card)
        return draft.cardActivityId or item.id


def card_delivery() -> CardDelivery:
    """Teams when the host provided bot/'s delivery and the bot has an identity; else the local outbox."""
    services = runtime.services()
    settings = runtime.settings()
    if services.teams_cards is not None and settings.bot_app_id:
        made = services.once("teams_cards", lambda: services.teams_cards(settings))
        if made is not None:
            return made
    return LocalCardDelivery()


@work.handler(CARD_WORK)
async def _card_work(store: Store, item: Any) -> None:
    draft = await store.get(Draft, item.tenantId, item.payload["draftId"])
    if draft is None:
        return
    owner = await store.get_person(item.tenantId, draft.ownerOid)
    if owner is None:
        return
    card = await card_for(store, draft)
    activity_id = await card_delivery().deliver(store, owner, draft, card)
    if activity_id and activity_id != draft.cardActivityId:
        def remember(d: Draft) -> Draft | None:
            if d.cardActivityId == activity_id:
                return None
            d.cardActivityId = activity_id
            return d

        await store.update(Draft, draft.tenantId, draft.id, remember)


__all__ = [
    "CARD_WORK", "CardDelivery", "LocalCardDelivery", "card_delivery", "card_for", "queue_card",
]
