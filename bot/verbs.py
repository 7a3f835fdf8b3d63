"""Card verbs: the `adaptiveCard/action` invoke, routed by the action's verb to a small handler.

Each card family exports its verbs as a table (`VERBS = {verb: handler}` in bot/briefs.py and
bot/followups.py); bot/routes.py merges the tables and hands them to RapportBot, which passes its
table to `dispatch`. Nothing registers itself on import. A handler gets the turn, the tenant id
the activity's Bot Framework token proved (bot/handler.py's gate) and the action's data, and
returns the InvokeResponse. The viewer is always the activity's `from.aadObjectId`, never a
value in the card's data; the tenant is never taken from data either. An unknown verb, or an
action without one, answers a 400 in Universal Actions' error shape, and changes nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from botbuilder.core import InvokeResponse, TurnContext

log = logging.getLogger("rapport.bot")

CARD = "application/vnd.microsoft.card.adaptive"
ERROR = "application/vnd.microsoft.error"
MESSAGE = "application/vnd.microsoft.activity.message"
INVOKE_NAME = "adaptiveCard/action"
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

VerbHandler = Callable[[TurnContext, str, dict[str, Any]], Awaitable[InvokeResponse]]


def viewer(turn_context: TurnContext) -> str | None:
    """The acting user's Entra object id, from the authenticated activity (lower-case GUID) or None."""
    oid = (getattr(turn_context.activity.from_property, "aad_object_id", None) or "").lower()
    return oid if _GUID.match(oid) else None


async def viewer_or_explain(turn_context: TurnContext, what: str) -> str | None:
    """The viewer's oid for a text command; None after telling them why `what` cannot be shown."""
    oid = viewer(turn_context)
    if oid is None:
        await turn_context.send_activity(f"I couldn't tell who you are, so I can't show {what}.")
    return oid


def card_response(card: dict[str, Any]) -> InvokeResponse:
    return InvokeResponse(status=200, body={"statusCode": 200, "type": CARD, "value": card})


def message_response(text: str) -> InvokeResponse:
    """Universal Actions' message answer: the client shows `text` and leaves the card as it is."""
    return InvokeResponse(status=200, body={"statusCode": 200, "type": MESSAGE, "value": text})


def error_response(status: int, message: str, code: str = "") -> InvokeResponse:
    """Universal Actions' error answer: the HTTP status stays 200, the body carries the 4xx."""
    body = {"statusCode": status, "type": ERROR, "value": {"code": code or str(status), "message": message}}
    return InvokeResponse(status=200, body=body)


async def dispatch(turn_context: TurnContext, tenant_id: str, table: Mapping[str, VerbHandler]) -> InvokeResponse:
    value = turn_context.activity.value if isinstance(turn_context.activity.value, dict) else {}
    action = value.get("action") if isinstance(value.get("action"), dict) else {}
    verb = action.get("verb")
    data = action.get("data") if isinstance(action.get("data"), dict) else {}
    fn = table.get(verb) if isinstance(verb, str) else None
    if fn is None:
        log.info("card action with an unknown verb", extra={"tenant_id": tenant_id})
        return error_response(400, "This action is not available.", "UnknownVerb")
    return await fn(turn_context, tenant_id, data)

