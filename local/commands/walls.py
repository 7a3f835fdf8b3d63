"""`rapport walls import FILE`: sync the firm's ethical walls from its walls system (rapport.firm.walls)."""

from __future__ import annotations

import sys
from typing import Any

HELP = """CSV (a header row) or JSON Lines, one wall per row or one row per wall member (rows with
the same wall id are merged). Columns: wall_id (required), name, status (inactive/ended/deleted ends
the wall), matters (references), clients (mail domains), accounts (names), insiders and excluded
(UPNs); list cells are separated by ";" or "|". A wall with insiders lets only its insiders see
what it screens; excluded people may not see it. Exit 0 done, 1 failed (store), 2 bad input."""


def register(reg: Any) -> None:
    w = reg.group("walls", "the firm's ethical walls, from its walls system")
    p = w.add_parser("import", help="sync walls from a walls-system export (CSV or JSON Lines)", description=HELP)
    p.add_argument("file", metavar="FILE", help="the export (- reads standard input)")
    p.add_argument("--tenant", required=True, help="the firm's tenant id")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true",
                      help="the file lists every wall: walls it does not list are ended")
    mode.add_argument("--partial", action="store_true", help="the file lists some walls (the default)")
    p.add_argument("--skip-bad-rows", action="store_true",
                   help="import the good rows of a file with bad ones (default: write nothing)")
    p.add_argument("--dry-run", action="store_true", help="check and say what would change; write nothing")
    p.set_defaults(run=lambda args, settings: walls_import_command(settings, args))


def progress(what: str) -> Any:
    return lambda n: print(f"  ... {n:,} rows {what}", file=sys.stderr, flush=True)


def open_file(path: str) -> Any:
    # Undecodable bytes become U+FFFD, which the row reader reports as a bad row (not a crash).
    return open(path, encoding="utf-8-sig", errors="replace", newline="")


async def run_import(settings: Any, me: str, do: Any) -> Any:
    """The import commands' one frame: open the store, run `do(store)`, and turn what goes wrong
    into an exit status (2 bad input or a file with bad rows, 1 the store). Returns the report,
    or the exit status."""
    from rapport.firm.rows import ImportFileError
    from rapport.store import StoreUnavailable, make_store

    store = make_store(settings)
    try:
        await store.open()
        report = await do(store)
    except (ImportFileError, LookupError) as exc:
        print(f"{me}: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"{me}: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    if report.refused:
        print(f"{me}: {report.bad} bad rows: nothing written (fix them, or import the rest with --skip-bad-rows)",
              file=sys.stderr)
        return 2
    return report


async def walls_import_command(settings: Any, args: Any) -> int:
    from rapport.firm.walls import import_walls
    from rapport.onboarding import OnboardingError, parse_tenant_id

    me = "rapport walls import"
    try:
        tenant = parse_tenant_id(args.tenant)
        stream = sys.stdin if args.file == "-" else open_file(args.file)
    except (OnboardingError, OSError) as exc:
        print(f"{me}: {exc}", file=sys.stderr)
        return 2
    try:
        report = await run_import(settings, me, lambda store: import_walls(
            store, tenant, stream, full=args.full, skip_bad=args.skip_bad_rows, dry_run=args.dry_run,
            on_bad=lambda p: print(f"{me}: {p}", file=sys.stderr), progress=progress("read"),
        ))
    finally:
        if stream is not sys.stdin:
            stream.close()
    if isinstance(report, int):
        return report
    for note in report.notes:
        print(f"  note: {note}")
    verb = "would change" if args.dry_run else "changed"
    print(f"walls of tenant {tenant}: {report.rows} rows, {report.walls} walls; {verb}: {report.created} new, "
          f"{report.updated} updated ({report.ended} ended), {report.unchanged} unchanged"
          + (f"; {report.bad} bad rows skipped" if report.bad else ""))
    if args.dry_run:
        print("dry run: nothing written")
    elif not report.written:
        print("nothing changed (the walls were already as in the file); sync time recorded")
    else:
        print(f"sync time recorded: {report.synced_at:%Y-%m-%d %H:%M} UTC")
    return 0
