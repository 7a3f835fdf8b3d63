"""Relationships between the firm's people and its contacts: who sees what, introductions, counsel moves.

- `visibility` a partner marks their relationship with a contact private, team or firm (the scope,
                rapport.store.scope, applies it everywhere);
- `intros`     asking the owners of a contact one may not see for an introduction, their answer,
                the reminder after three working days;
- `moves`      counsel moves (capture's Signal: a new domain, a signature naming another company, a
                bounced address) raised once to the partners who know the person, with a
                congratulations note through the follow-up approval card (none for a bounce),
                dismissible, tracked;
- `audit`      the introductions audit per partner (the CLI's `rapport audit intros`, the Monday
                report) and the moves' tracking;
- `notify`     cards to one person after the answer ("relationship-card" work), `delivery` its handler.

`timer_pass` is what the `relationships_timer` trigger runs. Imports rapport's records, store, work,
runtime, text, identity, drafting, followups, cards and local outbox; never bot/, addin/ or function_app.
"""

from __future__ import annotations

import logging
from datetime import datetime

from rapport import work
from rapport.records import aware, utcnow
from rapport.relationships import intros, moves
from rapport.store.base import Store

log = logging.getLogger("rapport.relationships")


async def timer_pass(store: Store, now: datetime | None = None, *, past_due: bool = False,
                     kick: bool = True) -> dict[str, int]:
    """Reminders of unanswered introductions, new counsel moves raised, moves tracked. Idempotent."""
    now = aware(now or utcnow())
    totals = {"reminders": 0, "moves": 0}
    for tenant in await store.list_tenants():
        if not tenant.allowed:
            continue
        totals["reminders"] += await intros.remind_pass(store, tenant.id, now)
        totals["moves"] += await moves.move_pass(store, tenant, now)
        if kick:
            work.kick_coalesced(store, tenant.id)
    if past_due or any(totals.values()):
        log.info("relationships pass%s: %d reminders, %d moves raised", " (past due)" if past_due else "",
                 totals["reminders"], totals["moves"])
    return totals


__all__ = ["timer_pass"]
