"""`rapport dev-token`: a bearer token for the add-in API, local only."""

from __future__ import annotations

import sys
from typing import Any


def register(reg: Any) -> None:
    d = reg.command("dev-token", "local only (RAPPORT_DEV_AUTH=1): print a bearer token for the add-in API")
    d.add_argument("--tenant", help="tenant id (default: the demo firm)")
    d.add_argument("--user", help="UPN (default: the demo firm's first partner)")
    d.set_defaults(run=lambda args, settings: dev_token_command(settings, args.tenant, args.user))


async def _default_tenant(store: Any) -> str | None:
    """The demo firm if it is onboarded here, else the only onboarded tenant, else None."""
    from local.demo import DEMO_TENANT_ID
    from rapport.identity.dev import only_tenant

    if await store.get_tenant(DEMO_TENANT_ID) is not None:
        return DEMO_TENANT_ID
    tenant = await only_tenant(store)
    return tenant.tenantId if tenant is not None else None


async def dev_token_command(settings: Any, tenant: str | None, user: str | None) -> int:
    """Print a dev token for a person of an onboarded tenant (RAPPORT_DEV_AUTH=1 only)."""
    from rapport.identity.dev import DevTokenRefused, dev_token_for
    from rapport.store import make_store

    if not settings.dev_auth:
        print("rapport dev-token: RAPPORT_DEV_AUTH=1 is not set; dev tokens are for local use only", file=sys.stderr)
        return 2
    store = make_store(settings)
    await store.open()
    try:
        tid = (tenant or await _default_tenant(store) or "").lower()
        if not tid:
            print("rapport dev-token: no tenant given and no single onboarded tenant; use --tenant", file=sys.stderr)
            return 2
        try:
            token = await dev_token_for(settings, store, tid, user)
        except DevTokenRefused as exc:
            print(f"rapport dev-token: {exc}", file=sys.stderr)
            return 2
        print(token)
        return 0
    finally:
        await store.close()
