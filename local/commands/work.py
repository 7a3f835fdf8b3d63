"""`rapport work`: the work after the answer that is waiting or has given up, per tenant, and the poison queue.

What an admin looks at when a follow-up was approved but no mail went out: the queued items (due
when, after how many failed attempts), the dead ones (parked after work.MAX_ATTEMPTS; the alert
line in the log named them), and the messages the work queue gave up on (`rapport-work-poison`,
where the Functions host, or the local host, moves a message after host.json's maxDequeueCount
deliveries). Only ids, kinds, counts, times and the error's type are shown: never a payload, an
address or an error's text (it may quote a mail).
"""

from __future__ import annotations

import sys
from typing import Any

STATES = ("queued", "dead")


def register(reg: Any) -> None:
    w = reg.command("work", "list the work waiting or given up (queued and dead items per tenant, the poison queue)")
    w.add_argument("--tenant", help="one tenant id (default: every tenant)")
    w.add_argument("--limit", type=int, default=20, help="items shown per tenant and state (1-500, default 20)")
    w.set_defaults(run=lambda args, settings: work_command(settings, args.tenant, args.limit))


def _error_kind(error: str | None) -> str:
    # lastError is "Type: message"; the message may quote what a handler was given, so only the type.
    return (error or "").split(":", 1)[0].strip()[:60] or "-"


def _line(state: str, item: Any) -> str:
    due = item.notBefore.strftime("%Y-%m-%d %H:%M:%SZ")
    tail = f"  last error: {_error_kind(item.lastError)}" if item.attempts else ""
    return f"  {state:<6} {item.id}  {item.kind:<22} attempts {item.attempts}  due {due}{tail}"


async def work_command(settings: Any, tenant_id: str | None, limit: int) -> int:
    """Print the listing. Exit 0 listed, 1 store or queue unreachable, 2 bad input."""
    from rapport import work_queue
    from rapport.store import StoreUnavailable, make_store

    if not 1 <= limit <= 500:
        print("rapport work: --limit must be between 1 and 500", file=sys.stderr)
        return 2
    store = make_store(settings)
    try:
        await store.open()
        tenants = await store.list_tenants()
        if tenant_id is not None:
            tenants = [t for t in tenants if t.id.lower() == tenant_id.strip().lower()]
            if not tenants:
                print(f"rapport work: no tenant {tenant_id.strip()[:64]!r} (see `rapport tenant show`)", file=sys.stderr)
                return 2
        states: dict[tuple[str, str], str] = {}
        for t in tenants:
            pages = {s: await store.work_in_state(t.id, s, limit) for s in STATES}
            counts = ", ".join(f"{len(p.items)}{'+' if p.cursor else ''} {s}" for s, p in pages.items())
            print(f"tenant {t.id} ({t.name}): {counts}", flush=True)  # a line per tenant as it goes
            for s, p in pages.items():
                for item in p.items:
                    print(_line(s, item))
                    states[(t.id, item.id)] = s
        if not settings.work_queue:
            print("work queue: none configured (RAPPORT_WORK_QUEUE): work runs in-process after the answer, "
                  "and the drain_work timer every minute")
            return 0
        try:
            poison = await work_queue.poison_messages(settings)
        except Exception as exc:  # noqa: BLE001 - the listing above stands; say the queue is unreachable
            print(f"rapport work: the work queue is unreachable ({type(exc).__name__})", file=sys.stderr)
            return 1
        shown = {t.id for t in tenants}
        poison = [m for m in poison if tenant_id is None or m.tenant_id in shown]
        print(f"poison queue {work_queue.POISON_QUEUE_NAME}: {len(poison)} message(s)"
              + (f" (the first {work_queue.PEEK_LIMIT})" if len(poison) >= work_queue.PEEK_LIMIT else ""))
        for m in poison:
            if m.item_id is None:
                print(f"  message {m.message_id}: not a work message")
                continue
            item_state = states.get((m.tenant_id or "", m.item_id))
            if item_state is None:
                from rapport.records import WorkItem

                got = await store.get(WorkItem, m.tenant_id or "", m.item_id)
                item_state = got.state if got is not None else "no such item"
            at = m.inserted_on.strftime("%Y-%m-%d %H:%M:%SZ") if m.inserted_on else "-"
            print(f"  message {m.message_id}  tenant {m.tenant_id}  item {m.item_id} ({item_state})  since {at}")
        return 0
    except StoreUnavailable as exc:
        print(f"rapport work: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()
