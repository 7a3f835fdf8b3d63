"""`rapport people list|add|remove|set-role --tenant T`: a firm's people and their roles (rapport.firm.people)."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

ROLES_HELP = "partner, associate, bd, managing_partner, admin or staff"


def register(reg: Any) -> None:
    g = reg.group("people", "a firm's people and their roles: list, add, remove, set-role")

    def tenant_arg(p: Any) -> None:
        p.add_argument("--tenant", required=True, metavar="T", help="the firm's Entra tenant id")

    ls = g.add_parser("list", help="list the firm's people: role, enabled, captured")
    tenant_arg(ls)
    ls.set_defaults(run=lambda a, s: _run(s, "list", lambda store, graph: _list(store, a)))

    add = g.add_parser("add", help="add a person (from Graph /users/{upn} when Graph is configured, else --oid/--name)")
    tenant_arg(add)
    add.add_argument("upn", metavar="UPN", help="their user principal name (name@firm.com)")
    add.add_argument("--role", default="partner", help=f"{ROLES_HELP} (default partner)")
    add.add_argument("--oid", help="their Entra object id (needed when Graph is not configured)")
    add.add_argument("--name", help="their display name (needed when Graph is not configured)")
    add.add_argument("--capture", action="store_true",
                     help="capture their mail and calendar (adds them to the firm's partners list)")
    add.set_defaults(run=lambda a, s: _run(s, "add", lambda store, graph: _add(store, graph, a), graph=True))

    rm = g.add_parser("remove", help="disable a person: stop their capture and subscriptions, expire their "
                                     "open drafts; the firm's records stay")
    tenant_arg(rm)
    rm.add_argument("who", metavar="UPN_OR_OID", help="the person's UPN or object id")
    rm.set_defaults(run=lambda a, s: _run(s, "remove", lambda store, graph: _remove(store, graph, a), graph=True))

    sr = g.add_parser("set-role", help="change a person's role")
    tenant_arg(sr)
    sr.add_argument("who", metavar="UPN_OR_OID", help="the person's UPN or object id")
    sr.add_argument("role", metavar="ROLE", help=ROLES_HELP)
    sr.set_defaults(run=lambda a, s: _run(s, "set-role", lambda store, graph: _set_role(store, a)))


async def _run(settings: Any, verb: str, work: Callable[[Any, Any], Awaitable[int]], *, graph: bool = False) -> int:
    """Open the store (and Graph), run, map failures to exit codes: 2 bad input, 1 failed."""
    from rapport.firm import FirmInputError
    from rapport.firm.people import directory
    from rapport.graph import GraphError
    from rapport.store import make_store
    from rapport.store.errors import NotFound, StoreUnavailable

    store = make_store(settings)
    client = directory(settings) if graph else None
    try:
        await store.open()
        return await work(store, client)
    except (FirmInputError, NotFound) as exc:
        print(f"rapport people {verb}: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"rapport people {verb}: {exc}", file=sys.stderr)
        return 1
    except GraphError as exc:
        print(f"rapport people {verb}: Graph refused ({exc.status} {exc.code})", file=sys.stderr)
        return 1
    finally:
        await store.close()


async def _list(store: Any, a: Any) -> int:
    from rapport.firm.people import list_people

    rows = await list_people(store, a.tenant)
    if not rows:
        print(f"no people in tenant {a.tenant} yet (rapport people add UPN --tenant {a.tenant})")
        return 0
    width = max(len(r.upn) for r in rows)
    for r in rows:
        flags = ", ".join(f for f, on in (("captured", r.captured), ("disabled", not r.enabled)) if on)
        print(f"{r.upn:<{width}}  {r.role:<16}  {r.oid}  {r.name}" + (f"  ({flags})" if flags else ""))
    return 0


async def _add(store: Any, graph: Any, a: Any) -> int:
    from rapport.firm.people import add_person

    person, action = await add_person(store, a.tenant, a.upn, role=a.role, oid=a.oid, name=a.name,
                                      capture=a.capture, graph=graph)
    print(f"{person.upn}: {action} (role {person.role}, oid {person.oid}"
          + (", captured)" if a.capture else ")"))
    return 0


async def _remove(store: Any, graph: Any, a: Any) -> int:
    from rapport.firm.people import remove_person

    done = await remove_person(store, a.tenant, a.who, graph=graph)
    p = done["person"]
    print(f"{p.upn}: {done['action']}; disabled, not captured; {done['subscriptions']} Graph subscriptions "
          f"retired, {done['drafts']} open drafts expired; their records stay")
    return 0


async def _set_role(store: Any, a: Any) -> int:
    from rapport.firm.people import set_role

    person, action = await set_role(store, a.tenant, a.who, a.role)
    print(f"{person.upn}: role {person.role} ({action})")
    return 0
