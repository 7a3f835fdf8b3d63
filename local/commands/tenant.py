"""`rapport tenant ...`: a firm's tenant."""

from __future__ import annotations

import sys
from typing import Any


def register(reg: Any) -> None:
    tsub = reg.group("tenant", "a firm's tenant: onboard it, its settings, its data")
    ta = tsub.add_parser("add", help="allow a tenant, record its mail domains and the partners captured")
    ta.add_argument("tenant_id", metavar="TENANT_ID", help="the firm's Entra tenant id (a GUID)")
    ta.add_argument("--name", required=True, help="the firm's name")
    ta.add_argument("--domain", required=True, action="append",
                    help="one of the firm's own mail domains (repeat or comma-separate)")
    ta.add_argument("--users", default="", help="comma-separated UPNs of the partners whose mail and calendar are captured")
    ta.set_defaults(run=lambda args, settings: add_tenant_command(settings, args.tenant_id, args.name, args.domain, args.users))


async def add_tenant_command(settings: Any, tenant_id: str, name: str, domains: list[str], users: str) -> int:
    """Validate, record, print what was done. Exit 2 on bad input, 1 if the store is down."""
    from rapport.onboarding import OnboardingError, add_tenant, parse_request
    from rapport.store import StoreUnavailable, make_store

    try:
        tid, name, doms, upns = parse_request(tenant_id, name, domains, users)
    except OnboardingError as exc:
        print(f"rapport tenant add: {exc}", file=sys.stderr)
        return 2
    store = make_store(settings)
    try:
        await store.open()
        result = await add_tenant(store, tid, name, doms, upns)
    except StoreUnavailable as exc:
        print(f"rapport tenant add: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    t = result["tenant"]
    print(f"tenant {t.id} ({t.name}): {result['action']}")
    print(f"  allowed: yes; own mail domains: {', '.join(t.domains)}")
    for upn, what in result["people"]:
        print(f"  partner {upn}: {what}")
    if not result["people"]:
        print("  no partners given (add them with --users UPN,...)")
    return 0
