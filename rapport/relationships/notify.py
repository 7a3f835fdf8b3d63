"""Cards about relationships put in front of one person, after the answer: the "relationship-card" work.

`queue(store, tenant, to_oid, kind, ref_id, stamp)` writes one work item per (kind, record, person,
stamp), so each card goes out once however often the code that decides it runs. The drain builds
the card from the record as it is then (rapport.relationships.delivery, which knows every kind) and
sends it with `send`: to Teams through the same sender briefs use (runtime.services().teams_briefs,
provided by function_app's wiring from bot/), or, on the embedded default (no bot identity), to the
local outbox under the work key, which is idempotent on it.

Imports rapport's records, store, work, runtime and local outbox only.
"""

from __future__ import annotations

import logging
from typing import Any

from rapport import local_outbox, runtime, work
from rapport.records import Person
from rapport.store.base import Store

log = logging.getLogger("rapport.relationships")

CARD_WORK = "relationship-card"


async def queue(store: Store, tenant_id: str, to_oid: str, kind: str, ref_id: str, stamp: str = "") -> bool:
    """Queue the card `kind` about record `ref_id` for person `to_oid`; False if it was queued before."""
    key = f"{kind}:{ref_id}:{to_oid}:{stamp}"
    _, created = await work.enqueue(store, tenant_id, CARD_WORK, key, {"kind": kind, "ref": ref_id, "to": to_oid})
    return created


def _teams() -> Any:
    settings = runtime.settings()
    services = runtime.services()
    if not settings.bot_app_id or services.teams_briefs is None:
        return None
    make = services.teams_briefs
    return services.once("teams_briefs", lambda: make(settings))


async def send(store: Store, person: Person, card: dict[str, Any], summary: str, key: str) -> str:
    """One card to one person. Returns the channel it went to ("teams", "outbox" or "none")."""
    teams = _teams()
    if teams is None:
        await local_outbox.deliver(store, person.tenantId, "teams", key, to=[person.upn], subject=summary[:200],
                                   card=card)
        return "outbox"
    if not person.conversationRef:
        log.info("relationship card not sent: the person has not installed the bot", extra={"tenant_id": person.tenantId})
        return "none"
    await teams.send_card(person.tenantId, person, card, summary)
    return "teams"
