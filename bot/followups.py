"""Follow-ups in Teams: the approval card's verbs, the "my follow-ups" / "follow up <name>" commands,
and the proactive card delivery (new card, then the same activity updated after the send).

Every verb acts as the activity's user in the activity's proven tenant (bot/verbs.py); the card's
data carries only {draftId, version}. The state changes themselves live in rapport.followups; this
module maps their outcomes to Universal Actions answers:
- ok / already / stale / bad state -> the updated card (with a one-line notice where useful);
- another partner -> 403 and nothing changes; another tenant, a wall or a bad id -> 404, the same
  answer as for a draft that does not exist.
Approve answers at once: the send is a work item the drain runs after the answer.

The welcome card's "My follow-ups" button (rapport.cards.welcome) is a verb here too: it sends the
same messages as typing "my follow-ups".

Exports `VERBS` (verb -> handler) and `on_text`, which bot/routes.py hands to the bot, and
`TeamsCardDelivery`, which bot/routes.py makes on the bot's adapter.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from botbuilder.core import CardFactory, InvokeResponse, MessageFactory, TurnContext

from bot import verbs
from bot.text import NEUTRAL, outsider, reply
from rapport import followups, runtime
from rapport.cards.followup import (
    BODY_INPUT,
    CC_INPUT,
    SUBJECT_INPUT,
    TO_INPUT,
    VERB_APPROVE,
    VERB_EDIT,
    VERB_RETRY,
    VERB_SAVE,
    VERB_SAVE_APPROVE,
    VERB_SKIP,
    VERB_SNOOZE_LATER,
    VERB_SNOOZE_TOMORROW,
    VERB_SPLIT,
    title_for,
)
from rapport.cards.followup import VERBS as CARD_VERBS  # every verb the card can show
from rapport.cards.welcome import VERB_MY_FOLLOWUPS
from rapport.records import Draft, Person, utcnow
from rapport.store.base import Store

log = logging.getLogger("rapport.bot")

NOT_FOUND = "This draft was not found."
REFUSED = "Only the partner who owns this draft, or a delegate they named, can act on it."
NONE_WAITING = "You have no follow-ups waiting for you."
SPLITTING = "One draft per company is on its way: each company's card will follow."
LIST_LIMIT = 5  # cards per "my follow-ups" answer: Teams allows 7 messages a second per thread
_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)
_MINE = re.compile(r"^(?:show\s+)?my\s+follow[\s-]?ups?\W*$", re.IGNORECASE)
_FOLLOW_UP = re.compile(r"^follow[\s-]?up\s+(?:with\s+)?(.+)$", re.IGNORECASE | re.DOTALL)


# --- verbs ---------------------------------------------------------------------------------------

async def _answer(store: Store, out: followups.Outcome, *, notice: str | None = None) -> InvokeResponse:
    if out.status == "not_found" or out.draft is None and out.status != "refused":
        return verbs.error_response(404, NOT_FOUND, "NotFound")
    if out.status == "refused":
        return verbs.error_response(403, REFUSED, "Forbidden")
    message = notice if out.status == "ok" else (out.message or None)
    # In edit mode To is chosen among the meeting's outside attendees (checked again on save).
    choices = await followups.allowed_recipients(store, out.draft) if out.editing else ()
    card = await followups.card_for(store, out.draft, notice=message, editing=out.editing, choices=choices,
                                    typed=out.typed)
    return verbs.card_response(card)


def _act(verb: str):
    """The handler of one of the card's verbs (rapport.cards.followup.VERBS); refresh, and any verb
    without a change of its own, shows the draft as it is."""

    async def handle(turn_context: TurnContext, tenant_id: str, data: dict[str, Any]) -> InvokeResponse:
        oid = verbs.viewer(turn_context)
        if oid is None:
            return verbs.error_response(403, REFUSED, "Forbidden")
        store = await runtime.store()
        draft_id, version = data.get("draftId"), data.get("version")
        now = utcnow()
        notice = None
        if verb == VERB_APPROVE:
            out = await followups.approve(store, tenant_id, oid, draft_id, version, now=now)
        elif verb == VERB_EDIT:
            out = await followups.view(store, tenant_id, oid, draft_id)
            if out.status == "ok" and out.draft is not None:
                stale = followups.parse_version(version) != out.draft.version
                out.editing = not stale and out.draft.state in followups.PENDING_STATES
                if stale:
                    out.status, out.message = "stale", f"This draft changed; this is version {out.draft.version}."
        elif verb == VERB_SAVE:
            out = await followups.edit(store, tenant_id, oid, draft_id, version, data.get(SUBJECT_INPUT),
                                       data.get(BODY_INPUT), now=now, to=data.get(TO_INPUT), cc=data.get(CC_INPUT))
            notice = out.message
        elif verb == VERB_SAVE_APPROVE:  # one click: the edited text as a new version, that version approved
            out = await followups.save_and_approve(store, tenant_id, oid, draft_id, version, data.get(SUBJECT_INPUT),
                                                   data.get(BODY_INPUT), now=now, to=data.get(TO_INPUT),
                                                   cc=data.get(CC_INPUT))
            notice = out.message
        elif verb in (VERB_SNOOZE_LATER, VERB_SNOOZE_TOMORROW):
            choice = "tomorrow" if verb == VERB_SNOOZE_TOMORROW else "later"
            out = await followups.snooze(store, tenant_id, oid, draft_id, version, choice, now=now)
        elif verb == VERB_SKIP:
            out = await followups.skip(store, tenant_id, oid, draft_id, version, now=now)
        elif verb == VERB_RETRY:
            out = await followups.retry(store, tenant_id, oid, draft_id, version, now=now)
        elif verb == VERB_SPLIT:
            out = await followups.split(store, tenant_id, oid, draft_id, version, now=now)
            notice = SPLITTING
        else:  # VERB_REFRESH
            out = await followups.view(store, tenant_id, oid, draft_id)
        return await _answer(store, out, notice=notice)

    return handle


# The card's own list: a verb the card shows is a verb the bot answers (bot/routes.py hands it on).
VERBS: dict[str, verbs.VerbHandler] = {verb: _act(verb) for verb in CARD_VERBS}


# --- text commands -------------------------------------------------------------------------------

def parse_command(text: str | None) -> tuple[str, str] | None:
    """("mine", "") or ("follow", name), or None when the text is not a follow-up command."""
    t = " ".join(_MENTION.sub(" ", text or "").split())
    if _MINE.match(t):
        return ("mine", "")
    m = _FOLLOW_UP.match(t)
    if m:
        return ("follow", m.group(1).strip().rstrip(".!?")[:100])
    return None


async def on_text(turn_context: TurnContext, tenant_id: str) -> bool:
    """Answer "my follow-ups" or "follow up <name>"; False when the text is neither."""
    command = parse_command(turn_context.activity.text)
    if command is None:
        return False
    oid = await verbs.viewer_or_explain(turn_context, "follow-ups")
    if oid is None:
        return True
    store = await runtime.store()
    kind, name = command
    if kind == "follow":
        meeting = await followups.request_followup(store, tenant_id, oid, name)
        if meeting is None:
            await turn_context.send_activity(reply(
                f"I found no meeting of yours with \u201c{outsider(name, 60)}\u201d in the last 14 days."))
        else:
            # The subject is written by whoever sent the invitation: plain text, links left out.
            await turn_context.send_activity(reply(
                f"Drafting the follow-up to \u201c{outsider(meeting.subject, 80, empty=NEUTRAL)}\u201d; "
                "the card will be here shortly."))
        return True
    await _send_mine(turn_context, store, tenant_id, oid)
    return True


async def _send_mine(turn_context: TurnContext, store: Store, tenant_id: str, oid: str) -> int:
    """The answer to "my follow-ups" (typed, or the welcome card's button): a count, then the newest
    cards, as messages in the chat. Returns how many follow-ups wait."""
    drafts = await followups.pending(store, tenant_id, oid)
    if not drafts:
        await turn_context.send_activity(NONE_WAITING)
        return 0
    more = len(drafts) - LIST_LIMIT
    await turn_context.send_activity(
        f"{len(drafts)} follow-up{'s' if len(drafts) != 1 else ''} waiting for you" +
        (f"; here are the newest {LIST_LIMIT}." if more > 0 else "."))
    for d in drafts[:LIST_LIMIT]:
        card = await followups.card_for(store, d)
        await turn_context.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(card)))
    return len(drafts)


async def _my_followups(turn_context: TurnContext, tenant_id: str, data: dict[str, Any]) -> InvokeResponse:
    """The welcome card's "My follow-ups": the same messages as typing "my follow-ups", sent to the
    chat; the invoke answers with a one-line message, so the welcome card stays as it is."""
    oid = verbs.viewer(turn_context)
    if oid is None:
        return verbs.error_response(403, REFUSED, "Forbidden")
    waiting = await _send_mine(turn_context, await runtime.store(), tenant_id, oid)
    return verbs.message_response(NONE_WAITING if waiting == 0 else "Your follow-ups are in the chat below.")


# The welcome card's button (rapport.cards.welcome): "my follow-ups" without typing it.
VERBS[VERB_MY_FOLLOWUPS] = _my_followups


# --- proactive delivery ----------------------------------------------------------------------------

class TeamsCardDelivery:
    """Posts the card to the partner's personal chat, then updates that same activity in place."""

    def __init__(self, adapter: Any, auth: Any, app_id: str, pacer: Any = None) -> None:
        self.adapter = adapter
        self.auth = auth
        self.app_id = app_id
        self.pacer = pacer  # Teams' per-thread and per-tenant windows, shared with the briefs' sends (bot/pacing.py)

    async def deliver(self, store: Store, person: Person, draft: Draft, card: dict[str, Any]) -> str | None:
        from botbuilder.schema import ConversationReference

        if not person.conversationRef:
            log.info("follow-up card not delivered: the partner has not installed the bot",
                     extra={"tenant_id": draft.tenantId})
            return None  # the draft waits; "my follow-ups" lists it
        ref = ConversationReference().deserialize(person.conversationRef)
        conv = ref.conversation
        if conv is None or not conv.id or not ref.service_url:
            return None
        if (getattr(conv, "tenant_id", None) or draft.tenantId).lower() != draft.tenantId.lower():
            raise PermissionError("the stored conversation belongs to another tenant")  # never cross firms
        if self.auth is not None:
            await self.auth.warm_outbound_token()  # msal in a thread, not on the event loop
        activity = MessageFactory.attachment(CardFactory.adaptive_card(card))
        activity.summary = f"{title_for(draft)}: " + outsider(draft.subject, 100)
        result: dict[str, Any] = {}
        if self.pacer is not None:
            await self.pacer.acquire(draft.tenantId, conv.id)

        async def turn(context: TurnContext) -> None:
            try:
                if draft.cardActivityId:
                    activity.id = draft.cardActivityId
                    await context.update_activity(activity)
                    result["id"] = draft.cardActivityId
                else:
                    sent = await context.send_activity(activity)
                    result["id"] = getattr(sent, "id", None)
            except Exception as exc:  # noqa: BLE001 - raised below, outside the turn (no apology message)
                result["error"] = exc

        await self.adapter.continue_conversation(ref, turn, self.app_id)
        if "error" in result:
            raise RuntimeError(f"Teams refused the follow-up card ({type(result['error']).__name__})")
        return result.get("id")

