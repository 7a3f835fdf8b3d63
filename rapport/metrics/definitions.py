"""Each metric, defined once: pure functions over records (docs/metrics.md states them in words).

No store, no clock: give them the records (a `History`) and the window, and they count. The
roll-up (rapport.metrics.rollup) loads a History once per tenant and calls these per partner and
week; the tests call them on hand-built histories with known answers.

A week is a partner's own week: Monday 00:00 to the next Monday 00:00 in the partner's time zone
(Person.timeZone, rapport.timezones), named by that Monday's date. Every event is put in the week
of the partner it belongs to, in that partner's zone.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from rapport.pipeline.clock import Hours, working_seconds
from rapport.records import Account, Contact, Draft, Enquiry, Interaction, Meeting, Opportunity, Signal, aware

# Drafts the partner approved: every kind (follow-up, enquiry reply, introduction), once approved;
# a draft later dismissed or superseded before approval never counts.
APPROVED_STATES = frozenset({"approved", "sending", "sent", "failed"})
COUNSEL_WINDOWS = (7, 30)  # days after a counsel move is surfaced
OPEN_WINDOW_DAYS = 30  # a week's figures can still change this long after it ends (counsel moves)
STRONG_MIN_MONTHS = 6  # a relationship this long-standing (first to last touch) counts as strong
COLD_LIST = 10  # the partner's card names at most this many cold relationships
ENQUIRY_STAGES = ("enquiry", "needs_analysis", "proposal", "negotiation", "instructed", "lost")


# --- weeks ------------------------------------------------------------------------------------------

def week_of(at: datetime, zone: tzinfo) -> date:
    """The Monday (a local date) of the week `at` falls in, in `zone`."""
    local = aware(at).astimezone(zone)
    return local.date() - timedelta(days=local.weekday())


def week_window(monday: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) of the week beginning `monday`, as aware datetimes (local midnight to midnight:
    a week across a daylight-saving change is 167 or 169 hours long)."""
    start = datetime(monday.year, monday.month, monday.day, tzinfo=zone)
    nxt = monday + timedelta(days=7)
    # in UTC: two datetimes of the same zone subtract and compare by wall clock
    return start.astimezone(UTC), datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone).astimezone(UTC)


def in_window(at: datetime | None, window: tuple[datetime, datetime]) -> bool:
    return at is not None and window[0] <= aware(at) < window[1]


# --- percentiles ------------------------------------------------------------------------------------

def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank percentile (p in 0..100): a value that occurred, never an interpolation;
    None for no values. The median is percentile(values, 50)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def hhi(counts: Iterable[int]) -> float | None:
    """The Herfindahl-Hirschman index of shares (0..1): 1/n when n partners share equally, 1 when one
    partner has everything. None when there is nothing to share."""
    values = [c for c in counts if c > 0]
    total = sum(values)
    if not total:
        return None
    return sum((c / total) ** 2 for c in values)


# --- the records a roll-up reads ------------------------------------------------------------------

@dataclass
class History:
    """The records the metrics read, as loaded for one tenant. Build with `History.of(...)`."""

    drafts: list[Draft] = field(default_factory=list)
    meetings: list[Meeting] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    contacts: dict[str, Contact] = field(default_factory=dict)  # by id: the ones signals and meetings name
    touches: dict[str, list[Interaction]] = field(default_factory=dict)  # contact id -> interactions
    first_met: dict[str, datetime] = field(default_factory=dict)  # contact id -> earliest meeting start (firm)
    enquiries: list[Enquiry] = field(default_factory=list)
    opportunities: list[Opportunity] = field(default_factory=list)
    accounts: dict[str, Account] = field(default_factory=dict)
    # derived indexes
    drafts_by_owner: dict[str, list[Draft]] = field(default_factory=dict)
    drafts_by_meeting: dict[str, list[Draft]] = field(default_factory=dict)
    meetings_by_owner: dict[str, list[Meeting]] = field(default_factory=dict)
    enquiries_by_owner: dict[str, list[Any]] = field(default_factory=dict)
    opportunities_by_owner: dict[str, list[Opportunity]] = field(default_factory=dict)
    signals_by_owner: dict[str, list[Signal]] = field(default_factory=dict)  # by the contact's owners

    @classmethod
    def of(cls, *, drafts: Iterable[Draft] = (), meetings: Iterable[Meeting] = (), signals: Iterable[Signal] = (),
           contacts: Iterable[Contact] = (), interactions: Iterable[Interaction] = (),
           first_met: dict[str, datetime] | None = None, enquiries: Iterable[Enquiry] = (),
           opportunities: Iterable[Opportunity] = (), accounts: Iterable[Account] = ()) -> History:
        h = cls(drafts=list(drafts), meetings=list(meetings), signals=list(signals),
                contacts={c.id: c for c in contacts}, enquiries=list(enquiries),
                opportunities=list(opportunities), accounts={a.id: a for a in accounts})
        for ix in interactions:
            for cid in ix.contactIds:
                h.touches.setdefault(cid, []).append(ix)
        for d in h.drafts:
            h.drafts_by_owner.setdefault(d.ownerOid, []).append(d)
            if d.meetingId:
                h.drafts_by_meeting.setdefault(d.meetingId, []).append(d)
        for m in h.meetings:
            h.meetings_by_owner.setdefault(m.organizerOid, []).append(m)
        for e in h.enquiries:
            h.enquiries_by_owner.setdefault(getattr(e, "ownerOid", None) or "", []).append(e)
        for o in h.opportunities:
            h.opportunities_by_owner.setdefault(o.ownerOid or "", []).append(o)
        for s in h.signals:
            for oid in _owners(h.contacts.get(s.contactId)):
                h.signals_by_owner.setdefault(oid, []).append(s)
        if first_met is not None:
            h.first_met = dict(first_met)
        else:  # from the meetings given (a hand-built history holds all of them)
            for m in h.meetings:
                if m.isCancelled:
                    continue
                for cid in m.contactIds:
                    if cid not in h.first_met or aware(m.start) < h.first_met[cid]:
                        h.first_met[cid] = aware(m.start)
        return h


# --- the metrics ----------------------------------------------------------------------------------

def approved_actions(h: History, partner: str, window: tuple[datetime, datetime]) -> dict[str, int]:
    """BD actions the partner approved in the window, by draft kind: every draft of theirs whose
    approval (`approvedAt`) falls in it and that reached an approved state. A delegate's approval on
    the partner's behalf counts for the partner: it is the partner's mail."""
    out: dict[str, int] = defaultdict(int)
    for d in h.drafts_by_owner.get(partner, ()):
        if d.state in APPROVED_STATES and in_window(d.approvedAt, window):
            out[d.kind] += 1
    return dict(out)


def _followed_up(h: History, m: Meeting) -> datetime | None:
    """When the partner approved a follow-up of this meeting (the earliest, with one per company)."""
    times = [aware(d.approvedAt) for d in h.drafts_by_meeting.get(m.id, ())
             if d.ownerOid == m.organizerOid and d.state in APPROVED_STATES and d.approvedAt is not None]
    return min(times) if times else None


def ended_meetings(h: History, partner: str, window: tuple[datetime, datetime],
                   now: datetime) -> list[Meeting]:
    """The partner's meetings with people outside the firm that ended in the window (and by `now`),
    not cancelled: the meetings that call for a follow-up."""
    return [m for m in h.meetings_by_owner.get(partner, ())
            if m.external and not m.isCancelled and in_window(m.end, window) and aware(m.end) <= now]


def followup_hours(h: History, partner: str, window: tuple[datetime, datetime], now: datetime,
                   ended: list[Meeting] | None = None) -> list[float]:
    """Hours from each such meeting's end to the partner's approval of its follow-up, for the
    meetings that ended in the window and have one (a meeting is in the week it ended).
    `ended`: ended_meetings(...) when the caller has it already."""
    out = []
    for m in ended_meetings(h, partner, window, now) if ended is None else ended:
        at = _followed_up(h, m)
        if at is not None and at <= now:
            out.append(round(max(0.0, (at - aware(m.end)).total_seconds() / 3600), 2))
    return out


def without_followup(h: History, partner: str, window: tuple[datetime, datetime], now: datetime,
                     ended: list[Meeting] | None = None) -> list[Meeting]:
    """Meetings that ended in the window with no approved follow-up by `now` (pending, dismissed,
    snoozed or never drafted alike)."""
    return [m for m in (ended_meetings(h, partner, window, now) if ended is None else ended)
            if (at := _followed_up(h, m)) is None or at > now]


def _owners(c: Contact | None) -> set[str]:
    return {o.oid for o in c.owners} if c else set()


def _contacted(h: History, partner: str, contact: Contact | None, cid: str, start: datetime, end: datetime) -> bool:
    """The partner wrote to or met the contact in [start, end): an outbound mail, a meeting or a
    call of theirs naming the contact, or a draft of theirs to the contact's address approved then."""
    for ix in h.touches.get(cid, ()):
        if (ix.ownerOid == partner and ix.channel in ("email", "meeting", "call")
                and ix.direction != "inbound" and start <= aware(ix.at) < end):
            return True
    email = contact.email if contact else None
    if email:
        for d in h.drafts_by_owner.get(partner, ()):
            if (d.state in APPROVED_STATES and d.approvedAt is not None and start <= aware(d.approvedAt) < end
                    and email in d.to):
                return True
    return False


def counsel_moves(h: History, partner: str, window: tuple[datetime, datetime],
                  now: datetime) -> tuple[int, int, int]:
    """(surfaced, contacted within 7 days, contacted within 30 days) of the counsel moves surfaced
    in the window about contacts the partner owns. "Contacted within N days" counts only what has
    happened by `now`: a week's figure can still grow for 30 days after it ends."""
    surfaced = c7 = c30 = 0
    for s in h.signals_by_owner.get(partner, ()):
        if not s.is_move or not in_window(s.at, window):
            continue
        contact = h.contacts.get(s.contactId)
        if partner not in _owners(contact):
            continue
        surfaced += 1
        at = aware(s.at)
        if _contacted(h, partner, contact, s.contactId, at, min(now, at + timedelta(days=7))):
            c7 += 1
            c30 += 1
        elif _contacted(h, partner, contact, s.contactId, at, min(now, at + timedelta(days=30))):
            c30 += 1
    return surfaced, c7, c30


def new_relationships(h: History, partner: str, window: tuple[datetime, datetime]) -> list[str]:
    """Contact ids the partner met in the window for the first time anyone in the firm met them
    (their earliest meeting with the firm is this partner's, in this window)."""
    out: list[str] = []
    for m in h.meetings_by_owner.get(partner, ()):
        if m.isCancelled or not in_window(m.start, window):
            continue
        for cid in m.contactIds:
            if h.first_met.get(cid) == aware(m.start) and cid not in out:
                out.append(cid)
    return out


def by_owner(contacts: Iterable[Contact]) -> dict[str, list[Contact]]:
    """Contacts grouped by each partner who keeps them (a contact with two owners is in both lists)."""
    out: dict[str, list[Contact]] = {}
    for c in contacts:
        for o in c.owners:
            out.setdefault(o.oid, []).append(c)
    return out


def cold_relationships(contacts: Iterable[Contact], accounts: dict[str, Account], partner: str, now: datetime,
                       weeks: int) -> list[Contact]:
    """The partner's strong relationships with no touch in `weeks` weeks, longest-standing first.
    Strong: a contact the partner owns at a client account, known for at least six months (from
    the partner's first to last touch). A snapshot at `now`, from each Owner entry's since/lastTouch."""
    cutoff = now - timedelta(weeks=max(1, weeks))
    found: list[tuple[timedelta, Contact]] = []
    for c in contacts:
        entry = next((o for o in c.owners if o.oid == partner), None)
        if entry is None or entry.lastTouch is None or entry.since is None:
            continue
        acct = accounts.get(c.accountId or "")
        if acct is None or acct.kind != "client":
            continue
        span = aware(entry.lastTouch) - aware(entry.since)
        if span >= timedelta(days=30 * STRONG_MIN_MONTHS) and aware(entry.lastTouch) < cutoff:
            found.append((span, c))
    found.sort(key=lambda x: (-x[0].total_seconds(), x[1].id))
    return [c for _, c in found]


def _stage_changes(e: Any) -> list[tuple[str, datetime]]:
    """An enquiry's stage moves (issue 16's `stageChanges`: [{stage, byOid, at}]); none when the
    enquiry pipeline is not there yet."""
    out = []
    for ch in getattr(e, "stageChanges", None) or []:
        stage = ch.get("stage") if isinstance(ch, dict) else getattr(ch, "stage", None)
        at = ch.get("at") if isinstance(ch, dict) else getattr(ch, "at", None)
        if isinstance(at, str):
            try:
                at = datetime.fromisoformat(at.replace("Z", "+00:00"))
            except ValueError:
                continue
        if isinstance(stage, str) and isinstance(at, datetime):
            out.append((stage, aware(at)))
    return out


@dataclass
class EnquiryFigures:
    received: int = 0
    on_time: int = 0
    late: int = 0
    unanswered: int = 0
    stage_moves: dict[str, int] = field(default_factory=dict)
    instructions: int = 0


def enquiry_figures(h: History, partner: str, window: tuple[datetime, datetime], now: datetime,
                    clock: Hours, limit_hours: float) -> EnquiryFigures:
    """The partner's enquiries received in the window: answered within `limit_hours` of WORKING time
    (the enquiry pipeline's own clock, rapport.pipeline.clock: the same rule the 4-hour alert uses) of
    receipt (on time), answered later (late), or not answered and already past it (unanswered). Stage
    moves (and instructions, a move into "instructed") made in the window, by stage."""
    f = EnquiryFigures()
    limit = limit_hours * 3600
    for e in h.enquiries_by_owner.get(partner, ()):
        if in_window(e.receivedAt, window):
            f.received += 1
            first = getattr(e, "firstResponseAt", None)
            if first is not None and aware(first) <= now:
                took = getattr(e, "responseSeconds", None)
                took = took if took is not None else working_seconds(clock, e.receivedAt, first)
                if took <= limit:
                    f.on_time += 1
                else:
                    f.late += 1
            elif working_seconds(clock, e.receivedAt, now) > limit:
                f.unanswered += 1
        for stage, at in _stage_changes(e):
            if window[0] <= at < window[1] and at <= now:
                f.stage_moves[stage] = f.stage_moves.get(stage, 0) + 1
                if stage == "instructed":
                    f.instructions += 1
    return f


def opportunities_opened(h: History, partner: str, window: tuple[datetime, datetime]) -> int:
    return sum(1 for o in h.opportunities_by_owner.get(partner, ()) if in_window(o.openedAt, window))


def pipeline_by_stage(open_items: Iterable[Any], partner: str) -> dict[str, int]:
    """The partner's open enquiries and opportunities by stage (a snapshot)."""
    out: dict[str, int] = {}
    for item in open_items:
        if getattr(item, "ownerOid", None) == partner and getattr(item, "is_open", True):
            stage = str(getattr(item, "stage", ""))
            out[stage] = out.get(stage, 0) + 1
    return out


def origination(rows: Iterable[tuple[str, int]]) -> dict[str, Any]:
    """Shares by partner of some origination count (new enquiries, opportunities, instructions)
    and how concentrated it is: the HHI and the share of the top three partners."""
    counts: dict[str, int] = defaultdict(int)
    for oid, n in rows:
        counts[oid] += n
    total = sum(counts.values())
    shares = {oid: (n / total if total else 0.0) for oid, n in counts.items()}
    top3 = sum(sorted(shares.values(), reverse=True)[:3]) if total else None
    return {"total": total, "shares": shares, "hhi": hhi(counts.values()), "top3": top3}
