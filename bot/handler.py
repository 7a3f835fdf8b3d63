"""The Teams/Outlook bot's turn handling: the tenant gate first, then help and conversation references.

The tenant of an activity is `conversation.tenantId` / `channelData.tenant.id` of an activity whose
Bot Framework token bot/routes.py already proved. If the two disagree, or the tenant is not allowed
(RAPPORT_ALLOWED_TENANTS or an allowed Tenant record), the bot answers that Rapport is not enabled
for the organisation and reads nothing else (docs/reliability.md sections 1 and 2). Identity of the user is
(tenant, `from.aadObjectId`), never a name or an email from the activity, and the bot answers only
one of the firm's people (rapport.identity.membership): `from.aadObjectId` names an enabled,
non-guest Person of the tenant and Teams marks no guest (`from.userRole`). Anyone else gets
"Rapport is not enabled for you." (as a reply, or as an invoke's error), whatever the cause.

What the bot answers is handed to it (bot/routes.py composes it): the card verbs as a table
(`adaptiveCard/action`, dispatched by bot/verbs.py) and the text commands in the order they are
tried; a message no command takes gets the help text, which lists the commands (`COMMANDS_HELP`).
On install the partner gets the welcome card: the same list and a "My follow-ups" button.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence

from botbuilder.core import ActivityHandler, CardFactory, InvokeResponse, MessageFactory, TurnContext
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount

from bot import verbs
from bot.verbs import VerbHandler
from rapport.cards.welcome import welcome_card
from rapport.identity import membership
from rapport.identity.membership import NOT_ENABLED as NOT_FOR_YOU
from rapport.records import Person
from rapport.settings import Settings
from rapport.store import Store
from rapport.text import clean, clean_json

log = logging.getLogger("rapport.bot")

NOT_ENABLED = ("Rapport is not enabled for your organisation. "
               "If you expected it to be, ask your IT administrator to onboard your firm.")
INTRO = ("I'm Rapport, your business-development desk. I'll send you meeting briefs and follow-up drafts "
         "to approve here; nothing is sent without your approval. In Outlook, open the Rapport pane to see "
         "who a sender is to the firm.")
# What one can type, as (words, what follows them, what it does): the one list, which `help` and the
# welcome card both show. The words are the ones bot/briefs.py and bot/followups.py parse
# (tests/test_bot_help.py sends each one and checks that its command, not the help, answers it).
COMMANDS_HELP: tuple[tuple[str, str, str], ...] = (
    ("brief", "", "the brief of your next meeting with people outside the firm"),
    ("brief", "name or company", "the brief of your next meeting with them"),
    ("my follow-ups", "", "the follow-up drafts waiting for your approval"),
    ("follow up", "name", "a follow-up draft for your last meeting with them"),
    ("my pipeline", "", "your open enquiries by stage, overdue first"),
    ("mark", "name instructed", "move their enquiry on (instructed, lost because ..., proposal, negotiation)"),
    ("new enquiry from", "email", "log an enquiry by hand"),
    ("called", "name or email", "log a phone call with an enquirer (it stops their enquiry's clock)"),
    ("help", "", "this list"),
)
HELP = INTRO + "\n\nWhat you can type:\n\n" + "\n".join(
    f"- **{words}**" + (f" *{argument}*" if argument else "") + f": {what}" for words, argument, what in COMMANDS_HELP)
WELCOME = "Hello! " + INTRO
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TENANT_KEY = "rapport.tenant_id"

# A text command gets the turn and the proven tenant id; it answers and returns True, or returns
# False when the text is not its command.
TextCommand = Callable[[TurnContext, str], Awaitable[bool]]


def _extra(model: object) -> dict:
    """The JSON keys botbuilder's schema does not name: msrest keeps them in additional_properties."""
    extra = getattr(model, "additional_properties", None)
    return extra if isinstance(extra, dict) else {}


def activity_tenant(activity: Activity) -> str | None:
    """The activity's tenant id, or None when absent, malformed or contradictory.

    Teams sends `conversation.tenantId`; botbuilder's ConversationAccount maps only the key
    `tenantID` (to `tenant_id`), so Teams' key arrives among the additional properties. Both are
    read, with `channelData.tenant.id`: any two that differ refuse the activity.
    """
    conv = activity.conversation
    conv_ids = [getattr(conv, "tenant_id", None), _extra(conv).get("tenantId")] if conv is not None else []
    data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    tenant = data.get("tenant") if isinstance(data.get("tenant"), dict) else {}
    chan = tenant.get("id") if isinstance(tenant.get("id"), str) else None
    present = [v for v in (*conv_ids, chan) if v is not None]
    if any(not isinstance(v, str) for v in present):
        return None  # a tenant id that is not text: trust nothing
    values = {v.strip().lower() for v in present if v.strip()}
    if len(values) != 1:
        return None  # none, or two different tenants in one activity: trust neither
    tid = values.pop()
    return tid if _GUID.match(tid) else None


def clean_activity(activity: Activity) -> None:
    """What a person typed or a card sent (text, value) as Rapport's clean text (rapport.text), before
    any command or card verb reads it. bot/routes.py parses the body with parse_json_body, which
    already cleans; this holds for an activity that reaches the bot another way."""
    if activity.text is not None:
        activity.text = clean(activity.text)
    if activity.value is not None:
        activity.value = clean_json(activity.value)


class RapportBot(ActivityHandler):
    def __init__(self, settings: Settings, store: Callable[[], Awaitable[Store]], *,
                 verbs: Mapping[str, VerbHandler] | None = None, commands: Sequence[TextCommand] = ()) -> None:
        self.settings = settings
        self._store = store
        self.verbs = dict(verbs or {})  # card verb -> handler (adaptiveCard/action)
        self.commands = tuple(commands)  # text commands, tried in order

    async def on_turn(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        clean_activity(activity)
        tid = activity_tenant(activity)
        if tid is None or not await self._allowed(tid):
            log.warning("bot activity from a tenant that is not enabled", extra={"tenant_id": tid, "alert": True})
            await self._not_enabled(turn_context)
            return
        if not await self._member(turn_context, tid):
            await self._not_for_you(turn_context)
            return
        turn_context.turn_state[TENANT_KEY] = tid
        await super().on_turn(turn_context)

    async def _member(self, turn_context: TurnContext, tid: str) -> bool:
        """One of the firm's people (rapport.identity.membership); the reason goes to the log only."""
        sender = turn_context.activity.from_property
        oid = (getattr(sender, "aad_object_id", None) or "").lower() if sender is not None else ""
        if not _GUID.match(oid):
            reason = "no Entra object id on the activity"
        elif membership.guest_activity_marker(_extra(sender).get("userRole")):
            reason = "Teams marks the user as a guest"
        elif not membership.is_member(await (await self._store()).get_person(tid, oid), tid):
            reason = "no enabled, non-guest Person record for this user"
        else:
            return True
        log.warning("bot activity from someone who is not one of the firm's people: %s", reason,
                    extra={"tenant_id": tid})
        return False

    async def _not_for_you(self, turn_context: TurnContext) -> None:
        kind = turn_context.activity.type
        if kind == ActivityTypes.invoke:
            body = {"statusCode": 403, "type": "application/vnd.microsoft.error",
                    "value": {"code": "NotEnabled", "message": NOT_FOR_YOU}}
            await turn_context.send_activity(Activity(type=ActivityTypes.invoke_response,
                                                      value=InvokeResponse(status=200, body=body)))
        elif kind in (ActivityTypes.message, ActivityTypes.conversation_update, ActivityTypes.installation_update):
            await turn_context.send_activity(NOT_FOR_YOU)

    async def _allowed(self, tid: str) -> bool:
        if tid in self.settings.allowed_tenants:
            return True
        tenant = await (await self._store()).get_tenant(tid)
        return tenant is not None and tenant.allowed and tenant.tenantId == tid

    async def _not_enabled(self, turn_context: TurnContext) -> None:
        kind = turn_context.activity.type
        if kind == ActivityTypes.invoke:
            body = {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": NOT_ENABLED}
            await turn_context.send_activity(Activity(type=ActivityTypes.invoke_response,
                                                      value=InvokeResponse(status=200, body=body)))
        elif kind in (ActivityTypes.message, ActivityTypes.conversation_update, ActivityTypes.installation_update):
            await turn_context.send_activity(NOT_ENABLED)

    # --- activities -----------------------------------------------------------------------------

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await self._remember(turn_context)
        for command in self.commands:
            if await command(turn_context, turn_context.turn_state[TENANT_KEY]):
                return
        await turn_context.send_activity(HELP)

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        await self._remember(turn_context)
        # Once, on install (Teams also sends conversationUpdate then; that one only remembers the chat).
        welcome = MessageFactory.attachment(CardFactory.adaptive_card(welcome_card(WELCOME, COMMANDS_HELP)))
        welcome.summary = WELCOME
        await turn_context.send_activity(welcome)

    async def on_members_added_activity(self, members_added: list[ChannelAccount], turn_context: TurnContext) -> None:
        bot_id = turn_context.activity.recipient.id if turn_context.activity.recipient else None
        if any(m.id == bot_id for m in members_added or []):
            await self._remember(turn_context)

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        if turn_context.activity.name != verbs.INVOKE_NAME:
            return await super().on_invoke_activity(turn_context)
        return await verbs.dispatch(turn_context, turn_context.turn_state[TENANT_KEY], self.verbs)

    async def _remember(self, turn_context: TurnContext) -> None:
        """Keep the partner's personal-chat conversation reference for proactive briefs and drafts."""
        activity = turn_context.activity
        conv_type = getattr(activity.conversation, "conversation_type", None)
        if conv_type not in (None, "personal"):
            return
        oid = (getattr(activity.from_property, "aad_object_id", None) or "").lower()
        if not _GUID.match(oid):
            return
        tid = turn_context.turn_state[TENANT_KEY]
        ref = TurnContext.get_conversation_reference(activity).serialize()
        store = await self._store()

        def change(person: Person) -> Person | None:
            if person.conversationRef == ref:
                return None
            person.conversationRef = ref
            return person

        updated = await store.update(Person, tid, oid, change)
        if updated is None and await store.get(Person, tid, oid) is None:
            log.info("bot contact from a user who is not a known person of the tenant", extra={"tenant_id": tid})

