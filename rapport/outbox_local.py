"""The local outbox of the embedded default: where mail and Teams messages land instead of leaving.

`rapport serve` shows it at /dev/outbox. Writes are create-only on the delivery's idempotency key,
so a retried delivery finds the first one instead of adding a second: the same exactly-once
contract the Graph sender keeps with its internet-message header.
"""

from __future__ import annotations

from typing import Any

from rapport.records import OutboxItem
from rapport.store.base import AlreadyExists, Store


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


async def list_items(store: Store, limit: int = 100) -> list[dict[str, Any]]:
    """The newest deliveries of every tenant on this (local, development) host."""
    out: list[dict[str, Any]] = []
    for tenant_id in await store.backend.list_tenant_ids():
        page = await store.find(OutboxItem, tenant_id, newest_first=True, limit=limit)
        for item in page.items:
            out.append({
                "at": item.at.isoformat(), "channel": item.channel, "to": item.to, "subject": item.subject,
                "preview": (item.body or "")[:160], "card": item.card, "tenantId": tenant_id,
            })
    out.sort(key=lambda d: d["at"], reverse=True)
    return out[:limit]
