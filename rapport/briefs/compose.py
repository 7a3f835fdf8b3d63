"""Meeting briefs: who is coming, who they are to the firm, what happened last time, what is open.

Two steps, so the slow part is small and the rest is pure:

1. `gather(scoped, meeting_id, now)` reads through the viewer's ScopedStore only (walls, private
   contacts and the tenant are enforced there): the meeting (the viewer's own calendar item, else
   None exactly like a missing one), per external attendee the sidebar's facts (rapport.sidebar
   .compose: role, owners and strength, last interactions, signals, colleagues who know them), per
   account the matters with renewal/opposition dates in the next 12 months and the open pipeline,
   the viewer's own record (their time zone) and the FIRM's last meeting with these people: the
   newest one the scope returns, the viewer's or a colleague's (a private or walled one never
   comes back), with who met them, and its follow-up Draft when it was the viewer's own.
   Round trips: 1 + 2 per attendee (concurrent) + 2. A meeting with no one from outside the firm
   is "internal": only the viewer's record is read, and it gets no brief.
2. `compose(gathered, now)` turns that into the plain facts dict the card, the add-in API and the
   bot all show (so the card and the JSON never disagree), with the attendees' mail grouped by
   thread (`threads`: one line per thread for the meeting, not one per attendee). Pure.

A cancelled or internal meeting gets no talking points.

Talking points come from the drafting service (`talking_points`): template by default, the LLM
when configured, with the model's controls (docs/reliability.md, section 3, Drafting with a model)
living in rapport.drafting. The context handed over is built from the composed facts only (what this
viewer may see), and the caller's `forbidden` canaries make the drafter refuse rather than prompt
with them. Request paths
(add-in, card refresh, bot commands) use the template drafter: no live model call while a partner
waits; the queued delivery uses the configured drafter.

Imports from rapport: records, store, sidebar, timezones and drafting only.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rapport import sidebar, timezones
from rapport.drafting import (
    BriefContext,
    DraftingRefused,
    ExternalAttendee,
    InteractionNote,
    OpenItem,
    SignalNote,
    TalkingPoints,
    TemplateDrafter,
)
from rapport.records import (
    Account,
    Draft,
    Enquiry,
    Matter,
    Meeting,
    Opportunity,
    Person,
    Tenant,
    aware,
    contact_id,
    iso,
)
from rapport.store.base import Read
from rapport.store.scope import ScopedStore

log = logging.getLogger("rapport.briefs")

MAX_ATTENDEES = 8  # a town hall is no client meeting: the brief covers the first eight outsiders
DATE_HORIZON = timedelta(days=365)  # matter dates "in the next 12 months"
LAST_MEETING_LOOKBACK = timedelta(days=365)
SHOWN_INTERACTIONS = 3
SHOWN_PIPELINE = 5
SHOWN_DATES = 6
SHOWN_THREADS = 3  # mail threads with the attendees, one line each
FOLLOWUP_WORDS = {
    "drafted": "drafted, awaiting your approval", "approved": "approved, sending", "sending": "sending",
    "sent": "sent", "failed": "failed to send", "dismissed": "dismissed", "snoozed": "snoozed", "superseded": "split into one draft per company", "expired": "expired",
    "none": "none drafted",
}
_TEMPLATE = TemplateDrafter()


@dataclass
class AccountFacts:
    account: Account
    matters: list[Matter] = field(default_factory=list)
    pipeline: list[Enquiry | Opportunity] = field(default_factory=list)


@dataclass
class Gathered:
    """Everything a brief shows, already filtered by the viewer's scope."""

    meeting: Meeting
    viewer_oid: str
    attendees: list[tuple[str, str, dict[str, Any]]]  # (email, name on the invite, sidebar facts)
    accounts: list[AccountFacts]
    last_meeting: Meeting | None = None
    last_followup: Draft | None = None
    last_met_by: list[str] = field(default_factory=list)  # who from the firm met them ("you" first)
    time_zone: str = ""  # the viewer's zone (Person.timeZone): the brief's dates are written in it
    internal: bool = False  # no one from outside the firm: no brief to prepare



def external_attendees(meeting: Meeting) -> list[tuple[str, str]]:
    """(address, invite name) of the attendees who are contacts (capture keeps outsiders only)."""
    wanted = set(meeting.contactIds)
    out: dict[str, str] = {}
    for a in meeting.attendees:
        if a.type == "resource":
            continue
        try:
            cid = contact_id(a.email)
        except ValueError:
            continue
        if cid in wanted and a.email.lower() not in out:
            out[a.email.lower()] = a.name
    return list(out.items())[:MAX_ATTENDEES]


async def own_meeting(scoped: ScopedStore, meeting_id: str) -> Meeting | None:
    """The viewer's own calendar item, or None: missing, walled, another partner's or another tenant's
    all look the same."""
    meeting = await scoped.get(Meeting, meeting_id)
    if meeting is None or meeting.organizerOid != scoped.viewer_oid:
        return None
    return meeting


async def gather(scoped: ScopedStore, meeting_id: str, now: datetime) -> Gathered | None:
    meeting = await own_meeting(scoped, meeting_id)
    if meeting is None:
        return None
    people = external_attendees(meeting)
    if not people:
        # Everyone invited is from the firm: nothing to prepare, and nothing to read beyond the
        # viewer's own record (their time zone, for the meeting's time).
        me = await scoped.get(Person, scoped.viewer_oid)
        return Gathered(meeting, scoped.viewer_oid, [], [], time_zone=me.timeZone if me else "", internal=True)
    await scoped.walled()  # read once here, so the concurrent reads below share it
    facts = await asyncio.gather(*(sidebar.compose(scoped, email, now) for email, _ in people))
    attendees = [(email, name, f) for (email, name), f in zip(people, facts, strict=True)]

    reads: list[Read] = [Read(Person, record_id=scoped.viewer_oid), Read(Tenant, record_id=scoped.tenant_id)]
    account_ids = list(dict.fromkeys(meeting.accountIds))[:MAX_ATTENDEES]
    for acct in account_ids:
        reads += [
            Read(Account, record_id=acct),
            # Matters sort by their earliest renewal/opposition date: this range is "coming up".
            Read(Matter, key=f"acct:{acct}", since=iso(now), until=iso(now + DATE_HORIZON), limit=SHOWN_DATES * 2),
            Read(Enquiry, key=f"acct:{acct}:open", newest_first=True, limit=SHOWN_PIPELINE),
            Read(Opportunity, key=f"acct:{acct}:open", newest_first=True, limit=SHOWN_PIPELINE),
        ]
    visible_contacts = [contact_id(email) for email, _, f in attendees if f.get("status") == "known"]
    for cid in visible_contacts:
        reads.append(Read(Meeting, key=f"ct:{cid}", since=iso(now - LAST_MEETING_LOOKBACK),
                          until=iso(min(aware(meeting.start), now)), newest_first=True, limit=10))
    me, tenant, *results = await scoped.read_many(reads)

    accounts: list[AccountFacts] = []
    for i in range(len(account_ids)):
        account, matters, enquiries, opportunities = results[4 * i: 4 * i + 4]
        if account is None:
            continue  # walled or gone: as if it did not exist
        accounts.append(AccountFacts(account, list(matters), [*enquiries, *opportunities]))
    # The FIRM's last meeting with them: the viewer's or a colleague's, as the scope lets this viewer
    # see it (a private or walled one is not returned at all). The same event in two partners'
    # calendars is one meeting: the viewer's own copy wins a tie.
    past: list[Meeting] = [m for batch in results[4 * len(account_ids):] for m in batch]
    held = [m for m in past if m.id != meeting.id and m.eventId != meeting.eventId and not m.isCancelled
            and aware(m.end) <= now]
    last = max(held, key=lambda m: (aware(m.start), m.organizerOid == scoped.viewer_oid), default=None)

    followup = None
    met_by: list[str] = []
    if last is not None:
        firm_domains = set(tenant.domains) if tenant is not None else set()
        colleagues = [a.name or a.email for a in last.attendees if a.type != "resource"
                      and a.email.rpartition("@")[2].lower() in firm_domains
                      and a.email.lower() != (me.upn.lower() if me else "")]
        if last.organizerOid == scoped.viewer_oid:
            # The scope returns only drafts this viewer may see (their own and those they are a delegate for).
            (drafts,) = await scoped.read_many([Read(Draft, key=f"meeting:{last.id}", newest_first=True, limit=5)])
            followup = drafts[0] if drafts else None
            met_by = ["you", *colleagues]
        else:
            organiser = await scoped.get(Person, last.organizerOid)
            met_by = [organiser.name if organiser else "a colleague", *colleagues]
            if me is not None and me.upn and any(a.email.lower() == me.upn.lower() for a in last.attendees):
                met_by.insert(1, "you")
        met_by = list(dict.fromkeys(met_by))
    return Gathered(meeting, scoped.viewer_oid, attendees, accounts, last, followup, met_by,
                    time_zone=me.timeZone if me else "")


# --- the pure step -----------------------------------------------------------------------------

def _pipeline(items: list[Enquiry | Opportunity]) -> list[dict[str, Any]]:
    return [
        {"kind": "enquiry", "title": p.subject, "stage": p.stage, "since": iso(p.receivedAt)}
        if isinstance(p, Enquiry) else
        {"kind": "opportunity", "title": p.title, "stage": p.stage, "since": iso(p.openedAt)}
        for p in items[:SHOWN_PIPELINE]
    ]


def _past(items: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Interactions that happened: a coming meeting (this one included) is not "last contact"."""
    stamp = iso(now)
    return [i for i in items if (i.get("at") or "") <= stamp]


def _attendee(email: str, invite_name: str, f: dict[str, Any], now: datetime) -> dict[str, Any]:
    status = f.get("status", "unknown")
    out: dict[str, Any] = {"email": email, "status": status, "name": invite_name or email}
    if status == "known":
        contact = f.get("contact") or {}
        out.update({
            "name": contact.get("name") or invite_name or email,
            "title": contact.get("title") or "",
            "account": f.get("account"),
            "knownBy": f.get("knownBy", []),
            "lastInteractions": _past(f.get("interactions", []), now)[:SHOWN_INTERACTIONS],
            "signals": f.get("signals", []),
        })
    elif status == "restricted":
        # A colleague keeps them private: who to ask, nothing else (not even their account).
        out["knownTo"] = f.get("knownTo", [])
    else:
        out["account"] = f.get("account")  # a known organisation, or None
    return out


_REPLY_PREFIX = re.compile(r"^(?:(?:re|fw|fwd|aw|wg|sv|tr|antw)\s*:\s*)+", re.IGNORECASE)


def thread_key(subject: str) -> str:
    """Messages of one thread share their subject once "RE:"/"FW:" are off (case and spaces aside)."""
    return " ".join(_REPLY_PREFIX.sub("", " ".join((subject or "").split())).lower().split())


def threads(attendees: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The attendees' recent interactions as one line per thread, newest first: a thread several of
    them were on is shown once for the meeting, naming who was on it. Notes and calls stay apart;
    past meetings are left to "Last meeting"."""
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for a in attendees:
        for i in a.get("lastInteractions", []):
            channel = i.get("channel") or "email"
            if channel == "meeting":
                continue
            key = (channel, thread_key(i.get("subject") or i.get("text") or ""))
            t = grouped.get(key)
            if t is None:
                t = grouped[key] = {"channel": channel, "subject": _REPLY_PREFIX.sub("", i.get("subject") or "").strip(),
                                    "text": i.get("text"), "at": i.get("at"), "direction": i.get("direction"),
                                    "by": i.get("by"), "with": []}
            elif (i.get("at") or "") > (t["at"] or ""):
                t.update(at=i.get("at"), direction=i.get("direction"), by=i.get("by"))
            name = a.get("name") or a.get("email")
            if name not in t["with"]:
                t["with"].append(name)
    return sorted(grouped.values(), key=lambda t: t["at"] or "", reverse=True)[:SHOWN_THREADS]


def compose(g: Gathered, now: datetime, *, previous_start: datetime | str | None = None) -> dict[str, Any]:
    """The brief's facts (no talking points yet). Pure: same input, same dict."""
    m = g.meeting
    prev = iso(previous_start) if isinstance(previous_start, datetime) else (previous_start or None)
    attendees = [_attendee(e, n, f, now) for e, n, f in g.attendees]
    facts: dict[str, Any] = {
        "asOf": iso(now),
        "timeZone": timezones.iana_name(g.time_zone) or "UTC",
        "internal": g.internal,
        "meeting": {"id": m.id, "subject": m.subject, "start": iso(m.start), "end": iso(m.end),
                    "isOnline": m.isOnline, "isCancelled": m.isCancelled,
                    "webLink": m.webLink if m.webLink.startswith("https://") else ""},
        "updated": {"previousStart": prev} if prev and prev != iso(m.start) else None,
        "attendees": attendees,
        "threads": threads(attendees),
        "accounts": [
            {"name": a.account.name, "kind": a.account.kind, "domain": a.account.domain,
             "pipeline": _pipeline(a.pipeline), "keyDates": sidebar.key_dates(a.matters, now, horizon=DATE_HORIZON, limit=SHOWN_DATES)}
            for a in g.accounts
        ],
        "lastMeeting": None,
    }
    if g.last_meeting is not None:
        mine = g.last_meeting.organizerOid == g.viewer_oid
        last: dict[str, Any] = {"subject": g.last_meeting.subject, "start": iso(g.last_meeting.start),
                                "metBy": list(g.last_met_by), "yours": mine}
        if mine:  # a colleague's follow-up is theirs (drafts are seen by their owner and delegates only)
            state = g.last_followup.state if g.last_followup else "none"
            last.update(followUp=state, followUpText=FOLLOWUP_WORDS.get(state, state))
        facts["lastMeeting"] = last
    return facts


def brief_context(facts: dict[str, Any], partner_name: str, *,
                  forbidden: frozenset[str] = frozenset()) -> BriefContext:
    """What the drafter is given: only the composed facts (already scoped to the viewer)."""
    attendees, notes, signals = [], [], []
    for a in facts["attendees"]:
        account = a.get("account") or {}
        attendees.append(ExternalAttendee(name=a.get("name") or "", email=a["email"],
                                          account=account.get("name") or "", role=a.get("title") or "",
                                          account_kind=account.get("kind") or ""))
        for i in a.get("lastInteractions", []):
            notes.append(InteractionNote(at=datetime.fromisoformat(i["at"].replace("Z", "+00:00")),
                                         subject=i.get("subject") or "", channel=i.get("channel") or "email",
                                         direction=i.get("direction") or "inbound", with_name=a.get("name") or ""))
        for s in a.get("signals", []):
            signals.append(SignalNote(name=a.get("name") or "", summary=s.get("summary") or ""))
    open_items, deadlines = [], []
    for acct in facts["accounts"]:
        for p in acct["pipeline"]:
            open_items.append(OpenItem(kind=p["kind"], title=p.get("title") or "", detail=p.get("stage") or ""))
        for d in acct["keyDates"]:
            deadlines.append(OpenItem(kind=d["kind"], title=d.get("matter") or "", reference=d.get("reference") or "",
                                      due=datetime.fromisoformat(d["date"].replace("Z", "+00:00"))))
    meeting = facts["meeting"]
    return BriefContext(
        partner_name=partner_name, meeting_subject=meeting["subject"],
        meeting_start=datetime.fromisoformat(meeting["start"].replace("Z", "+00:00")),
        attendees=tuple(attendees), last_interactions=tuple(notes), open_items=tuple(open_items),
        deadlines=tuple(deadlines), signals=tuple(signals), forbidden=forbidden,
        time_zone=facts.get("timeZone") or "",
    )


async def talking_points(facts: dict[str, Any], partner_name: str, drafter: Any = None, *,
                         forbidden: frozenset[str] = frozenset()) -> TalkingPoints:
    """Two or three points from the drafter (template when none is given). A refusal means the
    scoping upstream let a forbidden value through: alert, and show no points rather than wrong ones."""
    ctx = brief_context(facts, partner_name, forbidden=forbidden)
    try:
        if drafter is None or isinstance(drafter, TemplateDrafter):
            return _TEMPLATE.compose_talking_points(ctx)
        return await drafter.draft_talking_points(ctx)
    except DraftingRefused:
        log.error("ALERT brief talking points refused: forbidden data reached the brief context",
                  extra={"alert": True})
        return TalkingPoints(points=[], drafter="template", flags=["refused"])


async def build(scoped: ScopedStore, meeting_id: str, now: datetime, *, drafter: Any = None,
                previous_start: datetime | str | None = None, partner_name: str | None = None,
                forbidden: frozenset[str] = frozenset()) -> dict[str, Any] | None:
    """Gather, compose and add talking points: the whole brief for this viewer, or None when the
    meeting is not theirs to see. `partner_name`: the viewer's name when the caller has it."""
    g = await gather(scoped, meeting_id, now)
    if g is None:
        return None
    facts = compose(g, now, previous_start=previous_start)
    if g.internal or g.meeting.isCancelled:
        # Nothing to raise: an internal meeting has no one to brief on, a cancelled one will not happen.
        facts.update(talkingPoints=[], drafter="none", flags=[])
        return facts
    if partner_name is None:
        # A point read of the viewer (not the firm's people list: 500 partners would cost every brief).
        me = await scoped.get(Person, scoped.viewer_oid)
        partner_name = me.name if me else ""
    points = await talking_points(facts, partner_name, drafter, forbidden=forbidden)
    facts["talkingPoints"] = points.points
    facts["drafter"] = points.drafter
    facts["flags"] = list(points.flags)
    return facts


async def next_meetings(scoped: ScopedStore, now: datetime, *, days: int = 7) -> list[Meeting]:
    """The viewer's coming meetings with people outside the firm, earliest first (cancelled ones out)."""
    meetings = await scoped.meetings_between(now - timedelta(minutes=15), now + timedelta(days=days))
    return [m for m in meetings if m.external and not m.isCancelled and aware(m.end) > now]


__all__ = [
    "DATE_HORIZON", "MAX_ATTENDEES", "SHOWN_DATES", "SHOWN_INTERACTIONS", "SHOWN_PIPELINE", "SHOWN_THREADS", "AccountFacts", "Gathered",
    "brief_context", "build", "compose", "external_attendees", "gather", "next_meetings", "own_meeting",
    "talking_points", "thread_key", "threads",
]
