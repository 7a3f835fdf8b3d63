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

Times are given to the host as {{DATE()}}/{{TIME()}} functions so each partner sees local time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rapport.cards.common import (
    KIND_LABELS,
    card,
    day,
    execute,
    heading,
    line,
    parse_time,
    plain,
    row,
    run,
    section,
    text,
    when,
)
from rapport.cards.contact import DATE_WORDS, STAGE_WORDS, _channel, _strength_color, _without_prefix
from rapport.cards.relationships import VERB_ASK_INTRO

VERB_REFRESH_BRIEF = "refreshBrief"
VERB_SNOOZE_BRIEF = "snoozeBrief"
VERB_OPEN_IN_OUTLOOK = "openInOutlook"
BRIEF_VERBS = (VERB_REFRESH_BRIEF, VERB_SNOOZE_BRIEF, VERB_OPEN_IN_OUTLOOK)


def _host_time(value: str | None, *, date: bool = True) -> str:
    """'{{DATE(2026-11-25T14:00:00Z, SHORT)}} {{TIME(...)}}': the host formats it in local time."""
    dt = parse_time(value)
    if dt is None:
        return ""
    stamp = dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    t = f"{{{{TIME({stamp})}}}}"
    return f"{{{{DATE({stamp}, SHORT)}}}} {t}" if date else t


def _time_block(label: str, facts_meeting: dict[str, Any], now: datetime) -> dict[str, Any]:
    start, end = facts_meeting.get("start"), facts_meeting.get("end")
    rel = when(start, now)
    body = f"{label}{_host_time(start)} \u2013 {_host_time(end, date=False)}"
    if rel:
        body += f" ({rel})"
    # Our own format string around timestamps we made: safe as a TextBlock (needed for DATE/TIME).
    return {"type": "TextBlock", "text": body, "wrap": True, "spacing": "None", "isSubtle": True}


def _knowers(a: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = [run("Known by: ", weight="Bolder")]
    shown = 0
    for k in a.get("knownBy", []):
        if shown:
            runs.append(run(", "))
        shown += 1
        runs.append(run("you" if k.get("you") else (k.get("name") or "a colleague")))
        if k.get("private"):
            runs.append(run(" (private)", subtle=True))
            continue
        label = (k.get("label") or "cold")
        runs.append(run(f" ({label}", color=_strength_color(label)))
        if k.get("lastTouch"):
            runs.append(run(f", {when(k['lastTouch'], now)}", subtle=True))
        runs.append(run(")"))
    return [line(*runs, spacing="Small")] if shown else []


def _attendee_block(a: dict[str, Any], now: datetime) -> dict[str, Any]:
    status = a.get("status")
    items: list[dict[str, Any] | None] = []
    head = [run(a.get("name") or a.get("email"), weight="Bolder")]
    if a.get("title"):
        head.append(run(f"  {a['title']}", subtle=True))
    items.append(line(*head))
    account = a.get("account")
    if status == "restricted":
        who = ", ".join(plain(n, 60) for n in (a.get("knownTo") or [])[:3]) or "a colleague"
        items.append(line(run("Known to "), run(who, weight="Bolder"), run(" - ask for an introduction."),
                          spacing="None"))
        if a.get("email"):  # the request itself: rapport.relationships.intros (bot/relationships.py answers it)
            items.append({"type": "ActionSet", "spacing": "Small", "actions": [
                execute("Ask for an introduction", VERB_ASK_INTRO, {"email": a["email"], "from": "brief"})]})
    else:
        if account:
            kind = KIND_LABELS.get(account.get("kind") or "", "")
            items.append(line(run(account.get("name") or account.get("domain")),
                              run(f"  {kind}" if kind else "", color="Accent"), spacing="None"))
        if status != "known":
            items.append(text("Not yet known to the firm", subtle=True, spacing="None"))
    for s in a.get("signals", []):
        items.append(line(run("Moved: " if s.get("kind") == "counsel_move" else "Changed: ", weight="Bolder"),
                          run(s.get("summary"), limit=160),
                          run(f"  {when(s.get('at'), now)}", subtle=True), spacing="Small"))
    items.extend(_knowers(a, now))
    for i in a.get("lastInteractions", []):
        items.append(row([run(_channel(i), weight="Bolder"), run(": "),
                          run(i.get("text") or i.get("subject") or "(no subject)", limit=100),
                          run(f" \u2014 {i['by']}", subtle=True) if i.get("by") else run("")],
                         [run(when(i.get("at"), now), subtle=True)]))
    return {"type": "Container", "spacing": "Medium", "items": [b for b in items if b is not None]}


def _account_blocks(accounts: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    out = []
    for acct in accounts:
        rows: list[dict[str, Any]] = []
        for p in acct.get("pipeline", []):
            rows.append(row([run("Enquiry: " if p.get("kind") == "enquiry" else "Opportunity: ", weight="Bolder"),
                             run(_without_prefix(p.get("title") or "(untitled)", p.get("kind") or ""), limit=120)],
                            [run(STAGE_WORDS.get(p.get("stage") or "", p.get("stage") or ""), subtle=True)]))
        for d in acct.get("keyDates", []):
            rows.append(row([run(f"{DATE_WORDS.get(d.get('kind') or '', 'Date')}: ", weight="Bolder"),
                             run(d.get("matter") or d.get("reference") or "a matter", limit=120)],
                            [run(day(d.get("date")), color="Attention" if d.get("soon") else None)]))
        if not rows:
            continue
        kind = KIND_LABELS.get(acct.get("kind") or "", "")
        title = line(run(acct.get("name") or acct.get("domain"), weight="Bolder"),
                     run(f"  {kind}" if kind else "", color="Accent"), spacing="Small")
        out.append({"type": "Container", "items": [title, *rows]})
    return out


def refresh_definition(meeting_id: str, user_ids: list[str] | None) -> dict[str, Any]:
    r: dict[str, Any] = {"action": execute("Refresh", VERB_REFRESH_BRIEF, {"meetingId": meeting_id})}
    if user_ids:
        r["userIds"] = list(user_ids)
    return r


def brief_card(facts: dict[str, Any], now: datetime, *, user_ids: list[str] | None = None,
               originator: str | None = None, notice: str | None = None,
               link: str | None = None) -> dict[str, Any]:
    """The brief. `user_ids` (Teams MRIs of the partner) turns on auto-refresh; `originator` is the
    Actionable Messages provider id for Outlook; `notice`/`link` answer snooze and open-in-Outlook."""
    m = facts["meeting"]
    mid = m["id"]
    head: list[dict[str, Any] | None] = [
        heading("Meeting brief"),
        text(m.get("subject") or "(no subject)", weight="Bolder", size="Large"),
        _time_block("", m, now),
    ]
    if m.get("isCancelled"):
        head.append(text("This meeting has been cancelled.", color="Attention", weight="Bolder"))
    updated = facts.get("updated")
    if updated and updated.get("previousStart"):
        head.append({"type": "TextBlock", "wrap": True, "weight": "Bolder", "spacing": "Small",
                     "text": f"Updated brief: the meeting moved from {_host_time(updated['previousStart'])}."})
    if notice:
        head.append(text(notice, color="Accent", spacing="Small"))
    if link:
        head.append(line(run("Open in Outlook: ", weight="Bolder"), run(link, limit=600), spacing="Small"))

    attendees = [_attendee_block(a, now) for a in facts.get("attendees", [])]
    last = facts.get("lastMeeting")
    last_rows = []
    if last:
        last_rows.append(row([run(last.get("subject") or "(no subject)", weight="Bolder", limit=120)],
                             [run(when(last.get("start"), now), subtle=True)]))
        color = "Attention" if last.get("followUp") in ("none", "failed", "drafted") else None
        last_rows.append(line(run("Follow-up: "), run(last.get("followUpText") or last.get("followUp"), color=color),
                              spacing="None"))
    points = [line(run(f"{n}. ", weight="Bolder"), run(p, limit=300), spacing="Small")
              for n, p in enumerate(facts.get("talkingPoints", []), 1)]
    body = [
        {"type": "Container", "items": [b for b in head if b is not None]},
        section("Who is coming", attendees),
        section("Open with them", _account_blocks(facts.get("accounts", []), now)),
        section("Last meeting", last_rows),
        section("To raise", points),
        text(f"As of {day(facts.get('asOf'))}" if facts.get("asOf") else "", subtle=True, size="Small",
             spacing="Medium") if facts.get("asOf") else None,
    ]
    actions = [
        execute("Open in Outlook", VERB_OPEN_IN_OUTLOOK, {"meetingId": mid}),
        execute("Snooze", VERB_SNOOZE_BRIEF, {"meetingId": mid, "minutes": 15}),
        execute("Refresh", VERB_REFRESH_BRIEF, {"meetingId": mid}),
    ]
    return card(body, actions, fallback=f"Meeting brief: {plain(m.get('subject'))}",
                refresh=refresh_definition(mid, user_ids) if user_ids is not None else None,
                originator=originator)


def unavailable_card(message: str) -> dict[str, Any]:
    """What a verb on a brief answers when the meeting is gone or not the viewer's (same for both)."""
    return card([heading("Meeting brief"), text(message, spacing="Small")],
                fallback=message)
