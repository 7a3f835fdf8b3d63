"""Export a firm's records as JSON Lines, and import such an export (a restore, or the move of a firm
from the embedded SQLite store to Cosmos DB).

An export is a directory: one `<family>.jsonl` per record family (rapport.records.FAMILIES), each
line one stored document (the record plus its docType, ixKeys, ixAt; no ETag), in id order, and
`manifest.json`, written last, so an export without one is incomplete: the tenant, the schema
version, when, and per family its file, record count and SHA-256.

Import verifies everything before it writes anything: the manifest, each file's checksum and count,
and every line (JSON, a known record type of that file's family, a record that validates, and the
manifest's tenant, which must be the tenant asked for). A firm's export is never written into
another tenant: there is no re-tenanting (ids and routes are the firm's). Then it writes in chunks
of upserts of the same deterministic ids, so a second import of the same export changes nothing.
Webhook routes (kept outside the firm's partition) are re-derived from its active subscriptions.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rapport.firmdata import Refused
from rapport.records import (
    FAMILIES,
    RECORD_TYPES,
    ROUTES_PARTITION,
    SCHEMA_VERSION,
    Record,
    Subscription,
    SubscriptionRoute,
    iso,
    utcnow,
)
from rapport.store.base import Store

FORMAT = "rapport-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PAGE = 1000  # documents per store read: what bounds the memory an export holds
CHUNK = 500  # records per bulk write on import
PROGRESS_EVERY = 50_000

Progress = Callable[[str, int], None]  # (family, records so far in it)


def file_of(family: str) -> str:
    return f"{family}.jsonl"


@dataclass
class FamilyReport:
    count: int = 0
    sha256: str = ""


@dataclass
class ExportReport:
    tenant_id: str
    families: dict[str, FamilyReport] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(f.count for f in self.families.values())


def _valid_tenant(tenant_id: str) -> str:
    t = (tenant_id or "").strip()
    if not t or t.startswith("_") or any(c in t for c in "/\\?#") or len(t) > 100:
        raise Refused("not a tenant id")
    return t


async def family_lines(store: Store, tenant_id: str, family: str) -> AsyncIterator[bytes]:
    """Every document of a tenant's family as one UTF-8 JSON line each, page by page (an async
    generator: the HTTP export streams it)."""
    after = None
    while True:
        page = await store.scan(tenant_id, family, after=after, limit=PAGE)
        for text in page.items:
            yield text.encode("utf-8") + b"\n"
        if page.cursor is None:
            return
        after = page.cursor


async def export_tenant(store: Store, tenant_id: str, out: Path, *, progress: Progress | None = None,
                        now: datetime | None = None) -> ExportReport:
    """Write the firm's export into `out` (created; must be empty). Refused if the tenant is unknown."""
    tenant_id = _valid_tenant(tenant_id)
    if await store.get_tenant(tenant_id) is None:
        raise Refused(f"no tenant {tenant_id} in this store")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise Refused(f"{out} exists and is not an empty directory")
    out.mkdir(parents=True, exist_ok=True)
    report = ExportReport(tenant_id)
    started = now or utcnow()
    for family in FAMILIES:
        digest = hashlib.sha256()
        n = 0
        with open(out / file_of(family), "wb") as f:
            async for line in family_lines(store, tenant_id, family):
                digest.update(line)
                f.write(line)
                n += 1
                if progress and n % PROGRESS_EVERY == 0:
                    progress(family, n)
        if progress:
            progress(family, n)
        report.families[family] = FamilyReport(n, digest.hexdigest())
    manifest = {
        "format": FORMAT, "formatVersion": FORMAT_VERSION, "schemaVersion": SCHEMA_VERSION,
        "tenantId": tenant_id, "exportedAt": iso(started), "total": report.total,
        "families": {fam: {"file": file_of(fam), "count": r.count, "sha256": r.sha256}
                     for fam, r in report.families.items()},
    }
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out / MANIFEST)  # last, and whole: its presence says the export is complete
    return report


# --- import --------------------------------------------------------------------------------------


def read_manifest(src: Path, tenant_id: str) -> dict[str, Any]:
    try:
        manifest = json.loads((Path(src) / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Refused(f"{src} has no {MANIFEST} (not an export, or an incomplete one)") from None
    except (OSError, ValueError, UnicodeDecodeError):
        raise Refused(f"{MANIFEST} is not readable JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise Refused(f"{MANIFEST} is not a Rapport export manifest")
    if manifest.get("formatVersion") != FORMAT_VERSION:
        raise Refused(f"export format version {manifest.get('formatVersion')!r} is not {FORMAT_VERSION}")
    schema = manifest.get("schemaVersion")
    if not isinstance(schema, int) or schema > SCHEMA_VERSION:
        raise Refused(f"export schema version {schema!r} is newer than this Rapport's ({SCHEMA_VERSION})")
    if manifest.get("tenantId") != tenant_id:
        # Never write one firm's data into another tenant, whatever the records say.
        raise Refused("the export is of another tenant than the one given (--tenant)")
    families = manifest.get("families")
    if not isinstance(families, dict) or not families:
        raise Refused(f"{MANIFEST} lists no families")
    for family, entry in families.items():
        if family not in FAMILIES:
            raise Refused(f"{MANIFEST} lists an unknown family {family!r}")
        if (not isinstance(entry, dict) or entry.get("file") != file_of(family)
                or not isinstance(entry.get("count"), int) or not isinstance(entry.get("sha256"), str)):
            raise Refused(f"{MANIFEST}: the entry of {family} is malformed")
    return manifest


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb") as f:
        yield from enumerate(f, 1)


def _record(family: str, tenant_id: str, line: bytes, where: str) -> Record:
    """One export line as its record, or Refused naming the file and line."""
    if not line.endswith(b"\n"):
        raise Refused(f"{where}: the last line is cut short")
    try:
        doc = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise Refused(f"{where}: not JSON") from None
    if not isinstance(doc, dict):
        raise Refused(f"{where}: not a JSON object")
    if doc.get("tenantId") != tenant_id:
        raise Refused(f"{where}: a record of another tenant")
    cls = RECORD_TYPES.get(doc.get("docType")) if isinstance(doc.get("docType"), str) else None
    if cls is None or cls.family != family:
        raise Refused(f"{where}: not a record of the {family} family")
    try:
        return cls.model_validate(doc)
    except ValidationError as exc:
        raise Refused(f"{where}: not a valid {cls.doc_type} record ({exc.error_count()} errors)") from None


def verify_export(src: Path, tenant_id: str, *, progress: Progress | None = None) -> dict[str, Any]:
    """Check an export as a whole before anything is written: manifest, checksums, counts and every
    line. Returns the manifest; raises Refused (with file and line) at the first fault."""
    tenant_id = _valid_tenant(tenant_id)
    src = Path(src)
    manifest = read_manifest(src, tenant_id)
    for family, entry in manifest["families"].items():
        path = src / entry["file"]
        if not path.is_file():
            raise Refused(f"{entry['file']} is missing")
        digest = hashlib.sha256()
        n = 0
        for n, line in _lines(path):
            digest.update(line)
            _record(family, tenant_id, line, f"{entry['file']} line {n}")
            if progress and n % PROGRESS_EVERY == 0:
                progress(family, n)
        if n != entry["count"]:
            raise Refused(f"{entry['file']} holds {n} records, the manifest says {entry['count']}")
        if digest.hexdigest() != entry["sha256"]:
            raise Refused(f"{entry['file']} does not match its checksum")
    return manifest


async def import_tenant(store: Store, src: Path, tenant_id: str, *, progress: Progress | None = None) -> ExportReport:
    """Verify the export in `src`, then restore every record of it (upserts: idempotent)."""
    tenant_id = _valid_tenant(tenant_id)
    manifest = verify_export(src, tenant_id, progress=progress)
    report = ExportReport(tenant_id)
    routes: list[SubscriptionRoute] = []
    # The tenant record first, so the firm is listed (and its directory entry made) before its data.
    order = sorted(manifest["families"], key=lambda fam: (fam != "tenants", fam))
    for family in order:
        entry = manifest["families"][family]
        digest = hashlib.sha256()
        chunk: list[Record] = []
        n = 0
        for n, line in _lines(Path(src) / entry["file"]):
            digest.update(line)
            record = _record(family, tenant_id, line, f"{entry['file']} line {n}")
            chunk.append(record)
            if isinstance(record, Subscription) and record.state == "active":
                routes.append(SubscriptionRoute(id=record.id, tenantId=ROUTES_PARTITION, firmTenantId=tenant_id,
                                                userOid=record.userOid, kind=record.kind,
                                                clientStateHash=record.clientStateHash))
            if len(chunk) >= CHUNK:
                await store.put_many(chunk)
                chunk = []
            if progress and n % PROGRESS_EVERY == 0:
                progress(family, n)
        if chunk:
            await store.put_many(chunk)
        if progress:
            progress(family, n)
        report.families[family] = FamilyReport(n, digest.hexdigest())
    if routes:  # the webhook's routing table lives outside the firm's partition: re-derived here
        await store.put_many(routes)
    return report
