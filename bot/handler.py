"""The Teams/Outlook bot's turn handling: the tenant gate first, then help and conversation references.

The tenant of an activity is `conversation.tenantId` / `channelData.tenant.id` of an activity whose
Bot Framework token bot/routes.py already proved. If the two disagree, or the tenant is not allowed
(RAPPORT_ALLOWED_TENANTS or an allowed Tenant record), the bot answers that Rapport is not enabled
for the organisation and reads nothing else (RELIABILITY A10). Identity of the user is
(tenant, `from.aadObjectId`), never a name or an email from the activity.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from botbuilder.core import ActivityHandler, InvokeResponse, TurnContext
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount

from rapport.records import Person
from rapport.settings import Settings
from rapport.store import Store
from rapport.text import clean, clean_json

log = logging.getLogger("rapport.bot")

NOT_ENABLED = ("Rapport is not enabled for your organisation. "
               "If you expected it to be, ask your IT administrator to onboard your firm.")
HELP = ("I'm Rapport, your business-development desk. I'll send you meeting briefs and follow-up drafts "
        "to approve here; nothing is sent without your approval. In Outlook, open the Rapport pane to see "
        "who a sender is to the firm.")
WELCOME = "Hello! " + HELP
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TENANT_KEY = "rapport.tenant_id"

# Invoke handlers other modules register (e.g. "adaptiveCard/action" for card verbs). Each gets the
# turn and the proven tenant id, and returns the InvokeResponse.
InvokeHandler = Callable[[TurnContext, str], Awaitable[InvokeResponse]]
INVOKE_HANDLERS: dict[str, InvokeHandler] = {}


def register_invoke(name: str, handler: InvokeHandler) -> None:
    INVOKE_HANDLERS[name] = handler


def activity_tenant(activity: Activity) -> str | None:
    """The activity's tenant id, or None when absent, malformed or contradictory."""
    conv = getattr(activity.conversation, "tenant_id", None) if activity.conversation else None
    data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    tenant = data.get("tenant") if isinstance(data.get("tenant"), dict) else {}
    chan = tenant.get("id") if isinstance(tenant.get("id"), str) else None
    values = {v.strip().lower() for v in (conv, chan) if isinstance(v, str) and v.strip()}
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
    def __init__(self, settings: Settings, store: Callable[[], Awaitable[Store]]) -> None:
        self.settings = settings
        self._store = store

    async def on_turn(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        clean_activity(activity)
        tid = activity_tenant(activity)
        if tid is None or not await self._allowed(tid):
            log.warning("bot activity from a tenant that is not enabled", extra={"tenant_id": tid, "alert": True})
            await self._not_enabled(turn_context)
            return
        turn_context.turn_state[TENANT_KEY] = tid
        await super().on_turn(turn_context)

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
        if await _briefs.on_text(turn_context, turn_context.turn_state[TENANT_KEY]):  # "brief [name]"
            return
        if await _followups.on_text(turn_context, turn_context.turn_state[TENANT_KEY]):  # "my follow-ups", "follow up X"
            return
        await turn_context.send_activity(HELP)

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        await self._remember(turn_context)
        await turn_context.send_activity(WELCOME)

    async def on_members_added_activity(self, members_added: list[ChannelAccount], turn_context: TurnContext) -> None:
        bot_id = turn_context.activity.recipient.id if turn_context.activity.recipient else None
        if any(m.id == bot_id for m in members_added or []):
            await self._remember(turn_context)

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        handler = INVOKE_HANDLERS.get(turn_context.activity.name or "")
        if handler is None:
            return await super().on_invoke_activity(turn_context)
        return await handler(turn_context, turn_context.turn_state[TENANT_KEY])

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


# Last, so bot.briefs finds this module complete: it registers the brief card verbs here.
from bot import briefs as _briefs  # noqa: E402
from bot import followups as _followups  # noqa: E402 - follow-up verbs and commands
from bot import verbs as _verbs  # noqa: E402, F401 - card verbs by name (adaptiveCard/action)
