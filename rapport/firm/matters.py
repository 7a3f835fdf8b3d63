"""Matters from the firm's IP management (docketing) system: a CSV or JSON Lines export.

A row: the matter reference, the client's name and mail domain, a title, the mark or patent, the
jurisdictions (";"-separated), the responsible partner's UPN, and key dates (renewal, opposition
deadline, office-action response due, annuity due; ISO dates).

- Idempotent: a matter's id is derived from its reference (Matter.id_for), so importing a file
  again updates the same records; a record whose content would not change is not written, and the
  report says how many were unchanged (a second run of the same file writes nothing).
- Matched to the firm's accounts by the client's domain first, then by the client's name (one
  account of that name). An unmatched row is reported (line, reference, client) and NOT written:
  every surface reads matters by account, so an unlinked matter would be stored but never shown,
  and would have to be found and re-linked later; importing again once the account exists (or
  with the client's domain filled in) links it.
- Bad rows are reported with their line number and reason; a file with any is written only with
  skip_bad (the file is read twice: once to check, once to write, so memory stays constant).
  Duplicate references in one file are bad rows (which row is the truth?): only the 8-byte hashes
  of the references seen are kept for that check.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from rapport.firm.accounts import Accounts
from rapport.firm.rows import BadRow, Columns, Problem, Report, day, items, rows, text
from rapport.onboarding import OnboardingError, parse_domain
from rapport.records import AuditEvent, Matter, iso, normalize_email, stable_id, utcnow
from rapport.store.base import Read, Store

COLUMNS: Columns = {
    "reference": ("matter_reference", "matter_ref", "ref", "matter", "matter_no", "matter_number", "docket"),
    "client": ("client_name", "account", "account_name"),
    "client_domain": ("domain", "client_email_domain"),
    "title": ("matter_title", "description"),
    "mark": ("mark_or_patent", "trademark", "trade_mark", "patent", "right", "rights", "registration"),
    "jurisdictions": ("jurisdiction", "countries", "country", "territories"),
    "responsible": ("responsible_partner", "responsible_upn", "partner", "partner_upn", "attorney"),
    "renewal": ("renewal_date", "renewal_due", "next_renewal"),
    "opposition": ("opposition_deadline", "opposition_due"),
    "office_action": ("office_action_due", "office_action_response", "office_action_response_due", "oa_due"),
    "annuity": ("annuity_due", "annuity_date", "next_annuity"),
}
REQUIRED = ("reference",)
CHUNK = 500  # rows matched and written per batch (one read_many of the existing records, one write)


@dataclass
class MatterRow:
    line: int
    reference: str
    client: str
    domain: str
    title: str
    mark: str
    jurisdictions: list[str]
    responsible: str
    renewal: datetime | None
    opposition: datetime | None
    office_action: datetime | None
    annuity: datetime | None


def parse_row(line: int, row: dict[str, Any]) -> MatterRow:
    """A row as a MatterRow, or BadRow saying why not (pure)."""
    ref = text(row.get("reference"), "reference", limit=100)
    if not ref:
        raise BadRow("no matter reference")
    domain = text(row.get("client_domain"), "client domain", limit=253)
    if domain:
        try:
            domain = parse_domain(domain)
        except OnboardingError:
            raise BadRow(f"client domain {domain[:60]!r} is not a mail domain") from None
    client = text(row.get("client"), "client")
    if not client and not domain:
        raise BadRow("no client name or domain")
    responsible = text(row.get("responsible"), "responsible partner", limit=254)
    if responsible:
        try:
            responsible = normalize_email(responsible)
        except ValueError:
            raise BadRow(f"responsible partner {responsible[:60]!r} is not a UPN (name@firm.com)") from None
    jurisdictions = [j.upper() for j in items((row.get("jurisdictions") or "").replace(",", ";")
                                              if isinstance(row.get("jurisdictions"), str) else row.get("jurisdictions"),
                                              "jurisdictions", limit=40)]
    mark = text(row.get("mark"), "mark or patent")
    return MatterRow(
        line=line, reference=ref, client=client, domain=domain, title=text(row.get("title"), "title") or mark or ref,
        mark=mark, jurisdictions=jurisdictions, responsible=responsible,
        renewal=day(row.get("renewal"), "renewal"), opposition=day(row.get("opposition"), "opposition deadline"),
        office_action=day(row.get("office_action"), "office-action due"), annuity=day(row.get("annuity"), "annuity due"),
    )


def _ref_hash(ref: str) -> int:
    return int.from_bytes(hashlib.blake2b(ref.casefold().encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True)
class Unmatched:
    line: int
    reference: str
    client: str
    domain: str

    def __str__(self) -> str:
        by = ", ".join(x for x in (repr(self.client) if self.client else "", self.domain) if x)
        return f"line {self.line}: matter {self.reference!r}: no account for client {by}"


@dataclass
class MattersReport(Report):
    matched: int = 0
    unmatched: int = 0
    unmatched_rows: list[Unmatched] = field(default_factory=list)  # the first KEEP_PROBLEMS
    refused: bool = False
    dry_run: bool = False


def _checked(stream: TextIO, report: MattersReport, on_bad: Callable[[Problem], None] | None,
             progress: Callable[[int], None] | None):
    """The rows of the stream: MatterRow, or None for a bad one (reported)."""
    seen: dict[int, int] = {}  # reference hash -> first line
    for line, row in rows(stream, COLUMNS, REQUIRED, progress=progress):
        report.rows += 1
        problem: Problem | None = row if isinstance(row, Problem) else None
        parsed = None
        if problem is None:
            try:
                parsed = parse_row(line, row)  # type: ignore[arg-type]
            except BadRow as exc:
                problem = Problem(line, str(exc))
            else:
                h = _ref_hash(parsed.reference)
                if h in seen:
                    problem = Problem(line, f"reference {parsed.reference[:60]!r} repeats line {seen[h]}")
                else:
                    seen[h] = line
        if problem is not None:
            report.add_problem(problem)
            if on_bad is not None:
                on_bad(problem)
            yield None
        else:
            yield parsed


def _phase(progress: Callable[[str, int], None] | None, phase: str) -> Callable[[int], None] | None:
    return None if progress is None else (lambda n: progress(phase, n))


def _record(tenant_id: str, r: MatterRow, acct: str, people: dict[str, str]) -> Matter:
    return Matter(
        id=Matter.id_for(r.reference), tenantId=tenant_id, accountId=acct, reference=r.reference, title=r.title,
        rights=[r.mark] if r.mark else [], jurisdiction=r.jurisdictions[0] if r.jurisdictions else "",
        jurisdictions=r.jurisdictions, responsibleOid=people.get(r.responsible), responsibleUpn=r.responsible,
        renewalDate=r.renewal, oppositionDeadline=r.opposition, officeActionDue=r.office_action, annuityDue=r.annuity,
        clientName=r.client, clientDomain=r.domain, source="import",
    )


async def import_matters(
    store: Store, tenant_id: str, open_stream: Callable[[], TextIO], *, skip_bad: bool = False,
    dry_run: bool = False, actor: str = "cli", on_bad: Callable[[Problem], None] | None = None,
    on_unmatched: Callable[[Unmatched], None] | None = None, progress: Callable[[str, int], None] | None = None,
    now: datetime | None = None,
) -> MattersReport:
    """Import matters from the stream `open_stream()` gives (called twice: check, then write).
    Raises ImportFileError for a file that cannot be imported, LookupError for an unknown tenant."""
    now = now or utcnow()
    if await store.get_tenant(tenant_id) is None:
        raise LookupError(f"tenant {tenant_id} is not onboarded (rapport tenant add)")
    report = MattersReport(dry_run=dry_run)
    with open_stream() as stream:
        for _ in _checked(stream, report, on_bad, _phase(progress, "checked")):
            pass
    if report.bad and not skip_bad:
        report.refused = True
        return report

    people = {p.upn.lower(): p.oid for p in await store.people(tenant_id)}
    accounts = Accounts(store, tenant_id)
    second = MattersReport()  # the write pass re-reads the same rows: its bad rows are already reported

    async def flush(batch: list[MatterRow]) -> None:
        await accounts.load_domains(r.domain for r in batch)
        wanted: list[Matter] = []
        for r in batch:
            acct = (await accounts.by_domain(r.domain) if r.domain else None) or (
                await accounts.by_name(r.client) if r.client else None)
            if acct is None:
                report.unmatched += 1
                u = Unmatched(r.line, r.reference, r.client, r.domain)
                if len(report.unmatched_rows) < report.KEEP_PROBLEMS:
                    report.unmatched_rows.append(u)
                if on_unmatched is not None:
                    on_unmatched(u)
                continue
            report.matched += 1
            wanted.append(_record(tenant_id, r, acct, people))
        olds = await store.read_many(tenant_id, [Read(Matter, record_id=m.id) for m in wanted])
        changed = []
        for new, old in zip(wanted, olds, strict=True):
            if old is None:
                report.created += 1
            elif old.model_dump(exclude={"etag"}) == new.model_dump(exclude={"etag"}):
                report.unchanged += 1
                continue
            else:
                report.updated += 1
            changed.append(new)
        report.written += len(changed)
        if changed and not dry_run:
            await store.put_many(changed)

    batch: list[MatterRow] = []
    with open_stream() as stream:
        for r in _checked(stream, second, None, _phase(progress, "matched" if dry_run else "imported")):
            if r is None:
                continue
            batch.append(r)
            if len(batch) >= CHUNK:
                await flush(batch)
                batch = []
        if batch:
            await flush(batch)
    if not dry_run and report.written:
        await store.audit(AuditEvent(
            id=stable_id("au", "admin.matters.import", tenant_id, iso(now), uuid.uuid4().hex), tenantId=tenant_id, at=now,
            actorOid=actor, action="admin.matters.import", targetId=tenant_id,
            details={"rows": report.rows, "bad": report.bad, "created": report.created, "updated": report.updated,
                     "unchanged": report.unchanged, "unmatched": report.unmatched},
        ))
    return report
