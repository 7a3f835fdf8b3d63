"""A fault-injecting HTTPS reverse proxy in front of the local Cosmos server (docs/reliability.md section 8).

Rapport's real azure-cosmos client talks to the proxy as if it were Cosmos DB; the proxy forwards to
the local server and can, per matching request: answer 429 with `x-ms-retry-after-ms`, answer 503
(before forwarding, or *after* forwarding so the write lands and only its answer is lost), add
latency, or reset the connection. It records every request it sees (method, path, partition-key
header, and the SQL text and parameters of queries) so tests can assert on what the client sent.

It runs its own event loop in a daemon thread, so one proxy serves tests on any event loop.
The database-account answer (GET /) names the server's own address as the endpoint to use; the
proxy rewrites it to its own, or the SDK's endpoint discovery would route around the proxy.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

from tests.doubles.cosmos_server import CERT, KEY

_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"}


@dataclass
class Seen:
    """One request as the proxy saw it."""

    method: str
    path: str
    kind: str  # "query" | "write" | "read" | "meta"
    partition_key: str | None
    query: dict[str, Any] | None  # {"query": sql, "parameters": [...]} for queries
    at: float  # time.monotonic() when it arrived
    status: int | None = None  # what the client got (None: connection reset)
    fault: str | None = None

    @property
    def sql(self) -> str:
        return (self.query or {}).get("query", "")

    @property
    def parameters(self) -> dict[str, Any]:
        return {p.get("name"): p.get("value") for p in (self.query or {}).get("parameters", [])}


@dataclass
class Fault:
    """What to do to matching requests. `times=None` means every match until cleared."""

    action: str  # "status" | "latency" | "reset"
    status: int = 503
    retry_after_ms: int | None = None
    delay_s: float = 0.0
    after_forward: bool = False
    times: int | None = 1
    kind: str | None = None  # match only this kind of request
    method: str | None = None
    path: str | None = None  # regex searched in the path
    match: Callable[[Seen], bool] | None = None
    hits: int = field(default=0)

    def matches(self, seen: Seen) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.kind and seen.kind != self.kind:
            return False
        if self.method and seen.method != self.method.upper():
            return False
        if self.path and not re.search(self.path, seen.path):
            return False
        return self.match is None or bool(self.match(seen))


def _kind(request: web.Request) -> str:
    if request.headers.get("x-ms-documentdb-isquery", "").lower() == "true" or request.content_type in (
        "application/query+json", "application/sql",
    ):
        return "query"
    if "/docs" not in request.path:
        return "meta"
    return "read" if request.method in ("GET", "HEAD") else "write"


def _partition(request: web.Request) -> str | None:
    raw = request.headers.get("x-ms-documentdb-partitionkey")
    if not raw:
        return None
    try:
        value = json.loads(raw)
        return str(value[0]) if isinstance(value, list) and value else str(value)
    except ValueError:
        return raw


class FaultProxy:
    def __init__(self, upstream: str, host: str = "127.0.0.1") -> None:
        self.upstream = upstream.rstrip("/")
        self.host = host
        self.port: int | None = None
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._seen: list[Seen] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None

    @property
    def endpoint(self) -> str:
        return f"https://{self.host}:{self.port}/"

    # --- control (thread-safe) ---------------------------------------------------------------

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def throttle(self, retry_after_ms: int, *, times: int = 1, **match: Any) -> Fault:
        return self.add(Fault("status", status=429, retry_after_ms=retry_after_ms, times=times, **match))

    def unavailable(self, *, after_forward: bool = False, times: int | None = 1, **match: Any) -> Fault:
        return self.add(Fault("status", status=503, after_forward=after_forward, times=times, **match))

    def latency(self, delay_s: float, *, times: int | None = None, **match: Any) -> Fault:
        return self.add(Fault("latency", delay_s=delay_s, times=times, **match))

    def reset(self, *, after_forward: bool = False, times: int | None = 1, **match: Any) -> Fault:
        return self.add(Fault("reset", after_forward=after_forward, times=times, **match))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def forget(self) -> None:
        with self._lock:
            self._seen.clear()

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def queries(self) -> list[Seen]:
        return [s for s in self.seen if s.kind == "query"]

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cosmos-fault-proxy", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._stop(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=10)
            loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _start(self) -> None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(str(CERT), str(KEY))
        self._session = ClientSession(
            connector=TCPConnector(ssl=False, limit=64), timeout=ClientTimeout(total=120), auto_decompress=False
        )
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0, ssl_context=tls)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    # --- the proxy ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        kind = _kind(request)
        query = None
        if kind == "query":
            try:
                query = json.loads(body or b"{}")
            except ValueError:
                query = {"query": body.decode("utf-8", "replace"), "parameters": []}
        seen = Seen(request.method, request.path, kind, _partition(request), query, time.monotonic())
        with self._lock:
            self._seen.append(seen)
            fault = next((f for f in self._faults if f.matches(seen)), None)
            if fault is not None:
                fault.hits += 1
        if fault is not None and fault.action == "latency":
            seen.fault = "latency"
            await asyncio.sleep(fault.delay_s)
            fault = None
        if fault is not None and not fault.after_forward:
            return self._inject(request, seen, fault)
        status, headers, payload = await self._forward(request, body)
        if fault is not None:
            return self._inject(request, seen, fault)
        seen.status = status
        return web.Response(status=status, headers=headers, body=payload)

    async def _forward(self, request: web.Request, body: bytes) -> tuple[int, dict[str, str], bytes]:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        url = self.upstream + request.rel_url.raw_path_qs
        async with self._session.request(request.method, url, headers=headers, data=body,
                                         allow_redirects=False) as r:
            payload = await r.read()
            out = {k: v for k, v in r.headers.items() if k.lower() not in _HOP}
            status = r.status
        if request.method == "GET" and request.path == "/":
            # The account's endpoints name the server; name the proxy so the SDK keeps using it.
            up = self.upstream.split("://", 1)[1]
            payload = payload.replace(up.encode(), f"{self.host}:{self.port}".encode())
        return status, out, payload

    def _inject(self, request: web.Request, seen: Seen, fault: Fault) -> web.StreamResponse:
        if fault.action == "reset":
            seen.fault = "reset"
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError("injected reset")
        seen.fault = f"status {fault.status}"
        seen.status = fault.status
        headers = {"x-ms-activity-id": "00000000-0000-0000-0000-000000000000", "x-ms-substatus": "0"}
        if fault.retry_after_ms is not None:
            headers["x-ms-retry-after-ms"] = str(fault.retry_after_ms)
        code = {429: "TooManyRequests", 503: "ServiceUnavailable"}.get(fault.status, "Error")
        return web.json_response({"code": code, "message": f"injected {fault.status}"}, status=fault.status,
                                 headers=headers)
