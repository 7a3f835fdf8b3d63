"""Meeting briefs in Teams: the proactive sender, the "brief" commands and the brief card's verbs.

- `TeamsBriefSender` delivers a queued brief (rapport.briefs.delivery) as a proactive message with
  botbuilder's `continue_conversation` and the partner's stored conversation reference, paced by
  bot/pacing.py's TeamsPacer, retrying 429/412/502/504 with jittered backoff (Retry-After
  when the connector gives one). The adapter's on_turn_error is never reached: a failed send is
  caught inside the turn and raised to the work item, which retries later; the partner never gets
  an apology message for a brief they did not ask for.
- "brief" -> the brief of the viewer's next meeting with people outside the firm; "brief <name or
  company>" -> of the next meeting with that contact or organisation (30 days ahead).
- Card verbs (`VERBS`, which bot/routes.py hands to the bot): refreshBrief, snoozeBrief, openInOutlook. The viewer is the
  activity's (tenant from the proven activity, user from `from.aadObjectId`), never the card's
  data, which carries only a meeting id; a meeting that is not theirs answers like a missing one.

bot/routes.py hands `VERBS` and `on_text` to the bot and makes the sender on the bot's adapter.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from botbuilder.core import CardFactory, InvokeResponse, MessageFactory, TurnContext
from botbuilder.schema import ConversationReference

from bot import verbs
from bot.pacing import RETRY_STATUSES, TeamsPacer, backoff_seconds
from bot.text import outsider, reply
from rapport import briefs, runtime
from rapport.briefs import snooze
from rapport.cards.brief import (
    BRIEF_VERBS,
    VERB_OPEN_IN_OUTLOOK,
    VERB_SNOOZE_BRIEF,
    brief_card,
    unavailable_card,
)
from rapport.records import Account, Person, utcnow
from rapport.store import ScopedStore
from rapport.store.base import Read

log = logging.getLogger("rapport.bot")

_MEETING_ID = re.compile(r"^mt_[0-9a-f]{32}$")
_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)
SEARCH_DAYS = 30
GONE = "This meeting is no longer in your calendar."


class TeamsSendFailed(Exception):
    def __init__(self, status: int | None) -> None:
        super().__init__(f"Teams refused the proactive message (HTTP {status})")
        self.status = status


def _failure(exc: BaseException) -> tuple[int | None, float | None]:
    """(HTTP status, Retry-After seconds) from a botframework-connector error, when it has them."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    retry = None
    headers = getattr(response, "headers", None) or {}
    try:
        raw = headers.get("Retry-After") or headers.get("retry-after")
        retry = float(raw) if raw is not None else None
    except (TypeError, ValueError):
        retry = None
    return (int(status) if status else None), retry


class TeamsBriefSender:
    def __init__(self, adapter: Any, auth: Any, app_id: str, *, pacer: TeamsPacer | None = None,
                 max_attempts: int = 4, rng: Any = None) -> None:
        self.adapter = adapter
        self.auth = auth
        self.app_id = app_id
        self.pacer = pacer or TeamsPacer()
        self.max_attempts = max_attempts
        self.rng = rng
        self.retries = 0

    async def send_card(self, tenant_id: str, person: Person, card: dict[str, Any], summary: str) -> None:
        ref = ConversationReference().deserialize(person.conversationRef or {})
        conv = ref.conversation
        if conv is None or not conv.id or not ref.service_url:
            raise TeamsSendFailed(None)
        if (getattr(conv, "tenant_id", None) or tenant_id).lower() != tenant_id.lower():
            raise PermissionError("the stored conversation belongs to another tenant")  # never cross firms
        if self.auth is not None:
            await self.auth.warm_outbound_token()  # msal in a thread, not on the event loop
        activity = MessageFactory.attachment(CardFactory.adaptive_card(card))
        activity.summary = outsider(summary, 120)  # a notification's text: the subject is outsider text
        for attempt in range(1, self.max_attempts + 1):
            await self.pacer.acquire(tenant_id, conv.id)
            failed: list[BaseException] = []

            async def turn(context: TurnContext, failed: list[BaseException] = failed) -> None:
                try:
                    await context.send_activity(activity)
                except Exception as exc:  # noqa: BLE001 - judged below, outside the turn
                    failed.append(exc)

            await self.adapter.continue_conversation(ref, turn, self.app_id)
            if not failed:
                return
            status, retry_after = _failure(failed[0])
            if status not in RETRY_STATUSES or attempt == self.max_attempts:
                raise TeamsSendFailed(status) from failed[0]
            self.retries += 1
            wait = backoff_seconds(attempt, retry_after, self.rng)
            log.info("Teams answered %s to a brief; retrying in %.1fs", status, wait, extra={"tenant_id": tenant_id})
            await self.pacer.sleep(wait)


# --- the viewer --------------------------------------------------------------------------------

def _viewer(turn_context: TurnContext) -> str | None:
    return verbs.viewer(turn_context)  # the activity's user, never the card's data


def _user_ids(turn_context: TurnContext) -> list[str]:
    uid = getattr(turn_context.activity.from_property, "id", None)
    return [uid] if uid else []


# --- "brief" and "brief <name or company>" ------------------------------------------------------

def parse_command(text: str | None) -> str | None:
    """The search words of a brief command ("" for a bare "brief"), or None if it is not one."""
    t = _MENTION.sub(" ", text or "").strip()
    words = t.split(None, 1)
    if not words or words[0].lower().rstrip(".!?:") != "brief":
        return None
    return (words[1].strip() if len(words) > 1 else "")[:100]


async def _matching(scoped: Any, meetings: list[Any], query: str) -> Any:
    q = query.casefold()
    account_ids = list(dict.fromkeys(a for m in meetings for a in m.accountIds))[:100]
    names: dict[str, str] = {}
    if account_ids:
        accounts = await scoped.read_many([Read(Account, record_id=a) for a in account_ids])
        names = {a.id: a.name.casefold() for a in accounts if a is not None}
    for m in meetings:
        people = briefs.external_attendees(m)
        if any(q in (name or "").casefold() or q in email for email, name in people):
            return m
        if any(q in names.get(a, "") for a in m.accountIds):
            return m
    return None


async def on_text(turn_context: TurnContext, tenant_id: str) -> bool:
    """Answer a brief command; False when the text is not one (the caller answers as before)."""
    query = parse_command(turn_context.activity.text)
    if query is None:
        return False
    oid = await verbs.viewer_or_explain(turn_context, "a brief")
    if oid is None:
        return True
    scoped = ScopedStore(await runtime.store(), tenant_id, oid)
    now = utcnow()
    meetings = await briefs.next_meetings(scoped, now, days=SEARCH_DAYS if query else 7)
    meeting = (await _matching(scoped, meetings, query)) if query else (meetings[0] if meetings else None)
    if meeting is None:
        if query:
            await turn_context.send_activity(reply(
                f"I found no meeting with \u201c{outsider(query, 60)}\u201d in the next {SEARCH_DAYS} days."))
        else:
            await turn_context.send_activity("You have no meetings with people outside the firm in the next 7 days.")
        return True
    facts = await briefs.build(scoped, meeting.id, now)
    if facts is None:
        await turn_context.send_activity(GONE)
        return True
    card = brief_card(facts, now, user_ids=_user_ids(turn_context))
    await turn_context.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(card)))
    return True


# --- the card's verbs --------------------------------------------------------------------------

def _card_response(card: dict[str, Any]) -> InvokeResponse:
    return verbs.card_response(card)


async def on_verb(turn_context: TurnContext, tenant_id: str, verb: str, data: dict[str, Any]) -> InvokeResponse:
    oid = _viewer(turn_context)
    mid = data.get("meetingId")
    if oid is None or not isinstance(mid, str) or not _MEETING_ID.match(mid):
        return _card_response(unavailable_card(GONE))
    store = await runtime.store()
    scoped = ScopedStore(store, tenant_id, oid)
    now = utcnow()
    notice = link = None
    if verb == VERB_SNOOZE_BRIEF:
        meeting = await briefs.own_meeting(scoped, mid)
        if meeting is None:
            return _card_response(unavailable_card(GONE))
        minutes = data.get("minutes")
        minutes = minutes if isinstance(minutes, int) and not isinstance(minutes, bool) else 15
        at = await snooze(store, tenant_id, meeting, oid, now, minutes)
        notice = ("Snoozed: Rapport will send this brief again shortly before the meeting."
                  if at else "The meeting is about to start, so there is no time left to snooze.")
    facts = await briefs.build(scoped, mid, now)
    if facts is None:
        return _card_response(unavailable_card(GONE))
    if verb == VERB_OPEN_IN_OUTLOOK:
        link = facts["meeting"].get("webLink") or None
        notice = None if link else "Outlook gave no link for this meeting; find it in your calendar."
    return _card_response(brief_card(facts, now, user_ids=_user_ids(turn_context), notice=notice, link=link))


def _verb_handler(verb: str):
    async def handle(turn_context: TurnContext, tenant_id: str, data: dict[str, Any]) -> InvokeResponse:
        return await on_verb(turn_context, tenant_id, verb, data)

    return handle


# The brief card's verbs, routed by name by bot/verbs.py's `adaptiveCard/action` dispatch.
VERBS: dict[str, verbs.VerbHandler] = {verb: _verb_handler(verb) for verb in BRIEF_VERBS}

__all__ = ["VERBS", "TeamsBriefSender", "TeamsSendFailed", "on_text", "on_verb", "parse_command"]
