"""A Microsoft Graph stand-in on 127.0.0.1, serving the payload shapes of the Graph documentation.

What it serves (under /v1.0, so GRAPH_BASE_URL = http://127.0.0.1:<port>/v1.0):
- GET /users/{id}                                             user (id, displayName, userPrincipalName, mail)
- GET /users/{id}/mailboxSettings                             mailbox settings (timeZone: a Windows name)
- GET /users/{id}/messages/{mid}?$select=...                  one message, only the fields selected
  (uniqueBody and body as text under Prefer: outlook.body-content-type="text", else as HTML);
  `message_reads` lists each such read (mailbox, id, $select, Prefer); `ndr_text` writes the
  non-delivery reports of the common mail servers for `put_message`
- GET /users/{id}/mailFolders/{inbox|sentitems}/messages/delta  messages delta ($select honoured)
- GET /users/{id}/calendarView/delta?startDateTime&endDateTime  events delta (the window lives in the token)
  Delta pages carry @odata.nextLink ($skiptoken) until the last, which carries @odata.deltaLink
  ($deltatoken); Prefer: odata.maxpagesize sets the page size. Changed items come back in their
  latest state, removed ones as {"id", "@removed": {"reason": "deleted"}}. Paging is keyset over the
  change sequence, so changes made while a round is paged are never skipped: they come in the next.
- POST /subscriptions, PATCH/DELETE /subscriptions/{id}, POST /subscriptions/{id}/reauthorize;
  creating one runs Graph's validation handshake against notificationUrl and lifecycleNotificationUrl.
Faults a test can switch on: 429 + Retry-After for a mailbox (`throttle`), 410 Gone for its delta
tokens (`expire_delta`), a 4-requests-in-flight limit per mailbox that answers 429 beyond it, requests
held in flight (`hold`), a tenant whose token is refused (`revoke`).
And it calls Rapport's webhooks like Graph does: `notify`, `notify_lifecycle`, `post_notifications`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from aiohttp import ClientSession, ClientTimeout, web

CONCURRENCY_LIMIT = 4
DEFAULT_PAGE = 10


def gtime(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event_time(dt: datetime) -> dict[str, str]:
    return {"dateTime": dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


def _addr(address: str, name: str = "") -> dict[str, Any]:
    return {"emailAddress": {"name": name or address.split("@")[0].title(), "address": address}}


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")


def _unb64(token: str) -> dict[str, Any]:
    pad = "=" * (-len(token) % 4)
    return json.loads(base64.urlsafe_b64decode(token + pad))


def _parse_time(value: str) -> datetime:
    v = value.strip().replace("Z", "+00:00")
    if "." in v:  # Graph's 7-digit fractions
        head, _, tail = v.partition(".")
        frac = "".join(c for c in tail if c.isdigit())[:6]
        rest = tail[len("".join(c for c in tail if c.isdigit())):]
        v = f"{head}.{frac}{rest}"
    dt = datetime.fromisoformat(v)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass
class Mailbox:
    oid: str
    upn: str
    tenant: str
    name: str
    # collection ("inbox" | "sentitems" | "calendar") -> id -> (change seq, item or None when deleted)
    items: dict[str, dict[str, tuple[int, dict[str, Any] | None]]] = field(
        default_factory=lambda: {"inbox": {}, "sentitems": {}, "calendar": {}})
    epoch: int = 0  # bumped by expire_delta: older tokens answer 410
    time_zone: str = "UTC"  # mailboxSettings.timeZone: Graph gives Windows names ("Tokyo Standard Time")


class GraphStandIn:
    def __init__(self, *, validate_subscriptions: bool = True) -> None:
        self.mailboxes: dict[str, Mailbox] = {}
        self.seq = 0
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.validate_subscriptions = validate_subscriptions
        self.requests: list[tuple[str, str, str]] = []  # (method, path, tenant of the token)
        self.status_counts: Counter[int] = Counter()
        self.throttles: dict[str, list[float]] = {}  # mailbox oid -> Retry-After values still to answer
        self.inflight: Counter[str] = Counter()
        self.max_inflight: Counter[str] = Counter()
        self.concurrency_429s = 0
        self.hold: asyncio.Event | None = None  # when set to an unset Event, mailbox requests wait on it
        self.revoked: set[str] = set()
        self.reauthorized: list[str] = []
        self.message_reads: list[dict[str, Any]] = []  # single-message GETs: {user, id, select, prefer}
        self.forbid_bodies = False  # answer 403 to a single GET of a body field (Mail.ReadBasic only)
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    # --- life ---------------------------------------------------------------------------------

    async def start(self) -> GraphStandIn:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        r = app.router
        r.add_get("/v1.0/users/{user}", self._user)
        r.add_get("/v1.0/users/{user}/mailboxSettings", self._mailbox_settings)
        r.add_get("/v1.0/users/{user}/mailFolders/{folder}/messages/{fn}", self._message_delta)
        r.add_get("/v1.0/users/{user}/messages/{mid}", self._message)
        r.add_get("/v1.0/users/{user}/calendarView/{fn}", self._event_delta)
        r.add_post("/v1.0/subscriptions", self._create_subscription)
        r.add_patch("/v1.0/subscriptions/{sid}", self._renew_subscription)
        r.add_delete("/v1.0/subscriptions/{sid}", self._delete_subscription)
        r.add_post("/v1.0/subscriptions/{sid}/reauthorize", self._reauthorize)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/v1.0"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- ground truth, as tests shape it ------------------------------------------------------

    def add_mailbox(self, tenant: str, upn: str, name: str = "", oid: str | None = None) -> Mailbox:
        mb = Mailbox(oid=oid or str(uuid.uuid4()), upn=upn.lower(), tenant=tenant, name=name or upn.split("@")[0].title())
        self.mailboxes[mb.oid] = mb
        return mb

    def mailbox(self, user: str) -> Mailbox | None:
        mb = self.mailboxes.get(user)
        if mb is None:
            mb = next((m for m in self.mailboxes.values() if m.upn == user.lower()), None)
        return mb

    def _bump(self, mb: Mailbox, collection: str, item_id: str, item: dict[str, Any] | None) -> None:
        self.seq += 1
        mb.items[collection][item_id] = (self.seq, item)

    def put_message(
        self, mb: Mailbox, folder: str, *, sender: str, to: list[str], cc: list[str] | None = None,
        subject: str = "", at: datetime | None = None, msg_id: str | None = None, body: str = "",
        sender_name: str = "", conversation: str | None = None, reply: bool = False,
        inference: str = "focused", headers: dict[str, str] | None = None, unique_body: str | None = None,
    ) -> dict[str, Any]:
        """Create or replace a message (Graph's shape); returns it. `conversation` names its thread;
        `reply` makes its conversationIndex a reply's (22 + 5 bytes, as Outlook grows it), else a
        thread start's (22 bytes); `headers` are internetMessageHeaders (Graph sends them only when
        a single message is read with $select, so delta rounds leave them out). `unique_body`: the
        part of the body new in this message (Graph's uniqueBody; default: the whole body)."""
        at = at or datetime.now(UTC)
        mid = msg_id or f"AAMk{uuid.uuid4().hex}"
        msg = {
            "@odata.type": "#microsoft.graph.message",
            "@odata.etag": f'W/"{uuid.uuid4().hex[:16]}"',
            "id": mid,
            "subject": subject,
            "receivedDateTime": gtime(at),
            "sentDateTime": gtime(at),
            "from": _addr(sender, sender_name),
            "sender": _addr(sender, sender_name),
            "toRecipients": [_addr(a) for a in to],
            "ccRecipients": [_addr(a) for a in cc or []],
            "bccRecipients": [],
            "conversationId": conversation or f"conv-{mid[-8:]}",
            "conversationIndex": base64.b64encode(
                hashlib.sha256((conversation or mid).encode()).digest()[:22] + (b"\x00" * 5 if reply else b"")).decode(),
            "inferenceClassification": inference,
            "internetMessageHeaders": [{"name": k, "value": v} for k, v in (headers or {}).items()],
            "internetMessageId": f"<{mid}@example.test>",
            "isDraft": False,
            "isRead": False,
            "parentFolderId": f"folder-{folder}",
            "bodyPreview": body[:255],
            "body": {"contentType": "text", "content": body},
            "uniqueBody": {"contentType": "text", "content": body if unique_body is None else unique_body},
        }
        self._bump(mb, folder, mid, msg)
        return msg

    def update_message(self, mb: Mailbox, folder: str, msg_id: str, **changes: Any) -> dict[str, Any]:
        _, current = mb.items[folder][msg_id]
        assert current is not None, "message was deleted"
        msg = {**current, **changes, "@odata.etag": f'W/"{uuid.uuid4().hex[:16]}"'}
        self._bump(mb, folder, msg_id, msg)
        return msg

    def delete_item(self, mb: Mailbox, collection: str, item_id: str) -> None:
        self._bump(mb, collection, item_id, None)

    def put_event(
        self, mb: Mailbox, *, subject: str, start: datetime, minutes: int = 60, attendees: list[str] | None = None,
        organizer: str | None = None, online: bool = False, event_id: str | None = None, cancelled: bool = False,
    ) -> dict[str, Any]:
        eid = event_id or f"AAMkEv{uuid.uuid4().hex}"
        org = organizer or mb.upn
        ev = {
            "@odata.type": "#microsoft.graph.event",
            "@odata.etag": f'W/"{uuid.uuid4().hex[:16]}"',
            "id": eid,
            "subject": subject,
            "start": _event_time(start),
            "end": _event_time(start + timedelta(minutes=minutes)),
            "isAllDay": False,
            "isCancelled": cancelled,
            "isOrganizer": org.lower() == mb.upn,
            "isOnlineMeeting": online,
            "onlineMeeting": {"joinUrl": f"https://teams.example.test/l/{eid[-8:]}"} if online else None,
            "onlineMeetingProvider": "teamsForBusiness" if online else "unknown",
            "organizer": _addr(org),
            "attendees": [
                {"type": "required", "status": {"response": "none", "time": "0001-01-01T00:00:00Z"}, **_addr(a)}
                for a in attendees or []
            ],
            "type": "singleInstance",
            "seriesMasterId": None,
            "webLink": f"https://outlook.office365.com/owa/?itemid={eid}",
            "iCalUId": f"ical-{eid}",
            "bodyPreview": "",
        }
        self._bump(mb, "calendar", eid, ev)
        return ev

    def truth(self, mb: Mailbox, collection: str) -> dict[str, dict[str, Any]]:
        """What the mailbox holds now (deleted items left out)."""
        return {i: it for i, (_, it) in mb.items[collection].items() if it is not None}

    # --- faults ------------------------------------------------------------------------------

    def throttle(self, mb: Mailbox, retry_after: float = 7, times: int = 1) -> None:
        self.throttles.setdefault(mb.oid, []).extend([retry_after] * times)

    def expire_delta(self, mb: Mailbox) -> None:
        mb.epoch += 1

    def revoke(self, tenant: str) -> None:
        self.revoked.add(tenant)

    # --- HTTP plumbing ------------------------------------------------------------------------

    @staticmethod
    def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
        body = {"error": {"code": code, "message": message,
                          "innerError": {"date": gtime(datetime.now(UTC)), "request-id": str(uuid.uuid4())}}}
        return web.json_response(body, status=status, headers=headers)

    def _caller_tenant(self, request: web.Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].startswith("test-token:"):
            return None
        return auth[len("Bearer test-token:"):]

    async def _guard(self, request: web.Request, mb: Mailbox | None, handler) -> web.StreamResponse:
        tenant = self._caller_tenant(request)
        self.requests.append((request.method, request.path, tenant or ""))
        if tenant is None:
            return self._record(self._error(401, "InvalidAuthenticationToken", "Access token is empty."))
        if tenant in self.revoked:
            return self._record(self._error(401, "InvalidAuthenticationToken", "Consent revoked."))
        if mb is None:
            return self._record(self._error(404, "ErrorItemNotFound", "The mailbox was not found."))
        if mb.tenant != tenant:
            return self._record(self._error(403, "ErrorAccessDenied", "Access is denied."))
        self.inflight[mb.oid] += 1
        try:
            self.max_inflight[mb.oid] = max(self.max_inflight[mb.oid], self.inflight[mb.oid])
            if self.inflight[mb.oid] > CONCURRENCY_LIMIT:
                self.concurrency_429s += 1
                return self._record(self._error(429, "ApplicationThrottled", "Too many concurrent requests for this mailbox.",
                                                {"Retry-After": "1"}))
            pending = self.throttles.get(mb.oid)
            if pending:
                wait = pending.pop(0)
                return self._record(self._error(429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.",
                                                {"Retry-After": str(int(wait))}))
            if self.hold is not None:
                await self.hold.wait()
            return self._record(await handler())
        finally:
            self.inflight[mb.oid] -= 1

    def _record(self, response: web.StreamResponse) -> web.StreamResponse:
        self.status_counts[response.status] += 1
        return response

    # --- users -------------------------------------------------------------------------------

    async def _user(self, request: web.Request) -> web.StreamResponse:
        mb = self.mailbox(request.match_info["user"])

        async def answer() -> web.Response:
            assert mb is not None
            return web.json_response({"@odata.context": f"{self.base_url}/$metadata#users/$entity", "id": mb.oid,
                                      "displayName": mb.name, "userPrincipalName": mb.upn, "mail": mb.upn,
                                      "jobTitle": "Partner"})

        return await self._guard(request, mb, answer)

    async def _mailbox_settings(self, request: web.Request) -> web.StreamResponse:
        mb = self.mailbox(request.match_info["user"])

        async def answer() -> web.Response:
            assert mb is not None
            # The documented shape (GET /users/{id}/mailboxSettings, v1.0), trimmed of nothing Rapport reads.
            return web.json_response({
                "@odata.context": f"{self.base_url}/$metadata#users('{mb.oid}')/mailboxSettings",
                "archiveFolder": "AQMkAGI2AAAAAAEBAAAA", "timeZone": mb.time_zone,
                "automaticRepliesSetting": {"status": "disabled", "externalAudience": "all",
                                            "internalReplyMessage": "", "externalReplyMessage": ""},
                "dateFormat": "dd/MM/yyyy", "timeFormat": "HH:mm",
                "language": {"locale": "en-GB", "displayName": "English (United Kingdom)"},
                "workingHours": {"daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                                 "startTime": "08:00:00.0000000", "endTime": "17:00:00.0000000",
                                 "timeZone": {"name": mb.time_zone}},
                "userPurpose": "user", "delegateMeetingMessageDeliveryOptions": "sendToDelegateOnly"})

        return await self._guard(request, mb, answer)

    # --- one message -------------------------------------------------------------------------

    def find_message(self, mb: Mailbox, msg_id: str) -> dict[str, Any] | None:
        for folder in ("inbox", "sentitems"):
            entry = mb.items[folder].get(msg_id)
            if entry is not None and entry[1] is not None:
                return entry[1]
        return None

    async def _message(self, request: web.Request) -> web.StreamResponse:
        mb = self.mailbox(request.match_info["user"])
        mid = request.match_info["mid"]
        select = [s for s in (self._query(request, "select") or "").split(",") if s]
        prefer = request.headers.get("Prefer", "")

        async def answer() -> web.Response:
            assert mb is not None
            self.message_reads.append({"user": mb.oid, "id": mid, "select": select, "prefer": prefer})
            msg = self.find_message(mb, mid)
            if msg is None:
                return self._error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            if self.forbid_bodies and {"body", "uniqueBody", "bodyPreview"} & set(select):
                return self._error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
            text = 'outlook.body-content-type="text"' in prefer
            out: dict[str, Any] = {"@odata.context": f"{self.base_url}/$metadata#users('{mb.oid}')/messages/$entity",
                                   "@odata.etag": msg["@odata.etag"], "id": msg["id"]}
            for name in select or [k for k in msg if not k.startswith("@")]:
                value = msg.get(name)
                if name in ("body", "uniqueBody") and isinstance(value, dict):
                    content = value["content"]
                    value = ({"contentType": "text", "content": content} if text else
                             {"contentType": "html", "content": "<html><body>" + html.escape(content).replace(
                                 "\n", "<br>") + "</body></html>"})
                if name in msg:
                    out[name] = value
            return web.json_response(out)

        return await self._guard(request, mb, answer)

    # --- delta -------------------------------------------------------------------------------

    @staticmethod
    def _page_size(request: web.Request) -> int:
        for part in request.headers.get("Prefer", "").split(","):
            name, _, value = part.strip().partition("=")
            if name == "odata.maxpagesize" and value.isdigit():
                return max(1, min(1000, int(value)))
        return DEFAULT_PAGE

    @staticmethod
    def _query(request: web.Request, name: str) -> str | None:
        return request.query.get(f"${name}") or request.query.get(f"%24{name}") or request.query.get(name)

    async def _message_delta(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["fn"] not in ("delta", "delta()"):
            return self._error(404, "UnknownFunction", "no such function")
        mb = self.mailbox(request.match_info["user"])
        folder = request.match_info["folder"].lower()
        if folder not in ("inbox", "sentitems"):
            return self._error(404, "ErrorInvalidIdMalformed", "unknown folder")
        link = f"{self.base_url}/users/{quote(mb.oid if mb else '')}/mailFolders/{folder}/messages/delta()"
        sel = self._query(request, "select")
        return await self._guard(request, mb, lambda: self._delta(request, mb, folder, link, select=sel))

    async def _event_delta(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["fn"] not in ("delta", "delta()"):
            return self._error(404, "UnknownFunction", "no such function")
        mb = self.mailbox(request.match_info["user"])
        link = f"{self.base_url}/users/{quote(mb.oid if mb else '')}/calendarView/delta()"
        return await self._guard(request, mb, lambda: self._delta(request, mb, "calendar", link, select=None))

    async def _delta(self, request: web.Request, mb: Mailbox | None, collection: str, link: str, *,
                     select: str | None) -> web.Response:
        assert mb is not None
        token = self._query(request, "skiptoken") or self._query(request, "deltatoken")
        if token:
            try:
                state = _unb64(token)
            except (ValueError, json.JSONDecodeError):
                return self._error(400, "BadRequest", "malformed state token")
            if state.get("u") != mb.oid or state.get("c") != collection:
                return self._error(400, "BadRequest", "state token belongs to another collection")
            if state.get("e") != mb.epoch:
                return self._error(410, "SyncStateNotFound", "The sync state generation is no longer valid.")
            if self._query(request, "deltatoken"):  # a new round from a delta link: snapshot now
                state = {**state, "s": state["snap"], "snap": self.seq, "k": 0}
        else:
            if collection == "calendar":
                start = request.query.get("startDateTime") or request.query.get("startdatetime")
                end = request.query.get("endDateTime") or request.query.get("enddatetime")
                if not start or not end:
                    return self._error(400, "ErrorInvalidParameter", "startDateTime and endDateTime are required")
                window = [gtime(_parse_time(start)), gtime(_parse_time(end))]
            else:
                window = None
            state = {"u": mb.oid, "c": collection, "e": mb.epoch, "s": 0, "snap": self.seq, "k": 0, "w": window,
                     "sel": select.split(",") if select else None}
        since, snap, after = state["s"], state["snap"], state["k"]
        changed = sorted(
            ((seq, iid, it) for iid, (seq, it) in mb.items[collection].items() if since < seq <= snap and seq > after),
            key=lambda t: t[0],
        )
        size = self._page_size(request)
        out: list[dict[str, Any]] = []
        last = after
        for seq, iid, it in changed:
            if len(out) >= size:
                break
            last = seq
            entry = self._delta_entry(iid, it, state, full=since == 0)
            if entry is not None:
                out.append(entry)
        more = any(seq > last for seq, _, _ in changed)
        body: dict[str, Any] = {"@odata.context": f"{self.base_url}/$metadata#Collection({'event' if collection == 'calendar' else 'message'})",
                                "value": out}
        if more:
            body["@odata.nextLink"] = f"{link}?$skiptoken={_b64({**state, 'k': last})}"
        else:
            body["@odata.deltaLink"] = f"{link}?$deltatoken={_b64({**state, 'k': 0})}"
        return web.json_response(body)

    @staticmethod
    def _delta_entry(iid: str, item: dict[str, Any] | None, state: dict[str, Any], *, full: bool) -> dict[str, Any] | None:
        window = state.get("w")
        if item is not None and window:
            start = _parse_time(item["start"]["dateTime"])
            if not (_parse_time(window[0]) <= start < _parse_time(window[1])):
                item = None  # outside the calendar view: removed from the view's point of view
        if item is None:
            return None if full else {"id": iid, "@removed": {"reason": "deleted"}}
        sel = state.get("sel")
        if sel:
            keep = set(sel) | {"id", "@odata.type", "@odata.etag"}
            item = {k: v for k, v in item.items() if k in keep}
        return item

    # --- subscriptions -----------------------------------------------------------------------

    async def _create_subscription(self, request: web.Request) -> web.StreamResponse:
        tenant = self._caller_tenant(request)
        self.requests.append((request.method, request.path, tenant or ""))
        if tenant is None or tenant in self.revoked:
            return self._record(self._error(401, "InvalidAuthenticationToken", "Access token is empty or revoked."))
        body = await request.json()
        for required in ("changeType", "notificationUrl", "resource", "expirationDateTime"):
            if not body.get(required):
                return self._error(400, "InvalidRequest", f"{required} is required")
        client_state = body.get("clientState") or ""
        if len(client_state) > 128:
            return self._error(400, "InvalidRequest", "clientState is longer than 128 characters")
        resource = body["resource"].strip("/")
        parts = resource.split("/")
        mb = self.mailbox(parts[1]) if len(parts) >= 3 and parts[0].lower() == "users" else None
        if mb is None or mb.tenant != tenant:
            return self._error(403, "ExtensionError", "Operation: Create; Exception: [Access is denied.]")
        kind = parts[-1].lower()
        if self.validate_subscriptions:
            urls = [body["notificationUrl"]] + ([body["lifecycleNotificationUrl"]] if body.get("lifecycleNotificationUrl") else [])
            for url in urls:
                ok = await self.validate(url)
                if not ok:
                    return self._error(400, "ValidationError", "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.")
        sid = str(uuid.uuid4())
        sub = {
            "@odata.context": f"{self.base_url}/$metadata#subscriptions/$entity",
            "id": sid, "resource": body["resource"], "applicationId": "00000000-0000-0000-0000-0000000000aa",
            "changeType": body["changeType"], "clientState": client_state,
            "notificationUrl": body["notificationUrl"], "lifecycleNotificationUrl": body.get("lifecycleNotificationUrl"),
            "expirationDateTime": body["expirationDateTime"], "creatorId": "00000000-0000-0000-0000-0000000000bb",
            "latestSupportedTlsVersion": "v1_2", "notificationContentType": None,
            "_tenant": tenant, "_user": mb.oid, "_kind": kind,
        }
        self.subscriptions[sid] = sub
        return self._record(web.json_response({k: v for k, v in sub.items() if not k.startswith("_")}, status=201))

    async def _renew_subscription(self, request: web.Request) -> web.StreamResponse:
        tenant = self._caller_tenant(request)
        self.requests.append((request.method, request.path, tenant or ""))
        sub = self.subscriptions.get(request.match_info["sid"])
        if sub is None or sub["_tenant"] != tenant:
            return self._record(self._error(404, "ResourceNotFound", "The object was not found."))
        body = await request.json()
        if body.get("expirationDateTime"):
            sub["expirationDateTime"] = body["expirationDateTime"]
        return self._record(web.json_response({k: v for k, v in sub.items() if not k.startswith("_")}))

    async def _delete_subscription(self, request: web.Request) -> web.StreamResponse:
        tenant = self._caller_tenant(request)
        self.requests.append((request.method, request.path, tenant or ""))
        sub = self.subscriptions.get(request.match_info["sid"])
        if sub is None or sub["_tenant"] != tenant:
            return self._record(self._error(404, "ResourceNotFound", "The object was not found."))
        del self.subscriptions[request.match_info["sid"]]
        return self._record(web.Response(status=204))

    async def _reauthorize(self, request: web.Request) -> web.StreamResponse:
        tenant = self._caller_tenant(request)
        self.requests.append((request.method, request.path, tenant or ""))
        if tenant is None or tenant in self.revoked:
            return self._record(self._error(401, "InvalidAuthenticationToken", "Consent revoked."))
        sid = request.match_info["sid"]
        sub = self.subscriptions.get(sid)
        if sub is None or sub["_tenant"] != tenant:
            return self._record(self._error(404, "ResourceNotFound", "The object was not found."))
        self.reauthorized.append(sid)
        return self._record(web.Response(status=204))

    def remove_subscription(self, sid: str) -> dict[str, Any]:
        """Graph dropping a subscription on its side (then it sends subscriptionRemoved)."""
        return self.subscriptions.pop(sid)

    def subscription_for(self, mb: Mailbox, kind: str) -> dict[str, Any]:
        return next(s for s in self.subscriptions.values() if s["_user"] == mb.oid and s["_kind"] == kind)

    # --- calling Rapport like Graph does ------------------------------------------------------

    async def validate(self, url: str, token: str | None = None) -> bool:
        """Graph's handshake: POST url?validationToken=..., expect 200 text/plain echoing it within 10 s."""
        token = token or f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
        sep = "&" if "?" in url else "?"
        async with ClientSession(timeout=ClientTimeout(total=10)) as session:
            async with session.post(f"{url}{sep}validationToken={quote(token, safe='')}") as resp:
                text = await resp.text()
                return resp.status == 200 and resp.content_type == "text/plain" and text == token

    def change_item(self, sub: dict[str, Any], change_type: str, item_id: str, *, client_state: str | None = None,
                    tenant_id: str | None = None) -> dict[str, Any]:
        kind = sub["_kind"]
        odata_type = "#Microsoft.Graph.Message" if kind == "messages" else "#Microsoft.Graph.Event"
        resource = f"Users/{sub['_user']}/{'Messages' if kind == 'messages' else 'Events'}/{item_id}"
        return {
            "subscriptionId": sub["id"],
            "subscriptionExpirationDateTime": sub["expirationDateTime"],
            "changeType": change_type,
            "resource": resource,
            "resourceData": {"@odata.type": odata_type, "@odata.id": resource,
                             "@odata.etag": f'W/"{uuid.uuid4().hex[:16]}"', "id": item_id},
            "clientState": sub["clientState"] if client_state is None else client_state,
            "tenantId": sub["_tenant"] if tenant_id is None else tenant_id,
        }

    def lifecycle_item(self, sub: dict[str, Any], event: str) -> dict[str, Any]:
        item: dict[str, Any] = {
            "subscriptionId": sub["id"],
            "subscriptionExpirationDateTime": sub["expirationDateTime"],
            "tenantId": sub["_tenant"],
            "clientState": sub["clientState"],
            "lifecycleEvent": event,
        }
        if event != "missed":  # `missed` carries no resource ids
            item["resource"] = sub["resource"]
            item["resourceData"] = {"@odata.type": "#microsoft.graph.subscription",
                                    "@odata.id": f"subscriptions/{sub['id']}", "id": sub["id"]}
        return item

    async def post_notifications(self, url: str, items: list[dict[str, Any]], *, raw: bytes | None = None,
                                 session: ClientSession | None = None) -> tuple[int, float]:
        """POST a batch like Graph does; returns (status, seconds to the answer)."""
        data = raw if raw is not None else json.dumps({"value": items}).encode()
        own = session is None
        session = session or ClientSession(timeout=ClientTimeout(total=30))
        try:
            started = time.perf_counter()
            async with session.post(url, data=data, headers={"Content-Type": "application/json; charset=utf-8"}) as resp:
                await resp.read()
                return resp.status, time.perf_counter() - started
        finally:
            if own:
                await session.close()

    async def notify(self, mb: Mailbox, kind: str, change_type: str, item_id: str, **kw: Any) -> tuple[int, float]:
        sub = self.subscription_for(mb, kind)
        return await self.post_notifications(sub["notificationUrl"], [self.change_item(sub, change_type, item_id, **kw)])

    async def notify_lifecycle(self, sub: dict[str, Any], event: str) -> tuple[int, float]:
        return await self.post_notifications(sub["lifecycleNotificationUrl"], [self.lifecycle_item(sub, event)])


def ndr_text(style: str, address: str, *, reason: str = "unknown") -> str:
    """The text of a non-delivery report for `address`, as each server writes it. `style`:
    "exchange" (Exchange Online), "exchange-classic", "exim", "postfix"; `reason`: "unknown" (no
    such mailbox) or "full" (mailbox full: no sign of a move)."""
    local, _, domain = address.partition("@")
    if style == "exchange":
        why = (f"{local} wasn't found at {domain}." if reason == "unknown" else f"{local}'s mailbox is full.")
        code = "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found" if reason == "unknown" else "552 5.2.2 mailbox full"
        return (f"Your message to {address} couldn't be delivered.\n{why}\nann      Office 365      {local}\n"
                "Action Required                 Recipient\nUnknown To address\n\nHow to Fix It\nThe address may "
                "be misspelled or may not exist. Try one or more of the following:\n- Retype the recipient's "
                "address, then resend the message.\n\nMore Info for Email Admins\nStatus code: 550 5.1.1\n\n"
                f"Original Message Details\nRecipient Address: {address}\n\nError Details\nReported error: {code}\n"
                "\nMessage Hops\nHOP  TIME (UTC)  FROM  TO  WITH  RELAY TIME\n1  10.4.1.20  mail.protection.outlook.com")
    if style == "exchange-classic":
        return (f"Delivery has failed to these recipients or groups:\n\n{address} ({address})\nThe e-mail address "
                "you entered couldn't be found. Please check the recipient's e-mail address and try to resend the "
                "message.\n\nDiagnostic information for administrators:\n"
                f"Generating server: mail.firm.test\n{address}\n#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##")
    if style == "exim":
        return ("This message was created automatically by mail delivery software.\n\nA message that you sent could "
                "not be delivered to one or more of its\nrecipients. This is a permanent error. The following "
                f"address(es) failed:\n\n  {address}\n    SMTP error from remote mail server after RCPT TO:<{address}>:\n"
                f"    550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox table")
    if style == "postfix":
        return ("This is the mail system at host mx.firm.test.\n\nI'm sorry to have to inform you that your message "
                "could not\nbe delivered to one or more recipients. It's attached below.\n\n"
                "For further assistance, please send mail to postmaster.\n\nIf you do so, please include this "
                "problem report. You can\ndelete your own text from the attached returned message.\n\n"
                "                   The mail system\n\n"
                f"<{address}>: host mx.{domain}[192.0.2.1] said: 550 5.1.1 <{address}>: Recipient\n"
                "    address rejected: User unknown (in reply to RCPT TO command)")
    raise ValueError(f"unknown NDR style {style!r}")
