"""The `rapport` command. Each subcommand parses its arguments and calls one function.

The domain does the work and returns a result (rapport.onboarding.add_tenant, rapport.capture.sync.sync_tenant,
rapport.identity.dev.dev_token_for); what is printed and the exit status are decided here. Heavy
modules are imported inside the subcommand that needs them, so `rapport --help` is instant.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from rapport.settings import SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rapport", description="Rapport: the BD desk of an IP law firm, in Outlook and Teams.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("serve", help="run function_app's triggers locally (HTTP on aiohttp, timers on asyncio)")
    s.add_argument("--demo", action="store_true", help="seed the demo firm first (idempotent)")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=7071, help="port to bind (default 7071; 0 picks a free one)")
    s.add_argument("--no-timers", action="store_true", help="serve HTTP only; run timers with `rapport trigger`")

    t = sub.add_parser("tenant", help="onboard a firm's tenant")
    tsub = t.add_subparsers(dest="tenant_command", required=True, metavar="ACTION")
    ta = tsub.add_parser("add", help="allow a tenant, record its mail domains and the partners captured")
    ta.add_argument("tenant_id", metavar="TENANT_ID", help="the firm's Entra tenant id (a GUID)")
    ta.add_argument("--name", required=True, help="the firm's name")
    ta.add_argument("--domain", required=True, action="append",
                    help="one of the firm's own mail domains (repeat or comma-separate)")
    ta.add_argument("--users", default="", help="comma-separated UPNs of the partners whose mail and calendar are captured")

    y = sub.add_parser("sync", help="run a Graph delta sync now (what the timers and webhooks do)")
    y.add_argument("--tenant", required=True, help="tenant id")
    y.add_argument("--user", help="one partner's UPN (default: every captured partner)")

    r = sub.add_parser("trigger", help="run one timer trigger of function_app once, now")
    r.add_argument("name", metavar="NAME", nargs="?", help="the timer's function name (omit to list them)")

    d = sub.add_parser("dev-token", help="local only (RAPPORT_DEV_AUTH=1): print a bearer token for the add-in API")
    d.add_argument("--tenant", help="tenant id (default: the demo firm)")
    d.add_argument("--user", help="UPN (default: the demo firm's first partner)")

    m = sub.add_parser("manifest", help="build or validate the Teams app package")
    m.add_argument("action", choices=["build", "validate"], help="build writes build/appPackage.zip after validating")
    m.add_argument("--template", help="manifest template to use (default: manifest/manifest.template.json)")
    m.add_argument("--out", help="where to write the package (default: build/appPackage.zip)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from rapport import runtime

    runtime.tune_gc()  # as function_app does: `rapport sync` runs the same capture
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"rapport: {exc}", file=sys.stderr)
        return 2
    try:
        return _dispatch(args, settings)
    except SettingsError as exc:  # a setting a subcommand needs (e.g. Graph's app id for `sync`)
        print(f"rapport {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, settings) -> int:
    if args.command == "serve":
        from local.host import serve

        return serve(settings, host=args.host, port=args.port, demo=args.demo, timers=not args.no_timers)
    if args.command == "trigger":
        from local.host import run_trigger

        return asyncio.run(run_trigger(settings, args.name))
    if args.command == "tenant":
        return asyncio.run(add_tenant_command(settings, args.tenant_id, args.name, args.domain, args.users))
    if args.command == "sync":
        return asyncio.run(sync_command(settings, args.tenant, args.user))
    if args.command == "dev-token":
        return asyncio.run(dev_token_command(settings, args.tenant, args.user))
    if args.command == "manifest":
        from manifest.package import manifest_command

        return manifest_command(settings, args.action, template=args.template, out=args.out)
    raise AssertionError(args.command)


# --- rapport tenant add --------------------------------------------------------------------------

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


# --- rapport sync ----------------------------------------------------------------------------------

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


# --- rapport dev-token -----------------------------------------------------------------------------

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


if __name__ == "__main__":
    sys.exit(main())
