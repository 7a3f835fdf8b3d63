"""`rapport tenant export|import|purge` and `rapport contact forget`: a firm's data as a whole, and the
erasure of one outside person (rapport.firmdata)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any


def register(reg: Any) -> None:
    tsub = reg.group("tenant", "a firm's tenant: onboard it, its settings, its data")
    e = tsub.add_parser("export", help="write every record of a firm as JSON Lines, one file per family, "
                                       "with manifest.json (counts, SHA-256)",
                        description="Export a firm: one JSON Lines file per record family and a manifest "
                                    "(counts, SHA-256 per file, schema version). Constant memory.")
    e.add_argument("--tenant", required=True, help="tenant id")
    e.add_argument("--out", required=True, type=Path, help="directory to write (created; must be empty)")
    e.set_defaults(run=lambda args, settings: export_command(settings, args.tenant, args.out))

    i = tsub.add_parser("import", help="verify an export, then restore it (idempotent); also moves a firm "
                                       "from SQLite to Cosmos DB",
                        description="Import an export made by `rapport tenant export`: the manifest, checksums, "
                                    "counts and every record are verified before anything is written; the "
                                    "export must be of the tenant given.")
    i.add_argument("src", metavar="DIR", type=Path, help="the export directory")
    i.add_argument("--tenant", required=True, help="tenant id (must be the export's)")
    i.set_defaults(run=lambda args, settings: import_command(settings, args.src, args.tenant))

    p = tsub.add_parser("purge", help="delete a firm's records and Graph subscriptions (asks for a typed "
                                      "confirmation); leaves one audit line",
                        description="Delete every record of a firm and its Graph subscriptions. Cannot be "
                                    "undone: export first. One audit line (no personal data) is kept.")
    p.add_argument("--tenant", required=True, help="tenant id")
    p.add_argument("--confirm", help="the tenant id or the firm's exact name, typed (asked for on a terminal)")
    p.set_defaults(run=lambda args, settings: purge_command(settings, args.tenant, args.confirm))

    csub = reg.group("contact", "an outside person the firm knows")
    f = csub.add_parser("forget", help="erase one outside person (contact, interactions, mentions in drafts) "
                                       "and keep them from being captured again",
                        description="Erase one outside person from a firm and suppress their address from "
                                    "capture.")
    f.add_argument("email", metavar="EMAIL", help="the person's email address")
    f.add_argument("--tenant", required=True, help="tenant id")
    f.set_defaults(run=lambda args, settings: forget_command(settings, args.tenant, args.email))


class _Progress:
    """Progress on stderr: a line per family done, and every so often within a big one."""

    def __init__(self, verb: str) -> None:
        self.verb, self.started = verb, time.monotonic()

    def __call__(self, family: str, n: int) -> None:
        print(f"  {self.verb} {family}: {n:,} records ({time.monotonic() - self.started:.0f} s)", file=sys.stderr)


async def _run(name: str, settings: Any, work) -> int:
    """Open the store, run `work(store)`; exit 2 for a refusal, 1 if the store is down."""
    from rapport.firmdata import Refused
    from rapport.store import StoreUnavailable, make_store

    store = make_store(settings)
    try:
        await store.open()
        return await work(store)
    except Refused as exc:
        print(f"rapport {name}: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"rapport {name}: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()


async def export_command(settings: Any, tenant_id: str, out: Path) -> int:
    from rapport.firmdata.portability import export_tenant

    async def work(store: Any) -> int:
        report = await export_tenant(store, tenant_id, out, progress=_Progress("exported"))
        print(f"exported {report.total:,} records of tenant {tenant_id} to {out}")
        return 0

    return await _run("tenant export", settings, work)


async def import_command(settings: Any, src: Path, tenant_id: str) -> int:
    from rapport.firmdata.portability import import_tenant

    async def work(store: Any) -> int:
        report = await import_tenant(store, src, tenant_id, progress=_Progress("imported"))
        print(f"imported {report.total:,} records of tenant {tenant_id} into the {store.name} store")
        return 0

    return await _run("tenant import", settings, work)


async def purge_command(settings: Any, tenant_id: str, confirm: str | None) -> int:
    from rapport.firmdata.purge import purge_tenant
    from rapport.settings import SettingsError

    if confirm is None:
        if not sys.stdin.isatty():
            print("rapport tenant purge: give --confirm with the tenant id or the firm's exact name", file=sys.stderr)
            return 2
        confirm = input(f"This deletes every record of tenant {tenant_id}. Type its tenant id or the firm's "
                        "exact name to go on: ").strip()

    async def work(store: Any) -> int:
        from rapport.capture.sync import graph_client

        try:
            graph = graph_client(settings)
        except SettingsError as exc:
            graph = None
            print(f"rapport tenant purge: Graph is not configured ({exc}); subscriptions are forgotten here "
                  "and lapse at Graph within 3 days", file=sys.stderr)
        report = await purge_tenant(store, tenant_id, confirm=confirm, graph=graph, actor="cli")
        print(f"purged tenant {tenant_id}: {report.records:,} records, {report.subscriptions} Graph subscriptions "
              f"(audit {report.audit_id})")
        return 0

    return await _run("tenant purge", settings, work)


async def forget_command(settings: Any, tenant_id: str, email: str) -> int:
    from rapport.firmdata.forget import forget_contact

    async def work(store: Any) -> int:
        report = await forget_contact(store, tenant_id, email, actor="cli")
        done = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items())) or "nothing stored"
        print(f"forgotten (suppressed from capture as {report.suppression_id}): {done}")
        return 0

    return await _run("contact forget", settings, work)
