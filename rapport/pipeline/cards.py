"""The enquiry card: who wrote, why Rapport thinks it is an enquiry, who owns it, the clock, the stage.

Pure (facts in, Adaptive Card 1.5 out; `Action.Execute` only, data = enquiry ids and the stage,
never a tenant or user). Text from outside the firm (the sender's name, the subject) goes through
TextRuns only (rapport.cards.common), so it is never a link. Fit for 320-450 px: two primary
buttons (the next stage, and "Conflicts cleared" until it is set), "Log a call", every other stage
and "Lost" in the overflow menu; "Lost" reads its reason from the card's one input. When the same
person has another open enquiry, the card says so and offers "Merge into one" beside it (the older
is kept: rapport.pipeline.stages.merge_duplicate).

Kinds of card (`kind`): "new" (sent to the owner at once), "overdue" (the deadline passed: to the
owner and business development), "replied" (the prospect answered during the cadence: it is
paused), "called" (a colleague logged a call with the prospect during the cadence: paused too),
"ask" (five touches without an answer: close as lost or keep open), "status" (a refresh).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from rapport.cards.common import card, card_time, card_when, execute, line, run
from rapport.records import Enquiry

VERB_STAGE = "enquiry.stage"
VERB_CONFLICTS = "enquiry.conflicts"
VERB_KEEP_OPEN = "enquiry.keepOpen"
VERB_REFRESH = "enquiry.refresh"
VERB_CALL = "enquiry.call"  # "Log a call" (rapport.pipeline.calls)
VERB_MERGE = "enquiry.merge"  # data: enquiryId and otherId, the same person's other open enquiry
VERBS = (VERB_STAGE, VERB_CONFLICTS, VERB_KEEP_OPEN, VERB_REFRESH, VERB_CALL, VERB_MERGE)
REASON_INPUT = "lostReason"
LABELS = {"enquiry": "Enquiry", "needs_analysis": "Needs analysis", "proposal": "Proposal",
          "negotiation": "Negotiation", "instructed": "Instructed", "lost": "Lost"}
NEXT = {"enquiry": "needs_analysis", "needs_analysis": "proposal", "proposal": "negotiation",
        "negotiation": "instructed"}
TITLES = {"new": ("New enquiry", "accent"), "overdue": ("Enquiry not answered in time", "attention"),
          "replied": ("Prospect replied: follow-ups paused", "good"),
          "called": ("Call logged: follow-ups paused", "good"),
          "ask": ("Five follow-ups, no answer", "warning"), "status": ("Enquiry", "default")}


@dataclass
class EnquiryFacts:
    enquiry: Enquiry
    person: str  # the enquirer's name or address (outside text)
    company: str = ""
    owner_name: str = ""
    known_by: list[str] = field(default_factory=list)  # partners who know the company (the escalation)
    due: datetime | None = None
    responder_name: str = ""
    also_open: list[tuple[str, str, datetime]] = field(default_factory=list)  # the person's other open
    # enquiries as the viewer sees them: (id, subject, received), oldest first


def _duration(seconds: float) -> str:
    m = int(seconds // 60)
    return f"{m // 60} h {m % 60:02d} min" if m >= 60 else f"{m} min"


def clock_line(f: EnquiryFacts, now: datetime, tz: tzinfo) -> dict[str, Any]:
    e = f.enquiry
    if e.firstResponseAt is not None:
        how = " by phone" if e.firstResponseChannel == "call" else ""
        who = f" by {f.responder_name}" if f.responder_name else ""
        took = f" in {_duration(e.responseSeconds)} of working time" if e.responseSeconds is not None else ""
        return line(run("Answered", weight="Bolder"), run(f"{how}{who}{took}.", subtle=True))
    if f.due is None or not e.is_open:
        return line(run("Not answered yet.", subtle=True))
    if f.due <= now:
        return line(run("Reply overdue: ", weight="Bolder", color="Attention"),
                    run(f"it was due {card_when(f.due, now, tz)} at {card_time(f.due)}.", color="Attention"))
    return line(run("Reply due ", weight="Bolder"), run(f"{card_when(f.due, now, tz)} at {card_time(f.due)}", weight="Bolder"),
                run(" (working hours).", subtle=True))


def enquiry_card(f: EnquiryFacts, *, kind: str = "status", now: datetime, tz: tzinfo = UTC,
                 notice: str | None = None, refresh_users: list[str] | None = None) -> dict[str, Any]:
    e = f.enquiry
    title, style = TITLES.get(kind, TITLES["status"])
    d = {"enquiryId": e.id}
    body: list[dict[str, Any] | None] = [
        {"type": "Container", "style": style, "bleed": True, "items": [
            {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True,
             "style": "heading"}]},
    ]
    if notice:
        body.append(line(run(notice, weight="Bolder", limit=300), spacing="Small"))
    body += [
        line(run("From: ", weight="Bolder"), run(f.person, limit=200),
             *( [run(f" ({f.company})", subtle=True, limit=120)] if f.company else []), spacing="Small"),
        line(run("Subject: ", weight="Bolder"), run(e.subject or "(none)", limit=300), spacing="None"),
        line(run("Stage: ", weight="Bolder"), run(LABELS.get(e.stage, e.stage)),
             run(f" (lost: {e.lostReason})" if e.stage == "lost" and e.lostReason else "", subtle=True, limit=300),
             spacing="None"),
        line(run("Owner: ", weight="Bolder"), run(f.owner_name or "nobody yet", limit=100), spacing="None"),
    ]
    if e.reason:
        body.append(line(run("Why Rapport flagged it: ", weight="Bolder"), run(e.reason, limit=200), spacing="None"))
    if f.known_by:
        # Default colour: Accent reads at 3.4:1 on Outlook's light background (under WCAG AA).
        body.append(line(run("Known company: ", weight="Bolder"),
                         run(f"{', '.join(f.known_by[:3])} already know{'s' if len(f.known_by) == 1 else ''} "
                             "this company; use that relationship.", limit=300), spacing="Small"))
    body.append(clock_line(f, now, tz))
    if f.also_open and e.is_open:
        other_id, other_subject, received = f.also_open[0]
        body += [
            line(run("Also open for this person: ", weight="Bolder"),
                 run(other_subject or "(no subject)", limit=200),
                 run(f" (received {card_when(received, now, tz)}). Merging keeps the older one.", subtle=True),
                 spacing="Small"),
            {"type": "ActionSet", "spacing": "Small", "actions": [execute(
                "Merge into one", VERB_MERGE, {**d, "otherId": other_id}, associated_inputs="none")]},
        ]
    if not e.conflictsCleared and e.is_open:
        body.append(line(run("Conflicts not yet cleared: only conflict-safe drafts are offered.", subtle=True),
                         spacing="Small"))
    if e.touches:
        body.append(line(run("Follow-ups drafted: ", weight="Bolder"), run(f"{len(e.touches)} of 5"), spacing="None"))
    actions: list[dict[str, Any]] = []
    if kind == "ask" and e.is_open:
        body.append({"type": "Input.Text", "id": REASON_INPUT, "label": "Reason if lost", "maxLength": 300,
                     "placeholder": "e.g. no answer after five follow-ups", "spacing": "Medium"})
        actions = [execute("Close as lost", VERB_STAGE, {**d, "stage": "lost"}, style="destructive",
                           associated_inputs="auto"),
                   execute("Keep open", VERB_KEEP_OPEN, d, associated_inputs="none"),
                   {**execute("Log a call", VERB_CALL, d, associated_inputs="none"), "mode": "secondary"}]
    elif e.is_open:
        body.append({"type": "Input.Text", "id": REASON_INPUT, "label": "Reason if lost", "maxLength": 300,
                     "placeholder": "Only needed to mark it lost", "spacing": "Medium"})
        nxt = NEXT.get(e.stage)
        if nxt:
            actions.append(execute(LABELS[nxt], VERB_STAGE, {**d, "stage": nxt},
                                   style="positive", associated_inputs="none"))
        if not e.conflictsCleared:
            actions.append(execute("Conflicts clear", VERB_CONFLICTS, d, associated_inputs="none"))
        actions.append({**execute("Log a call", VERB_CALL, d, associated_inputs="none"), "mode": "secondary"})
        for s in ("needs_analysis", "proposal", "negotiation", "instructed"):
            if s not in (nxt, e.stage):
                actions.append({**execute(f"Mark {LABELS[s].lower()}", VERB_STAGE, {**d, "stage": s},
                                          associated_inputs="none"), "mode": "secondary"})
        actions.append({**execute("Mark lost", VERB_STAGE, {**d, "stage": "lost"}, style="destructive",
                                  associated_inputs="auto"), "mode": "secondary"})
    refresh = None
    if refresh_users:
        refresh = {"action": execute("Refresh", VERB_REFRESH, d), "userIds": refresh_users[:60]}
    return card(body, actions, fallback=f"{title}: {e.subject}", refresh=refresh)


__all__ = ["LABELS", "REASON_INPUT", "VERBS", "VERB_CALL", "VERB_CONFLICTS", "VERB_KEEP_OPEN", "VERB_MERGE",
           "VERB_REFRESH", "VERB_STAGE", "EnquiryFacts", "clock_line", "enquiry_card"]
