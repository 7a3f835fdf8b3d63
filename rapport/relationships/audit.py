"""The introductions audit: per partner, requests received, accepted, declined and left unanswered,
with the reasons given, and refusals from a senior to a junior colleague flagged.

Read from the AuditEvents alone ("intro.requested", "intro.accepted", "intro.declined",
"intro.reminded"; rapport.relationships.intros writes them), so the figures are what happened,
whatever became of the requests since. A request counts as received by everyone it was routed to;
accepted / declined count for whoever answered; unanswered counts for each it was routed to while
no answer exists. Seniority is rapport.identity.membership.is_senior_to (role tier, then the
earlier `Person.partnerSince`); a decline by someone senior to the asker is a "senior refusal".

`intro_report` is the one function both `rapport audit intros` (local/commands/audit.py) and the
Monday report read. `move_tracking` sums the counsel moves' alerts (rapport.relationships.moves).

Imports rapport's records, store and identity.membership only.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rapport.identity.membership import is_senior_to
from rapport.records import AuditEvent, MoveAlert, Person, aware
from rapport.store.base import Store

REQUESTED, ACCEPTED, DECLINED, REMINDED = "intro.requested", "intro.accepted", "intro.declined", "intro.reminded"


@dataclass
class PartnerIntros:
    oid: str
    name: str
    received: int = 0
    accepted: int = 0
    declined: int = 0
    unanswered: int = 0
    reminded: int = 0
    reasons: list[str] = field(default_factory=list)  # the reasons this partner gave for declining
    senior_refusals: int = 0  # declines of a more junior colleague's request

    def row(self) -> dict[str, Any]:
        return {"partner": self.name or self.oid, "oid": self.oid, "received": self.received,
                "accepted": self.accepted, "declined": self.declined, "unanswered": self.unanswered,
                "reminded": self.reminded, "seniorRefusals": self.senior_refusals,
                "reasons": " | ".join(self.reasons)}


async def _events(store: Store, tenant_id: str, action: str, since: datetime | None,
                  until: datetime | None) -> list[AuditEvent]:
    return await store.find_all(AuditEvent, tenant_id, key=f"action:{action}", since=since, until=until)


async def intro_report(store: Store, tenant_id: str, *, since: datetime | None = None,
                       until: datetime | None = None) -> list[PartnerIntros]:
    """Per partner who received a request in [since, until): the counts, the reasons, the flags.
    Sorted: senior refusals first, then most unanswered, then name."""
    people: dict[str, Person] = {p.oid: p for p in await store.people(tenant_id)}
    requested = await _events(store, tenant_id, REQUESTED, since, until)
    ids = {e.details.get("requestId") for e in requested}
    # Answers and reminders of these requests, whenever they came (a request of last week answered today).
    answers: dict[str, AuditEvent] = {}
    for action in (ACCEPTED, DECLINED):
        for e in await _events(store, tenant_id, action, since, None):
            rid = e.details.get("requestId")
            if rid in ids and rid not in answers:
                answers[rid] = e
    reminded: dict[str, int] = {}
    for e in await _events(store, tenant_id, REMINDED, since, None):
        rid = e.details.get("requestId")
        if rid in ids:
            for oid in e.details.get("routedTo") or []:
                reminded[oid] = reminded.get(oid, 0) + 1
    rows: dict[str, PartnerIntros] = {}

    def of(oid: str) -> PartnerIntros:
        if oid not in rows:
            p = people.get(oid)
            rows[oid] = PartnerIntros(oid, p.name if p else "")
        return rows[oid]

    for e in requested:
        rid = e.details.get("requestId")
        routed = [o for o in e.details.get("routedTo") or [] if isinstance(o, str)]
        got = answers.get(rid)
        for oid in routed:
            of(oid).received += 1
            if got is None:
                of(oid).unanswered += 1
        if got is None:
            continue
        by = of(got.actorOid)
        if got.action == ACCEPTED:
            by.accepted += 1
        else:
            by.declined += 1
            reason = str(got.details.get("reason") or "")
            by.reasons.append(reason or "(no reason)")
            if is_senior_to(people.get(got.actorOid), people.get(str(got.details.get("askerOid") or ""))):
                by.senior_refusals += 1
    for oid, n in reminded.items():
        of(oid).reminded += n
    return sorted(rows.values(), key=lambda r: (-r.senior_refusals, -r.unanswered, r.name.lower(), r.oid))


CSV_COLUMNS = ("partner", "oid", "received", "accepted", "declined", "unanswered", "reminded", "seniorRefusals",
               "reasons")


def report_csv(rows: list[PartnerIntros]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        # A spreadsheet runs a cell starting with = + - @ as a formula: such text is quoted with a '.
        w.writerow({k: ("'" + v if isinstance(v, str) and v[:1] in "=+-@" else v) for k, v in r.row().items()})
    return out.getvalue()


@dataclass
class MoveTracking:
    raised: int = 0
    dismissed: int = 0
    contacted_7: int = 0
    contacted_30: int = 0
    waiting: int = 0  # raised, not contacted, still inside the 30 days
    bounced: int = 0  # raised from a bounce: no new address to contact them at, so not in the figures above


async def move_tracking(store: Store, tenant_id: str, now: datetime, *,
                        since: datetime | None = None) -> MoveTracking:
    t = MoveTracking()
    for a in await store.find_all(MoveAlert, tenant_id, since=since):
        if a.state == "dismissed":
            t.dismissed += 1
            continue
        if a.via == "bounce":
            t.bounced += 1
            continue
        t.raised += 1
        if a.contactedAt is not None:
            took = aware(a.contactedAt) - aware(a.raisedAt)
            t.contacted_7 += took <= timedelta(days=7)
            t.contacted_30 += took <= timedelta(days=30)
        elif aware(now) - aware(a.raisedAt) <= timedelta(days=30):
            t.waiting += 1
    return t
