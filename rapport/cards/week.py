"""The Monday cards: the partner's week, and the managing partner's report (rapport.metrics).

Pure functions of already-scoped facts (rapport.metrics.week builds them through the partner's own
ScopedStore; the firm report holds counts and partner names only). Text that came from outside the
firm (a meeting subject, a contact's name, a counsel move's summary) goes through text runs only
(rapport.cards.common), never markdown. Short by design: at most five items a section, so the card
fits one screen in a Teams chat.
"""

from __future__ import annotations

from typing import Any

from rapport.cards.common import card, execute, heading, line, row, run, section, text
from rapport.cards.welcome import VERB_MY_FOLLOWUPS

VERB_DRAFT_NOTE = "metrics.draftNote"  # "Draft a note" to a relationship going cold (bot/metrics.py)
# Every verb these cards show that no other card family owns ("Review follow-ups" is the welcome card's).
VERBS = (VERB_DRAFT_NOTE,)
MAX_ITEMS = 3


def _hours(h: float | None) -> str:
    return "–" if h is None else (f"{h:.0f} h" if h >= 1 else f"{h * 60:.0f} min")


def _more(items: list[Any], shown: int) -> dict[str, Any] | None:
    extra = len(items) - shown
    return text(f"and {extra} more", subtle=True) if extra > 0 else None


def partner_week_card(facts: dict[str, Any]) -> dict[str, Any]:
    """The partner's week: approved actions vs their own last four weeks, follow-ups pending, meetings
    without a follow-up, relationships going cold (each with "Draft a note"), new counsel moves and
    title changes."""
    approved, prior = facts["approved"], facts["approvedPrior4"]
    body: list[dict[str, Any] | None] = [
        {"type": "TextBlock", "text": "Your week in BD", "weight": "Bolder", "size": "Medium",
         "wrap": True, "style": "heading"},
        line(run(f"Week of {facts['weekLabel']}", subtle=True)),
        line(run(f"{approved}", weight="Bolder", size="Large"),
             run(f" approved BD action{'s' if approved != 1 else ''}"),
             run(f" (your last four weeks: {prior:g} a week)", subtle=True), spacing="Small"),
    ]
    pending = facts["pending"]
    body.append(section(f"Follow-ups waiting for you ({len(pending)})",
                        [row([run(p["subject"], limit=40)], [run(p["when"], subtle=True)]) for p in pending[:MAX_ITEMS]]
                        + [x for x in [_more(pending, MAX_ITEMS)] if x]))
    without = facts["withoutFollowup"]
    body.append(section(f"Meetings without a follow-up ({len(without)})",
                        [row([run(m["subject"], limit=40)], [run(m["when"], subtle=True)]) for m in without[:MAX_ITEMS]]
                        + [x for x in [_more(without, MAX_ITEMS)] if x]))
    cold = facts["cold"]
    cold_items: list[dict[str, Any]] = []
    for c in cold[:3]:
        cold_items.append({"type": "ColumnSet", "spacing": "Small", "columns": [
            {"type": "Column", "width": "stretch", "verticalContentAlignment": "Center",
             "items": [line(run(c["name"], weight="Bolder", limit=40), run(f" · {c['since']}", subtle=True))]},
            {"type": "Column", "width": "auto", "items": [{"type": "ActionSet", "actions": [
                execute("Draft a note", VERB_DRAFT_NOTE, {"contactId": c["contactId"]})]}]},
        ]})
    if len(cold) > 3:
        cold_items.append(text(f"and {len(cold) - 3} more", subtle=True))
    body.append(section(f"Going cold: no touch in {facts.get('coldWeeks', 8)} weeks ({len(cold)})", cold_items))
    moves = facts["counselMoves"]
    body.append(section(f"Counsel moves and new roles ({len(moves)})",
                        [line(run(m["name"], weight="Bolder", limit=60), run(" " + m["summary"], limit=60))
                         for m in moves[:MAX_ITEMS]] + [x for x in [_more(moves, MAX_ITEMS)] if x]))
    if not (pending or without or cold or moves):
        body.append(text("Nothing waiting for you this week.", spacing="Medium"))
    actions = [execute("Review follow-ups", VERB_MY_FOLLOWUPS, style="positive")] if pending else []
    if facts.get("deskUrl"):
        actions.append({"type": "Action.OpenUrl", "title": "Open my BD desk", "url": facts["deskUrl"]})
    return card(body, actions, fallback=f"Your week: {approved} approved BD actions")


def firm_report_card(report: dict[str, Any], *, url: str = "") -> dict[str, Any]:
    """The managing partner's Monday card: firm totals against the trend, the pipeline by stage and
    the exceptions; the report page holds the charts and one row per partner."""
    trend = report["trend"]
    last = trend[-1] if trend else {"approved": 0, "followupMedian": None, "withoutFollowup": 0,
                                    "newRelationships": 0, "week": ""}
    prior = [t["approved"] for t in trend[-5:-1]]
    avg = sum(prior) / len(prior) if prior else 0
    facts = {"type": "FactSet", "facts": [
        {"title": "Approved BD actions", "value": f"{last['approved']} (4-week average {avg:.0f})"},
        {"title": "Time to follow-up", "value": f"median {_hours(last['followupMedian'])}"},
        {"title": "Meetings without follow-up", "value": str(last["withoutFollowup"])},
        {"title": "New relationships", "value": str(last["newRelationships"])},
    ]}
    pipeline = report["pipeline"]
    body: list[dict[str, Any] | None] = [
        {"type": "TextBlock", "text": "The firm's week in business development", "weight": "Bolder",
         "size": "Medium", "wrap": True, "style": "heading"},
        line(run(f"Week of {last['week']}", subtle=True)),
        facts,
        section("Pipeline by stage", [text(", ".join(f"{k}: {v}" for k, v in sorted(pipeline.items())))]
                if pipeline else []),
        section("Worth a conversation", [text(e, limit=160) for e in report["exceptions"][:MAX_ITEMS]]),
    ]
    if not report["exceptions"]:
        body.append({"type": "Container", "items": [heading("Worth a conversation"),
                                                    text("Nothing stands out this week.")]})
    actions = [{"type": "Action.OpenUrl", "title": "Open the report", "url": url}] if url else []
    return card(body, actions, fallback=f"The firm's week: {last['approved']} approved BD actions")


def desk_card(facts: dict[str, Any]) -> dict[str, Any]:
    """"My BD desk" in the task pane when no mail or meeting is selected (rapport.metrics.desk)."""
    body: list[dict[str, Any] | None] = [
        {"type": "TextBlock", "text": "My BD desk", "weight": "Bolder", "size": "Medium", "wrap": True,
         "style": "heading"},
    ]
    pending = facts["pending"]
    body.append(section(f"Follow-ups waiting for you ({len(pending)})",
                        [row([run(p["subject"], limit=40)], [run(p["when"], subtle=True)]) for p in pending[:MAX_ITEMS]]
                        + [x for x in [_more(pending, MAX_ITEMS)] if x]))
    meetings = facts["meetings"]
    body.append(section(f"This week's meetings ({len(meetings)})",
                        [line(run(m["subject"], weight="Bolder", limit=40),
                              run(f" · {m['when']} · brief {m['brief']} · follow-up {m['followUp']}", subtle=True))
                         for m in meetings[:MAX_ITEMS]] + [x for x in [_more(meetings, MAX_ITEMS)] if x]))
    enquiries = facts["enquiries"]
    body.append(section(f"Open enquiries ({len(enquiries)})",
                        [row([run(e["subject"], limit=40)], [run(e["stage"], subtle=True)]) for e in enquiries[:MAX_ITEMS]]
                        + [x for x in [_more(enquiries, MAX_ITEMS)] if x]))
    cold = facts["cold"]
    body.append(section(f"Going cold ({len(cold)})",
                        [row([run(c["name"], limit=40)], [run(c["since"], subtle=True)]) for c in cold[:MAX_ITEMS]]
                        + [x for x in [_more(cold, MAX_ITEMS)] if x]))
    if not (pending or meetings or enquiries or cold):
        body.append(text("Nothing waiting for you.", spacing="Medium"))
    elif pending:
        body.append(text("Approve them on their cards in Teams.", subtle=True, spacing="Medium"))
    return card(body, fallback="My BD desk")
