"""`rapport serve` and `rapport trigger`: the local host of function_app's triggers."""

from __future__ import annotations

from typing import Any


def register(reg: Any) -> None:
    s = reg.command("serve", "run function_app's triggers locally (HTTP on aiohttp, timers on asyncio)")
    s.add_argument("--demo", action="store_true", help="seed the demo firm first (idempotent)")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=7071, help="port to bind (default 7071; 0 picks a free one)")
    s.add_argument("--no-timers", action="store_true", help="serve HTTP only; run timers with `rapport trigger`")
    s.set_defaults(run=_serve)

    r = reg.command("trigger", "run one timer trigger of function_app once, now")
    r.add_argument("name", metavar="NAME", nargs="?", help="the timer's function name (omit to list them)")
    r.set_defaults(run=_trigger)


def _serve(args: Any, settings: Any) -> int:
    from local.host import serve

    return serve(settings, host=args.host, port=args.port, demo=args.demo, timers=not args.no_timers)


def _trigger(args: Any, settings: Any):
    from local.host import run_trigger

    return run_trigger(settings, args.name)
