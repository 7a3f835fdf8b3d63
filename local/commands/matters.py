"""`rapport matters import FILE`: the firm's matters from its IP management system (rapport.firm.matters)."""

from __future__ import annotations

import sys
from typing import Any

HELP = """CSV (a header row) or JSON Lines, one matter per row. Columns: reference (required),
client, client_domain, title, mark (or patent), jurisdictions (";"-separated), responsible (the
partner's UPN), renewal, opposition, office_action, annuity (dates, YYYY-MM-DD). Matched to accounts
by the client's domain, then its name; unmatched matters are listed and not written (import again
once the account exists). Re-importing updates, never duplicates. Exit 0 done, 1 failed (store),
2 bad input."""

SHOWN = 100  # unmatched rows printed one by one; the rest are counted


def register(reg: Any) -> None:
    m = reg.group("matters", "the firm's matters, from its IP management system")
    p = m.add_parser("import", help="import matters from a docketing export (CSV or JSON Lines)", description=HELP)
    p.add_argument("file", metavar="FILE", help="the export")
    p.add_argument("--tenant", required=True, help="the firm's tenant id")
    p.add_argument("--skip-bad-rows", action="store_true",
                   help="import the good rows of a file with bad ones (default: write nothing)")
    p.add_argument("--dry-run", action="store_true", help="check and match; say what would change, write nothing")
    p.set_defaults(run=lambda args, settings: matters_import_command(settings, args))


async def matters_import_command(settings: Any, args: Any) -> int:
    from local.commands.walls import open_file, run_import
    from rapport.firm.matters import import_matters
    from rapport.onboarding import OnboardingError, parse_tenant_id

    me = "rapport matters import"
    try:
        tenant = parse_tenant_id(args.tenant)
        open_file(args.file).close()
    except (OnboardingError, OSError) as exc:
        print(f"{me}: {exc}", file=sys.stderr)
        return 2
    shown = [0]

    def unmatched(u: Any) -> None:
        shown[0] += 1
        if shown[0] <= SHOWN:
            print(f"  unmatched: {u}")

    report = await run_import(settings, me, lambda store: import_matters(
        store, tenant, lambda: open_file(args.file), skip_bad=args.skip_bad_rows, dry_run=args.dry_run,
        on_bad=lambda p: print(f"{me}: {p}", file=sys.stderr), on_unmatched=unmatched,
        progress=lambda phase, n: print(f"  ... {n:,} rows {phase}", file=sys.stderr, flush=True),
    ))
    if isinstance(report, int):
        return report
    if report.unmatched > SHOWN:
        print(f"  ... and {report.unmatched - SHOWN} more unmatched")
    verb = "would write" if args.dry_run else "written"
    print(f"matters of tenant {tenant}: {report.rows} rows, {report.matched} matched to accounts, "
          f"{report.unmatched} unmatched (not written); {verb}: {report.created} new, {report.updated} updated; "
          f"{report.unchanged} unchanged" + (f"; {report.bad} bad rows skipped" if report.bad else ""))
    if args.dry_run:
        print("dry run: nothing written")
    elif not report.written:
        print("nothing changed: every matter was already as in the file")
    return 0
