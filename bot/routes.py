"""POST /api/messages: the Bot Framework endpoint (Teams, Outlook actionable messages).

Order: size/shape of the body (413/415/400, cheap, before any crypto), then authentication
(bot/adapter.py; any failure 403, RELIABILITY section 1; keys unreachable 503), then the turn
(bot/handler.py: the tenant gate, then the activity). Nothing is read or sent before the token is
proven. The adapter is made on first use from the process settings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from botbuilder.schema import Activity

from bot.adapter import BotAuthError, BotConfigError, RapportBotAuthentication, make_adapter
from bot.handler import RapportBot
from rapport import runtime
from rapport.identity.keys import KeySet, KeysUnavailable
from rapport.settings import Settings
from rapport.web import Answer, ApiError, Request, parse_json_body

log = logging.getLogger("rapport.bot")

MAX_ACTIVITY_BYTES = 256 * 1024  # Teams activities are a few KB; cards submitted back stay small


@dataclass
class _Bot:
    settings: Settings
    adapter: Any
    auth: RapportBotAuthentication
    bot: RapportBot


_bot: _Bot | None = None


def reset() -> None:
    """Forget the adapter (tests; settings changed)."""
    global _bot
    _bot = None


def install(settings: Settings, *, keys: KeySet | None = None) -> _Bot:
    """Make the adapter now for these settings (tests pass a key set with an injected clock)."""
    global _bot
    adapter, auth = make_adapter(settings, keys=keys)
    _bot = _Bot(settings, adapter, auth, RapportBot(settings, runtime.store))
    return _bot


def current() -> _Bot:
    global _bot
    settings = runtime.settings()
    if _bot is None or _bot.settings is not settings:
        adapter, auth = make_adapter(settings)
        _bot = _Bot(settings, adapter, auth, RapportBot(settings, runtime.store))
    return _bot


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
