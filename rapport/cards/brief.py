"""The meeting brief card (Adaptive Cards 1.5, Action.Execute only).

Built from the facts rapport.briefs composes, like the contact card is from the sidebar's. One
definition for Teams (proactive message), Outlook actionable messages (with `originator`) and the
task pane. Every action is an Action.Execute verb carrying only the meeting id:

- `refreshBrief`: also the card's `refresh` action (userIds = the partner), so a brief opened hours
  later is re-composed from current records, in Teams and Outlook alike.
- `snoozeBrief`: send it again shortly before the meeting.
- `openInOutlook`: the cards use Action.Execute only (Outlook renders no Action.Submit, and an
  Action.OpenUrl would be the one action whose target came from data rather than our code). So
  "Open in Outlook" is a verb too: the task pane answers it locally (Office.js opens the item in
  Outlook itself); the bot answers it with this card plus the event's Outlook link shown as text,
  never as a clickable action on a card anyone could forward.

Dates and times are written in the partner's own zone (facts["timeZone"], from Person.timeZone) in
one style, "Tue 2 Dec, 13:00", with "today"/"yesterday"/"tomorrow" decided by the partner's date:
the brief mixes times with matter dates, and the hosts' {{DATE()}} formats would give it two styles.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from rapport import timezones
from rapport.cards.common import (
    KIND_LABELS,
    card,
    execute,
    heading,
    line,
    parse_time,
    plain,
    row,
    run,
    section,
    signal_label,
    text,
)
from rapport.cards.contact import DATE_WORDS, STAGE_WORDS, _channel, _without_prefix
from rapport.cards.relationships import VERB_ASK_INTRO

VERB_REFRESH_BRIEF = "refreshBrief"
VERB_SNOOZE_BRIEF = "snoozeBrief"
VERB_OPEN_IN_OUTLOOK = "openInOutlook"
BRIEF_VERBS = (VERB_REFRESH_BRIEF, VERB_SNOOZE_BRIEF, VERB_OPEN_IN_OUTLOOK)


def _tz(facts: dict[str, Any]) -> tzinfo:
    return timezones.zone(facts.get("timeZone") or "")


def _day(value: Any, now: datetime, tz: tzinfo, *, time: bool = False, calendar_date: bool = False) -> str:
    """The brief's one date style, in the partner's zone: "Tue 2 Dec, 13:00", "today", "yesterday"."""
    dt = parse_time(value)
    return timezones.short_day(dt, now, tz, time=time, calendar_date=calendar_date) if dt else ""


def _time_line(m: dict[str, Any], now: datetime, tz: tzinfo) -> dict[str, Any]:
    start, end = parse_time(m.get("start")), parse_time(m.get("end"))
    if start is None:
        return text("", subtle=True)
    words = timezones.short_day(start, now, tz, time=True)
    if end is not None:
        words += f"\u2013{end.astimezone(tz):%H:%M}"
    return line(run(words[0].upper() + words[1:], subtle=True), spacing="None")


def _knowers(a: dict[str, Any]) -> list[dict[str, Any]]:
    """'Known by you (strong), Priya Raman (warm)': who to ask, on one line."""
    runs: list[dict[str, Any]] = []
    for k in a.get("knownBy", [])[:3]:
        if runs:
            runs.append(run(", "))
        runs.append(run("you" if k.get("you") else (k.get("name") or "a colleague"), limit=60))
        label = None if k.get("private") else (k.get("label") or "cold")
        runs.append(run(f" ({label or 'private'})", subtle=True))
    return [line(run("Known by ", subtle=True), *runs, spacing="None")] if runs else []


def _attendee_block(a: dict[str, Any], now: datetime, tz: tzinfo, *, show_account: bool) -> dict[str, Any]:
    status = a.get("status")
    items: list[dict[str, Any]] = []
    head = [run(a.get("name") or a.get("email"), weight="Bolder", limit=80)]
    if a.get("title"):
        head.append(run(f", {plain(a['title'], 60)}", subtle=True))
    account = a.get("account")
    if status != "restricted" and account and show_account:
        head.append(run(f" \u00b7 {plain(account.get('name') or account.get('domain'), 60)}"))
    items.append(line(*head, spacing="Small"))
    if status == "restricted":
        who = ", ".join(plain(n, 60) for n in (a.get("knownTo") or [])[:3]) or "a colleague"
        items.append(line(run("Known to "), run(who, weight="Bolder"), run(": ask for an introduction."),
                          spacing="None"))
        if a.get("email"):  # the request itself: rapport.relationships.intros (bot/relationships.py answers it)
            items.append({"type": "ActionSet", "spacing": "Small", "actions": [
                execute("Ask for an introduction", VERB_ASK_INTRO, {"email": a["email"], "from": "brief"})]})
    elif status != "known":
        items.append(text("Not yet known to the firm", subtle=True, spacing="None"))
    for s in a.get("signals", [])[:1]:
        items.append(line(run(signal_label(s), weight="Bolder"),
                          run(s.get("summary"), limit=120),
                          run(f" ({_day(s.get('at'), now, tz)})", subtle=True), spacing="None"))
    items.extend(_knowers(a))
    return {"type": "Container", "spacing": "Small", "items": items}


def _thread_rows(threads: list[dict[str, Any]], now: datetime, tz: tzinfo) -> list[dict[str, Any]]:
    rows = []
    for t in threads:
        label = _channel(t) if t.get("channel") != "email" else ("From them" if t.get("direction") == "inbound"
                                                                else "To them")
        by = t.get("by")
        rows.append(row([run(f"{label}: ", weight="Bolder"),
                         run(t.get("text") or t.get("subject") or "(no subject)", limit=80),
                         run(f" \u2014 {by}", subtle=True, limit=40) if by and by != "you" else run("")],
                        [run(_day(t.get("at"), now, tz), subtle=True)]))
    return rows


def _account_blocks(accounts: list[dict[str, Any]], now: datetime, tz: tzinfo) -> list[dict[str, Any]]:
    out = []
    for acct in accounts:
        rows: list[dict[str, Any]] = []
        for d in acct.get("keyDates", [])[:2]:
            rows.append(row([run(f"{DATE_WORDS.get(d.get('kind') or '', 'Date')}: ", weight="Bolder"),
                             run(d.get("matter") or d.get("reference") or "a matter", limit=70)],
                            [run(_day(d.get("date"), now, tz, calendar_date=True),
                                 weight="Bolder" if d.get("soon") else None)]))
        for p in acct.get("pipeline", [])[:2]:
            rows.append(row([run("Enquiry: " if p.get("kind") == "enquiry" else "Opportunity: ", weight="Bolder"),
                             run(_without_prefix(p.get("title") or "(untitled)", p.get("kind") or ""), limit=70)],
                            [run(STAGE_WORDS.get(p.get("stage") or "", p.get("stage") or ""), subtle=True)]))
        if not rows:
            continue
        if len(accounts) > 1:
            rows.insert(0, line(run(acct.get("name") or acct.get("domain"), weight="Bolder"), spacing="Small"))
        out.append({"type": "Container", "spacing": "None", "items": rows})
    return out


def _last_meeting(last: dict[str, Any] | None, now: datetime, tz: tzinfo) -> list[dict[str, Any]]:
    if not last:
        return []
    rows = [row([run(last.get("subject") or "(no subject)", weight="Bolder", limit=90)],
                [run(_day(last.get("start"), now, tz), subtle=True)])]
    who = ", ".join(plain(n, 60) for n in (last.get("metBy") or [])[:4])
    facts_runs = [run(f"With {who}", subtle=True)] if who else []
    if last.get("followUp"):
        # Bold, not a colour: Teams dark draws "Attention" text at 3.2:1, under AA.
        color = "Bolder" if last.get("followUp") in ("none", "failed", "drafted") else None
        facts_runs += [run("; follow-up " if facts_runs else "Follow-up ", subtle=True),
                       run(last.get("followUpText") or last.get("followUp"), weight=color)]
    if facts_runs:
        rows.append(line(*facts_runs, spacing="None"))
    return rows


def refresh_definition(meeting_id: str, user_ids: list[str] | None) -> dict[str, Any]:
    r: dict[str, Any] = {"action": execute("Refresh", VERB_REFRESH_BRIEF, {"meetingId": meeting_id})}
    if user_ids:
        r["userIds"] = list(user_ids)
    return r


def brief_card(facts: dict[str, Any], now: datetime, *, user_ids: list[str] | None = None,
               originator: str | None = None, notice: str | None = None,
               link: str | None = None) -> dict[str, Any]:
    """The brief, to take in at a glance on one screen (Teams gives it ~450 px; the task pane less):
    what to raise first, then who is coming, the mail with them (one line per thread), what is open
    and the firm's last meeting with them. `user_ids` (Teams MRIs of the partner) turns on
    auto-refresh; `originator` is the Actionable Messages provider id for Outlook; `notice`/`link`
    answer snooze and open-in-Outlook. Dates in the partner's zone, one style ("Tue 2 Dec, 13:00")."""
    m = facts["meeting"]
    mid = m["id"]
    tz = _tz(facts)
    cancelled = bool(m.get("isCancelled"))
    head: list[dict[str, Any] | None] = [
        heading("Meeting brief"),
        text(m.get("subject") or "(no subject)", weight="Bolder", size="Medium", limit=120, spacing="None"),
        _time_line(m, now, tz),
    ]
    updated = facts.get("updated")
    if updated and updated.get("previousStart"):
        head.append(line(run("Updated brief: ", weight="Bolder"),
                         run(f"the meeting moved from {_day(updated['previousStart'], now, tz, time=True)}."),
                         spacing="Small"))
    if notice:
        head.append(text(notice, weight="Bolder", spacing="Small"))
    if link:
        head.append(line(run("Open in Outlook: ", weight="Bolder"), run(link, limit=600), spacing="Small"))
    body: list[dict[str, Any] | None] = [{"type": "Container", "items": [b for b in head if b is not None]}]
    if cancelled:
        body.append({"type": "Container", "style": "attention", "spacing": "Small", "items": [
            text("Cancelled: this meeting will not take place.", weight="Bolder")]})
    if facts.get("internal"):
        body.append(text("Internal meeting: everyone invited is from the firm, so there is no brief to prepare.",
                         spacing="Small", limit=300))
        actions = [execute("Refresh", VERB_REFRESH_BRIEF, {"meetingId": mid})]
        return card(body, actions, fallback=f"Internal meeting: {plain(m.get('subject'))}",
                    refresh=refresh_definition(mid, user_ids) if user_ids is not None else None,
                    originator=originator)

    attendees = facts.get("attendees", [])
    named_accounts = {(a.get("account") or {}).get("name") for a in attendees if a.get("status") != "restricted"}
    show_account = len(named_accounts - {None}) > 1 or len(facts.get("accounts", [])) != 1
    points = [line(run(f"{n}. ", weight="Bolder"), run(p, limit=240), spacing="Small")
              for n, p in enumerate([] if cancelled else facts.get("talkingPoints", []), 1)]
    people = [_attendee_block(a, now, tz, show_account=show_account) for a in attendees]
    if people and not show_account and facts.get("accounts"):
        # One company at the table: named once, not on every attendee's line.
        acct = facts["accounts"][0]
        kind = KIND_LABELS.get(acct.get("kind") or "", "")
        people.insert(0, line(run(acct.get("name") or acct.get("domain"), limit=80),
                              run(f" \u00b7 {kind}" if kind else "", subtle=True), spacing="None"))
    body += [
        section("To raise", points),
        section("Who is coming", people),
        section("Recent mail and notes", _thread_rows(facts.get("threads", []), now, tz)),
        section("Open with them", _account_blocks(facts.get("accounts", []), now, tz)),
        section("Last meeting", _last_meeting(facts.get("lastMeeting"), now, tz)),
    ]
    actions = [execute("Open in Outlook", VERB_OPEN_IN_OUTLOOK, {"meetingId": mid})]
    if not cancelled:
        actions.append(execute("Snooze", VERB_SNOOZE_BRIEF, {"meetingId": mid, "minutes": 15}))
    actions.append(execute("Refresh", VERB_REFRESH_BRIEF, {"meetingId": mid}))
    return card(body, actions, fallback=f"Meeting brief: {plain(m.get('subject'))}",
                refresh=refresh_definition(mid, user_ids) if user_ids is not None else None,
                originator=originator)


def unavailable_card(message: str) -> dict[str, Any]:
    """What a verb on a brief answers when the meeting is gone or not the viewer's (same for both)."""
    return card([heading("Meeting brief"), text(message, spacing="Small")],
                fallback=message)
