"""`rapport sync`: a Graph delta sync now."""

from __future__ import annotations

import sys
from typing import Any


def register(reg: Any) -> None:
    y = reg.command("sync", "run a Graph delta sync now (what the timers and webhooks do)")
    y.add_argument("--tenant", required=True, help="tenant id")
    y.add_argument("--user", help="one partner's UPN (default: every captured partner)")
    y.set_defaults(run=lambda args, settings: sync_command(settings, args.tenant, args.user))


async def sync_command(settings: Any, tenant_id: str, user_upn: str | None) -> int:
    """`rapport sync --tenant T [--user UPN]`: a delta sync now, printed as one line per mailbox."""
    from rapport.capture import sync  # msgraph only loads when a sync runs
    from rapport.graph import GraphError
    from rapport.store import make_store

    store = await make_store(settings).open()
    graph = sync.graph_client(settings)
    try:
        reports = await sync.sync_tenant(store, graph, tenant_id, user_upn)
    except LookupError as exc:
        print(f"rapport sync: {exc}", file=sys.stderr)
        return 2
    except GraphError as exc:
        print(f"rapport sync: Graph refused ({exc.status} {exc.code})", file=sys.stderr)
        return 1
    finally:
        await graph.close()
        await store.close()
    if not reports:
        print(f"rapport sync: no captured partners for tenant {tenant_id}", file=sys.stderr)
        return 1
    failed = 0
    for r in reports:
        if r.skipped:
            failed += 1
            print(f"{r.user_oid}: skipped ({r.skipped}: an admin must grant consent again)")
            continue
        st = r.ingested
        print(f"{r.user_oid}: {sum(r.items.values())} items read "
              f"({', '.join(f'{k} {v}' for k, v in r.items.items())}); {st.interactions} interactions, "
              f"{st.contacts_new} new contacts, {st.meetings} meetings"
              + (f"; restarted {', '.join(r.restarts)}" if r.restarts else ""))
    return 1 if failed else 0
