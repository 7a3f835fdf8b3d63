"""POST /api/messages: the Bot Framework endpoint (Teams, Outlook actionable messages).

Order: size/shape of the body (413/415/400, cheap, before any crypto), then authentication
(bot/adapter.py; any failure 403, docs/reliability.md section 1; keys unreachable 503), then the turn
(bot/handler.py: the tenant gate, then the activity). Nothing is read or sent before the token is
proven.

The bot is composed here, and only here, as the BotBuilder samples' app.py composes theirs: the
adapter from the process settings (and runtime.services().bot_keys when given), RapportBot with the
card verbs of bot/briefs.py and bot/followups.py as one table and their text commands in order, and
the proactive senders on that same adapter (`teams_brief_sender`, `teams_card_delivery`, which
function_app's wiring hands to rapport through runtime.provide). All of it is made on first use and
kept while the process's services stay the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from botbuilder.schema import Activity

from bot import briefs, followups, metrics, pipeline, relationships
from bot.adapter import BotAuthError, BotConfigError, RapportBotAuthentication, make_adapter
from bot.briefs import TeamsBriefSender
from bot.followups import TeamsCardDelivery
from bot.handler import RapportBot
from bot.pacing import shared_pacer
from rapport import runtime
from rapport.identity.keys import KeysUnavailable
from rapport.settings import Settings
from rapport.web import Answer, ApiError, Request, parse_json_body

log = logging.getLogger("rapport.bot")

MAX_ACTIVITY_BYTES = 256 * 1024  # Teams activities are a few KB; cards submitted back stay small


# Every card verb the bot answers, by name (bot/verbs.py dispatches adaptiveCard/action on it), and
# the text commands, tried in this order before the help text.
VERBS = {**briefs.VERBS, **followups.VERBS, **pipeline.VERBS, **metrics.VERBS, **relationships.VERBS}
COMMANDS = (briefs.on_text,  # "brief [name or company]"
            followups.on_text,  # "my follow-ups", "follow up <name>"
            pipeline.on_text)  # "my pipeline", "mark <name> instructed", "new enquiry from <email>"


def make_bot(settings: Settings) -> RapportBot:
    """The activity handler, with this process's store, verbs and commands."""
    return RapportBot(settings, runtime.store, verbs=VERBS, commands=COMMANDS)


@dataclass
class _Bot:
    settings: Settings
    adapter: Any
    auth: RapportBotAuthentication
    bot: RapportBot


def _make(settings: Settings) -> _Bot:
    adapter, auth = make_adapter(settings, keys=runtime.services().bot_keys)
    return _Bot(settings, adapter, auth, make_bot(settings))


def current() -> _Bot:
    """The adapter, its authentication and the bot, made on first use for the process's services."""
    settings = runtime.settings()
    return runtime.services().once("bot", lambda: _make(settings))


def teams_brief_sender(settings: Settings) -> TeamsBriefSender:
    """Briefs to Teams on the bot's own adapter (runtime.services().teams_briefs, function_app's wiring)."""
    b = current()
    return TeamsBriefSender(b.adapter, b.auth, settings.bot_app_id, pacer=shared_pacer())


def teams_card_delivery(settings: Settings) -> TeamsCardDelivery:
    """Follow-up cards to Teams on the bot's own adapter (runtime.services().teams_cards)."""
    b = current()
    return TeamsCardDelivery(b.adapter, b.auth, settings.bot_app_id, pacer=shared_pacer())


async def messages(request: Request) -> Answer:
    try:
        b = current()
    except BotConfigError as exc:
        raise ApiError(503, str(exc)) from None
    body = parse_json_body(request.body, request.header("content-type"), max_bytes=MAX_ACTIVITY_BYTES)
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a Bot Framework activity (a JSON object)")
    try:
        activity = Activity().deserialize(body)
    except Exception:  # noqa: BLE001 - msrest raises several types for a malformed activity
        raise ApiError(400, "the request body is not a valid Bot Framework activity") from None
    if not activity.type:
        raise ApiError(400, "the activity has no type")
    try:
        result = await b.auth.authenticate_request(activity, request.header("authorization"))
    except KeysUnavailable:
        raise ApiError(503, "the Bot Framework signing keys are unreachable; try again shortly",
                       headers={"retry-after": "30"}) from None
    except BotAuthError as exc:
        log.info("bot request refused: %s", exc, extra={"correlation_id": request.correlation_id})
        raise ApiError(403, "the request is not an authenticated Bot Framework call") from None
    except Exception as exc:  # noqa: BLE001 - botbuilder signals every auth failure as some exception
        log.info("bot request refused by botbuilder: %s", type(exc).__name__,
                 extra={"correlation_id": request.correlation_id})
        raise ApiError(403, "the request is not an authenticated Bot Framework call") from None
    try:
        await b.auth.warm_outbound_token()
    except Exception as exc:  # noqa: BLE001 - msal/requests failures: the channel retries later
        log.warning("the bot cannot get its own token: %s", type(exc).__name__,
                    extra={"correlation_id": request.correlation_id})
        raise ApiError(503, "the bot cannot reach its token service right now; try again shortly",
                       headers={"retry-after": "30"}) from None
    invoke = await b.adapter.process_activity(result, activity, b.bot.on_turn)
    if invoke is not None:
        return Answer(invoke.status or 200, invoke.body)
    return Answer(200, None)
