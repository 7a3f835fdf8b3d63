"""A Graph mail stand-in on 127.0.0.1: create a message, send it, find it by Rapport's key.

Serves (under /v1.0, so GRAPH_BASE_URL = http://127.0.0.1:<port>/v1.0), in Graph's documented shapes:
- POST /users/{id}/messages                       create a draft (201, the message with its id)
- POST /users/{id}/messages/{mid}/send            send it (202, no body); the draft becomes sent
- GET  /users/{id}/messages?$filter=singleValueExtendedProperties/Any(ep: ep/id eq '<prop>' and
       ep/value eq '<key>')&$select=...        find messages carrying that extended property value
Tokens: "Bearer test-token:<tenant>" (the graph plugin's FakeGraphTokens); a mailbox of another
tenant answers 404, as Graph does for a user it cannot see.

Faults on /send, one per call from `send_faults` (then normal):
- "503"      answer 503 + Retry-After, nothing sent
- "503-sent" send, then answer 503 (the ambiguous case)
- "reset"    send ("accepted"), then drop the connection before any answer
- "timeout"  send, then hold the answer until `release` is set (the client's timeout fires)
- "403"      answer 403 ErrorAccessDenied (Mail.Send not granted for the mailbox)
`sent` lists every message that really left (what a recipient would receive).
"""

from __future__ import annotations

import asyncio
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_KEY = re.compile(r"ep/id eq '([^']*)' and ep/value eq '([^']*)'", re.IGNORECASE)


@dataclass
class GraphMailStandIn:
    mailboxes: dict[str, str] = field(default_factory=dict)  # user id -> tenant
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # message id -> message (+ "_user")
    sent: list[dict[str, Any]] = field(default_factory=list)
    send_faults: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    prefer: list[str] = field(default_factory=list)  # each request's Prefer header
    release: asyncio.Event = field(default_factory=asyncio.Event)
    base_url: str = ""
    _runner: web.AppRunner | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    async def start(self) -> GraphMailStandIn:
        app = web.Application()
        app.router.add_post("/v1.0/users/{user}/messages", self._create)
        app.router.add_get("/v1.0/users/{user}/messages", self._list)
        app.router.add_post("/v1.0/users/{user}/messages/{mid}/send", self._send)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/v1.0"  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def add_mailbox(self, tenant: str, user: str) -> None:
        self.mailboxes[user.lower()] = tenant

    def sent_with_key(self, key: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if _key_of(m) == key]

    # --- handlers ---------------------------------------------------------------------------------

    @staticmethod
    def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
        return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)

    def _gate(self, request: web.Request) -> web.Response | str:
        self.requests.append((request.method, request.path))
        self.prefer.append(request.headers.get("Prefer", ""))
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer test-token:"):
            return self._error(401, "InvalidAuthenticationToken", "Access token is empty.")
        tenant = auth[len("Bearer test-token:"):]
        user = request.match_info["user"].lower()
        if self.mailboxes.get(user) != tenant:
            return self._error(404, "ErrorInvalidUser", "The requested user is invalid.")
        return user

    async def _create(self, request: web.Request) -> web.StreamResponse:
        user = self._gate(request)
        if isinstance(user, web.Response):
            return user
        body = await request.json()
        mid = f"AAMk-{next(self._ids)}"
        msg = {**body, "id": mid, "isDraft": True, "sentDateTime": None, "_user": user}
        for h in body.get("internetMessageHeaders") or []:
            if not str(h.get("name", "")).lower().startswith("x-"):
                return self._error(400, "InvalidInternetMessageHeader", "Custom headers must start with x-.")
        self.messages[mid] = msg
        return web.json_response({k: v for k, v in msg.items() if not k.startswith("_")}, status=201)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        user = self._gate(request)
        if isinstance(user, web.Response):
            return user
        m = _KEY.search(request.query.get("$filter", ""))
        if m is None:
            return self._error(400, "BadRequest", "only the extended-property filter is served here")
        prop, value = m.group(1), m.group(2)
        found = [msg for msg in self.messages.values() if msg["_user"] == user and any(
            p.get("id", "").lower() == prop.lower() and p.get("value") == value
            for p in msg.get("singleValueExtendedProperties") or [])]
        return web.json_response({"value": [{"id": f["id"], "isDraft": f["isDraft"], "sentDateTime": f["sentDateTime"]}
                                            for f in found]})

    async def _send(self, request: web.Request) -> web.StreamResponse:
        user = self._gate(request)
        if isinstance(user, web.Response):
            return user
        msg = self.messages.get(request.match_info["mid"])
        if msg is None or msg["_user"] != user:
            return self._error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        fault = self.send_faults.pop(0) if self.send_faults else None
        if fault == "503":
            return self._error(503, "ServiceUnavailable", "Service unavailable.", headers={"Retry-After": "2"})
        if fault == "403":
            return self._error(403, "ErrorAccessDenied", "Access is denied.")
        if not msg["isDraft"]:
            # Graph cannot send a sent item again; a second /send is a bug on our side.
            return self._error(400, "ErrorInvalidOperation", "The message was already sent.")
        msg["isDraft"] = False
        msg["sentDateTime"] = "2026-01-05T09:00:00Z"
        if 'IdType="ImmutableId"' not in request.headers.get("Prefer", ""):
            # As Exchange does: the item moves to Sent Items under a new id, unless ids are immutable.
            old_id = msg["id"]
            msg["id"] = f"AAMk-sent-{next(self._ids)}"
            self.messages[msg["id"]] = self.messages.pop(old_id)
        self.sent.append(msg)
        if fault == "503-sent":
            return self._error(503, "ServiceUnavailable", "Service unavailable.", headers={"Retry-After": "2"})
        if fault == "reset":
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError("accepted, then the connection dropped")
        if fault == "timeout":
            await self.release.wait()
        return web.Response(status=202)


def _key_of(msg: dict[str, Any]) -> str | None:
    for h in msg.get("internetMessageHeaders") or []:
        if str(h.get("name", "")).lower() == "x-rapport-key":
            return str(h.get("value"))
    return None
