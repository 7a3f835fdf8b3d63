"""The `rapport` command. Each subcommand parses its arguments and calls one function.

Heavy modules are imported inside the subcommand that needs them, so `rapport --help` is instant.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

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
        from rapport.devhost import serve

        return serve(settings, host=args.host, port=args.port, demo=args.demo, timers=not args.no_timers)
    if args.command == "trigger":
        from rapport.devhost import run_trigger

        return asyncio.run(run_trigger(settings, args.name))
    if args.command == "tenant":
        from rapport.onboarding import add_tenant_command

        return asyncio.run(add_tenant_command(settings, args.tenant_id, args.name, args.domain, args.users))
    if args.command == "sync":
        from rapport.capture import sync_command

        return asyncio.run(sync_command(settings, args.tenant, args.user))
    if args.command == "dev-token":
        from rapport.devauth import dev_token_command

        return asyncio.run(dev_token_command(settings, args.tenant, args.user))
    if args.command == "manifest":
        from manifest.package import manifest_command

        return manifest_command(settings, args.action, template=args.template, out=args.out)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
