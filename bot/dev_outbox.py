"""POST /dev/outbox/action: a button on a card in the local outbox, pressed as the partner it went to.

The demo has no Teams, so /dev/outbox (local/outbox_page.py) renders the cards itself and posts their
Action.Execute here as {outboxId, verb, data, inputs}. This route turns that into the
`adaptiveCard/action` invoke Teams would send and runs it through the bot's own turn
(`RapportBot.on_turn`: the tenant gate, then bot/verbs.py's dispatch to the same verb handlers),
so approval, editing, snoozing and briefs behave exactly as in Teams; there is no second
implementation of any of them. Only the Bot Framework token check is skipped, which is why:

- the route is absent unless rapport.identity.dev.dev_route_open holds (RAPPORT_DEV_AUTH=1, a loopback
  bind declared by this process, which Azure never does, and a loopback Host: no DNS rebinding); it
  wants a JSON content type and, when the browser sends one, a loopback Origin (so another web page
  cannot post a plain form to it). Otherwise: 404, as if it did not exist;
- who acts is not taken from the request: it is the item's recipient, the Person of the item's
  tenant the card was delivered to (the viewer a real invoke carries in `from.aadObjectId`);
- the action may only name what the delivered card names (its draft or meeting id); a forged or
  unknown outboxId, or data naming anything else, answers 404.

Answer: {"card": the refreshed card} (the page re-renders it in place), or the error's status.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any
from urllib.parse import urlsplit

from botbuilder.core import BotAdapter, TurnContext
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationAccount, ResourceResponse

from bot import verbs
from bot.routes import make_bot
from rapport import local_outbox, runtime
from rapport.identity import dev
from rapport.web import Answer, ApiError, Request, parse_json_body

log = logging.getLogger("rapport.bot")

MAX_BODY = 32 * 1024  # a card's inputs: a subject and a body of a follow-up
NOT_FOUND = "no such card in the local outbox"


class _LocalTurnAdapter(BotAdapter):
    """A turn with no channel behind it: the invoke's answer is all that comes back.

    The card verbs only answer; anything a handler tried to post besides is dropped and logged."""

    async def send_activities(self, context: TurnContext, activities: list[Activity]) -> list[ResourceResponse]:
        for a in activities:
            if a.type == ActivityTypes.invoke_response:
                context.turn_state[TurnContext._INVOKE_RESPONSE_KEY] = a  # as BotFrameworkAdapter keeps it
            else:
                log.info("dev outbox: a card verb posted a %s activity; the local outbox drops it", a.type)
        return [ResourceResponse(id=uuid.uuid4().hex) for _ in activities]

    async def update_activity(self, context: TurnContext, activity: Activity) -> ResourceResponse:
        raise NotImplementedError("the local outbox has no chat to update")

    async def delete_activity(self, context: TurnContext, reference: Any) -> None:
        raise NotImplementedError("the local outbox has no chat to delete from")


def invoke_activity(tenant_id: str, oid: str, name: str, verb: str, data: dict[str, Any]) -> Activity:
    """The `adaptiveCard/action` invoke Teams would send for this button, from this partner."""
    return Activity(
        type=ActivityTypes.invoke, name=verbs.INVOKE_NAME, id=uuid.uuid4().hex, channel_id="msteams",
        service_url="http://127.0.0.1/dev/outbox",  # never called: the adapter above sends nothing
        from_property=ChannelAccount(id=f"29:dev-{oid}", name=name, aad_object_id=oid),
        recipient=ChannelAccount(id="28:rapport-dev", name="Rapport"),
        conversation=ConversationAccount(id=f"dev-outbox:{oid}", conversation_type="personal", tenant_id=tenant_id),
        channel_data={"tenant": {"id": tenant_id}},
        value={"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"},
    )


async def run_invoke(activity: Activity) -> dict[str, Any]:
    """Run the activity through the bot's turn; the invoke response's body."""
    bot = make_bot(runtime.settings())
    context = TurnContext(_LocalTurnAdapter(), activity)
    await bot.on_turn(context)
    sent = context.turn_state.get(TurnContext._INVOKE_RESPONSE_KEY)
    response = getattr(sent, "value", None)
    body = getattr(response, "body", None)
    if not isinstance(body, dict):
        raise ApiError(501, "this card action has no answer")
    return body


def _merged(data: Any, inputs: Any) -> dict[str, Any]:
    # Teams sends the action's data with the card's input values merged in (Universal Actions).
    out = dict(data) if isinstance(data, dict) else {}
    if isinstance(inputs, dict):
        out.update({k: v for k, v in inputs.items() if isinstance(k, str) and isinstance(v, str)})
    return out


@dev.dev_only
async def outbox_action(request: Request) -> Answer:
    origin = request.header("origin")
    if origin and not dev.loopback_host(urlsplit(origin).netloc):
        raise ApiError(403, "cross-origin requests are refused")
    ctype = request.header("content-type") or ""
    if "json" not in ctype.lower():  # a JSON type needs a CORS preflight, which nothing here answers
        raise ApiError(415, "request body must be application/json")
    body = parse_json_body(request.body, ctype, max_bytes=MAX_BODY)
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object {outboxId, verb, data, inputs}")
    verb = body.get("verb")
    if not isinstance(verb, str) or not verb or len(verb) > 64:
        raise ApiError(400, "verb must be a card action's verb")
    store = await runtime.store()
    item = await local_outbox.find_item(store, body.get("outboxId"))
    if item is None or not item.card or not item.to:
        raise ApiError(404, NOT_FOUND)
    data = _merged(body.get("data"), body.get("inputs"))
    named = {(k, str(data[k]) if isinstance(data[k], str) else None) for k in local_outbox.REF_KEYS if k in data}
    if not named or not named <= local_outbox.card_refs(item.card):
        raise ApiError(404, NOT_FOUND)  # the action names something this card is not about
    person = await store.person_by_upn(item.tenantId, item.to[0])
    if person is None:
        raise ApiError(404, NOT_FOUND)
    answer = await run_invoke(invoke_activity(item.tenantId, person.oid, person.name, verb, data))
    status = answer.get("statusCode")
    value = answer.get("value")
    if answer.get("type") == verbs.CARD and isinstance(value, dict):
        log.info("dev outbox: %s on a card, as its partner", verb, extra={"tenant_id": item.tenantId})
        return Answer(200, {"card": value, "outboxId": item.id})
    if answer.get("type") == verbs.ERROR and isinstance(status, int) and 400 <= status < 500:
        message = value.get("message") if isinstance(value, dict) else None
        raise ApiError(status, str(message or "this action was refused"))
    if isinstance(value, str):  # a text answer (e.g. the tenant gate's "not enabled")
        raise ApiError(403, value[:300])
    raise ApiError(502, "the card action gave no card back")
