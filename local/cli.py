"""The `rapport` command: finds the subcommands in `local.commands` and runs the one asked for.

Each subcommand parses its arguments and calls one domain function; what is printed and the exit
status are decided in its module. Heavy modules are imported inside the subcommand that needs
them, so `rapport --help` is instant.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import os
import pkgutil
import sys

from rapport.settings import LOCAL_SETTINGS_FILE, SettingsError, load_settings


class Registry:
    """What a command module gets to add its parsers: a top-level command, or a group of actions
    (`rapport tenant add|set|show|export`) that several modules may add to."""

    def __init__(self, sub: argparse._SubParsersAction) -> None:
        self._sub = sub
        self._groups: dict[str, argparse._SubParsersAction] = {}

    def command(self, name: str, help: str) -> argparse.ArgumentParser:
        return self._sub.add_parser(name, help=help, description=help)

    def group(self, name: str, help: str) -> argparse._SubParsersAction:
        if name not in self._groups:
            p = self._sub.add_parser(name, help=help, description=help)
            self._groups[name] = p.add_subparsers(dest=f"{name}_action", required=True, metavar="ACTION")
        return self._groups[name]


def _parser() -> argparse.ArgumentParser:
    import local.commands

    p = argparse.ArgumentParser(prog="rapport", description="Rapport: the BD desk of an IP law firm, in Outlook and Teams.")
    reg = Registry(p.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    for mod in sorted(m.name for m in pkgutil.iter_modules(local.commands.__path__)):
        importlib.import_module(f"local.commands.{mod}").register(reg)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from rapport import runtime

    runtime.tune_gc()  # as function_app does: `rapport sync` runs the same capture
    try:
        # ./local.settings.json (Azure Functions style) if there is one; environment variables win.
        local_file = LOCAL_SETTINGS_FILE if os.path.isfile(LOCAL_SETTINGS_FILE) else None
        settings = load_settings(local_file=local_file)
    except SettingsError as exc:
        print(f"rapport: {exc}", file=sys.stderr)
        return 2
    try:
        result = args.run(args, settings)
        return asyncio.run(result) if inspect.isawaitable(result) else result
    except SettingsError as exc:  # a setting a subcommand needs (e.g. Graph's app id for `sync`)
        print(f"rapport {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
