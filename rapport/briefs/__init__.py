"""Meeting briefs: composed from the viewer's records, shown on demand and popped up before the meeting.

- `compose`   what a brief says: gathered through the viewer's ScopedStore (walls and privacy
              applied), composed into the one facts dict the card, the add-in API and the bot show,
              with talking points from the drafting service (`build`);
- `delivery`  the 5-minute timer and its "brief-delivery" work: one brief per (meeting, partner,
              start time) to Teams (a sender bot/ provides: runtime.services().teams_briefs) and, where the firm
              turned it on, an Outlook actionable mail through Graph; on the embedded default both
              land in the local outbox.

delivery imports compose, never the reverse. The "brief-delivery" handler loads with the drain
(rapport.work.HANDLER_MODULES). The package imports rapport's records, store, sidebar, drafting,
cards, identity, work, runtime, the local outbox and rapport.followups.sending; never bot/, addin/ or
function_app. This module re-exports the names the bot, the add-in, the hosts and the tests use;
note that `rapport.briefs.compose` is therefore the function, and the module is reached with
`from rapport.briefs.compose import ...`.
"""

from rapport.briefs.compose import (
    DATE_HORIZON,
    MAX_ATTENDEES,
    SHOWN_DATES,
    SHOWN_INTERACTIONS,
    SHOWN_PIPELINE,
    SHOWN_THREADS,
    AccountFacts,
    Gathered,
    brief_context,
    build,
    compose,
    external_attendees,
    gather,
    next_meetings,
    own_meeting,
    talking_points,
    thread_key,
    threads,
)
from rapport.briefs.delivery import (
    DEFAULT_LEAD,
    KIND,
    SNOOZE_MINUTES,
    GraphActionableMail,
    MailSender,
    PassReport,
    TeamsSender,
    actionable_html,
    brief_timer,
    deliver,
    lead_time,
    snooze,
    timer_pass,
    user_ids_for,
    work_key,
)

__all__ = [
    # compose
    "DATE_HORIZON", "MAX_ATTENDEES", "SHOWN_DATES", "SHOWN_INTERACTIONS", "SHOWN_PIPELINE", "AccountFacts", "Gathered",
    "brief_context", "build", "compose", "external_attendees", "gather", "next_meetings", "own_meeting",
    "talking_points", "SHOWN_THREADS", "thread_key", "threads",
    # delivery
    "DEFAULT_LEAD", "KIND", "SNOOZE_MINUTES", "GraphActionableMail", "MailSender", "PassReport", "TeamsSender",
    "actionable_html", "brief_timer", "deliver", "lead_time", "snooze", "timer_pass",
    "user_ids_for", "work_key",
]
