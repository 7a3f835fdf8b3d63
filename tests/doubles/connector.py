"""A Bot Connector stand-in: records the bot's outbound activities (docs/architecture.md: stand-ins replace only the far end).

Serves the Connector REST routes the bot uses (send to a conversation, reply to an activity,
update an activity) on 127.0.0.1. Each recorded call keeps the conversation id, the activity JSON
and whether a bearer token came with it (never the token itself). `fail_next` queues HTTP statuses
(429, 502 ...) to answer the next calls with, for retry tests.

`enforce_limits=True` makes it answer 429 (Retry-After: 1) like Teams does when a bot exceeds the
documented rates: per conversation thread 7/1 s, 8/2 s, 60/30 s, 1,800/h; per tenant 30/s. Time
comes from `clock` (inject the test's virtual clock); `throttled` counts the 429s it gave.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Sent:
    method: str
    conversation_id: str
    reply_to: str | None
    activity: dict[str, Any]
    authorization: str | None  # the raw header, for tests that check the bot's token audience

    @property
    def text(self) -> str:
        return str(self.activity.get("text") or "")


@dataclass
class ConnectorServer:
    sent: list[Sent] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)
    base_url: str = ""
    _runner: web.AppRunner | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    enforce_limits: bool = False
    clock: Callable[[], float] = time.monotonic
    throttled: int = 0
    _times: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    THREAD_WINDOWS = ((1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))
    TENANT_WINDOWS = ((1.0, 30),)

    def _over_limit(self, conversation_id: str, activity: dict[str, Any]) -> bool:
        conv = activity.get("conversation") or {}
        tenant = conv.get("tenantId") or ((activity.get("channelData") or {}).get("tenant") or {}).get("id") or ""
        now = self.clock()
        keys = ((("c", conversation_id), self.THREAD_WINDOWS), (("t", tenant), self.TENANT_WINDOWS))
        for key, windows in keys:
            times = self._times.setdefault(key, [])
            if any(sum(1 for t in times if t > now - span) >= limit for span, limit in windows):
                return True
        for key, _ in keys:
            self._times[key].append(now)
        return False

    async def start(self) -> ConnectorServer:
        app = web.Application()
        app.router.add_post("/v3/conversations/{cid}/activities", self._send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._send)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._send)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/"  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _send(self, request: web.Request) -> web.StreamResponse:
        if self.fail_next:
            status = self.fail_next.pop(0)
            return web.json_response({"error": {"code": "ServiceError", "message": "injected"}}, status=status,
                                     headers={"Retry-After": "1"} if status == 429 else None)
        activity = await request.json()
        if self.enforce_limits and self._over_limit(request.match_info["cid"], activity):
            self.throttled += 1
            return web.json_response({"error": {"code": "TooManyRequests", "message": "rate limited"}}, status=429,
                                     headers={"Retry-After": "1"})
        self.sent.append(Sent(request.method, request.match_info["cid"], request.match_info.get("aid"),
                              activity, request.headers.get("Authorization")))
        return web.json_response({"id": f"activity-{next(self._ids)}"})
