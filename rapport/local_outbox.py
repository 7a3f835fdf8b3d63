"""The local outbox of the embedded default: where mail and Teams messages land instead of leaving.

Writing: on the embedded default (no Teams, no Graph mail configured) the follow-up and brief card
deliveries and the follow-up mail sender `deliver` here. Writes are create-only on the delivery's
idempotency key, so a retried delivery finds the first one instead of adding a second: the same
exactly-once contract the Graph sender keeps with its internet-message header.

Reading: what the demo screen shows (`outbox_view`; two groups, newest first):
- Teams (to the partner): meeting briefs and follow-up approval cards, each as its Adaptive Card. A
  card that was delivered again for the same draft or meeting (the local stand-in for Teams updating
  the message in place) is one thread: only its newest card is shown, as Teams would show it.
- Mail (to clients): the follow-ups that were sent, as text.
`find_item` and `card_refs` let the demo's card buttons (bot/dev_outbox.py) act only on what a card
names. The page itself (HTML) is local/outbox_page.py; this module imports only rapport.records and
rapport.store.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from rapport.records import OutboxItem
from rapport.store import AlreadyExists, Store

LIMIT = 200  # per tenant; a demo outbox holds tens
PARTNER_CHANNELS = ("teams", "actionable-mail")
REF_KEYS = ("draftId", "meetingId", "requestId", "alertId")  # what a card's actions act on (intros, moves too)
_OUTBOX_ID = re.compile(r"^ob_[0-9a-f]{32}$")


# --- writing ----------------------------------------------------------------------------------

async def deliver(store: Store, tenant_id: str, channel: str, key: str, **fields: Any) -> tuple[OutboxItem, bool]:
    """Record one delivery. Returns (item, created); created is False when the key was already sent."""
    item = OutboxItem(id=OutboxItem.id_for(channel, key), tenantId=tenant_id, channel=channel,
                      idempotencyKey=key, **fields)
    try:
        return await store.put(item, create_only=True), True
    except AlreadyExists:
        existing = await store.get(OutboxItem, tenant_id, item.id)
        return (existing or item), False


async def find(store: Store, tenant_id: str, channel: str, key: str) -> OutboxItem | None:
    return await store.get(OutboxItem, tenant_id, OutboxItem.id_for(channel, key))


# --- reading: the demo screen's feed -------------------------------------------------------------


def card_refs(card: Any) -> set[tuple[str, str]]:
    """The (key, id) pairs the card's Action.Execute data name: the only things its buttons may act on."""
    refs: set[tuple[str, str]] = set()
    stack = [card]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            data = node.get("data")
            if node.get("type") == "Action.Execute" and isinstance(data, dict):
                refs.update((k, data[k]) for k in REF_KEYS if isinstance(data.get(k), str))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return refs


def _thread(item: OutboxItem) -> str:
    refs = sorted(card_refs(item.card)) if item.card else []
    if refs:
        key, ref = refs[0]
        return f"{item.tenantId}:{item.channel}:{key}:{ref}"
    return item.id


def _iso(at: datetime) -> str:
    return at.isoformat()


def view(item: OutboxItem, updates: int = 0) -> dict[str, Any]:
    """What the page shows of one delivery (full body: this page is for this machine only)."""
    return {
        "id": item.id, "tenantId": item.tenantId, "at": _iso(item.at), "channel": item.channel,
        "to": list(item.to), "cc": list(item.cc), "fromOid": item.fromOid, "subject": item.subject,
        "body": item.body if item.channel == "mail" else "", "card": item.card, "thread": _thread(item),
        "updates": updates,
    }


async def _all(store: Store) -> list[OutboxItem]:
    out: list[OutboxItem] = []
    for tid in await store.backend.list_tenant_ids():
        out.extend((await store.find(OutboxItem, tid, newest_first=True, limit=LIMIT)).items)
    out.sort(key=lambda i: (_iso(i.at), i.id), reverse=True)
    return out


async def outbox_view(store: Store) -> dict[str, Any]:
    """{"partner": [newest card per thread], "mail": [every mail], "senders": {oid: upn}}, newest first."""
    partner: list[dict[str, Any]] = []
    mail: list[dict[str, Any]] = []
    seen: dict[str, dict[str, Any]] = {}
    senders: dict[tuple[str, str], str] = {}
    for item in await _all(store):
        if item.channel in PARTNER_CHANNELS:
            thread = _thread(item)
            if thread in seen:
                seen[thread]["updates"] += 1  # an older state of a card shown already
                continue
            seen[thread] = view(item)
            partner.append(seen[thread])
        else:
            v = view(item)
            if item.fromOid:
                key = (item.tenantId, item.fromOid)
                if key not in senders:
                    person = await store.get_person(item.tenantId, item.fromOid)
                    senders[key] = f"{person.name} <{person.upn}>" if person else item.fromOid
                v["from"] = senders[key]
            mail.append(v)
    return {"partner": partner, "mail": mail}


async def find_item(store: Store, outbox_id: Any) -> OutboxItem | None:
    """The delivery with this id in whichever tenant holds it, or None (also for a malformed id)."""
    if not isinstance(outbox_id, str) or not _OUTBOX_ID.match(outbox_id):
        return None
    for tid in await store.backend.list_tenant_ids():
        item = await store.get(OutboxItem, tid, outbox_id)
        if item is not None:
            return item
    return None
