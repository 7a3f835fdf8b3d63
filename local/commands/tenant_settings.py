"""`rapport tenant set KEY=VALUE ... --tenant T` and `rapport tenant show --tenant T` (rapport.firm.settings).

`set` is generic over TenantSettings: its keys are the model's fields, whatever capability added them."""

from __future__ import annotations

import json
import sys
from typing import Any


def register(reg: Any) -> None:
    from rapport.records import TenantSettings

    tsub = reg.group("tenant", "a firm's tenant: onboard it, its settings, its data")
    keys = ", ".join(TenantSettings.model_fields)
    st = tsub.add_parser("set", help="change the firm's settings", description=f"change the firm's settings; keys: {keys}")
    st.add_argument("pairs", nargs="+", metavar="KEY=VALUE", help=f"one of: {keys}")
    st.add_argument("--tenant", required=True, metavar="T", help="the firm's Entra tenant id")
    st.set_defaults(run=lambda a, s: _set(s, a))
    sh = tsub.add_parser("show", help="print the firm's settings and its last sync times (walls, mailboxes, subscriptions)")
    sh.add_argument("--tenant", required=True, metavar="T", help="the firm's Entra tenant id")
    sh.add_argument("--json", action="store_true", help="print JSON")
    sh.set_defaults(run=lambda a, s: _show(s, a))


async def _with_store(settings: Any, verb: str, work: Any) -> int:
    from rapport.firm import FirmInputError
    from rapport.store import make_store
    from rapport.store.errors import NotFound, StoreUnavailable

    store = make_store(settings)
    try:
        await store.open()
        return await work(store)
    except (FirmInputError, NotFound) as exc:
        print(f"rapport tenant {verb}: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"rapport tenant {verb}: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()


async def _set(settings: Any, a: Any) -> int:
    from rapport.firm.settings import parse_assignments, set_settings

    async def work(store: Any) -> int:
        after, changed = await set_settings(store, a.tenant, parse_assignments(a.pairs))
        if not changed:
            print("unchanged")
        for k in changed:
            print(f"{k} = {json.dumps(getattr(after, k))}")
        return 0

    return await _with_store(settings, "set", work)


async def _show(settings: Any, a: Any) -> int:
    from rapport.firm.settings import show

    async def work(store: Any) -> int:
        data = await show(store, a.tenant)
        if a.json:
            print(json.dumps(data, indent=2))
            return 0
        print(f"tenant {data['tenant']} ({data['name']}), consent {data['consentState']}")
        print("settings:")
        for k, v in data["settings"].items():
            print(f"  {k} = {json.dumps(v)}")
        sync = data["sync"]
        print(f"walls synced: {sync['wallsSyncedAt'] or 'never'}")
        print("mailboxes (last Graph delta sync):" if sync["mailboxes"] else "mailboxes: none synced yet")
        for box in sync["mailboxes"]:
            parts = [f"{f} {v['lastSyncAt'] or 'never'}" + (f" (error: {v['lastError']})" if v["lastError"] else "")
                     for f, v in sorted(box["folders"].items())]
            print(f"  {box['upn'] or box['userOid']}: {'; '.join(parts)}")
        print("subscriptions:" if sync["subscriptions"] else "subscriptions: none")
        for s in sync["subscriptions"]:
            print(f"  {s['upn'] or s['userOid']} {s['kind']}: expires {s['expiresAt']}, renewed {s['renewedAt']}")
        return 0

    return await _with_store(settings, "show", work)
