"""`rapport serve`: function_app's triggers on aiohttp and asyncio, where Core Tools are absent.

One list of triggers, two hosts (docs/architecture.md, "The trigger list and its two hosts"): this host reads the same FunctionApp Azure runs
(`app.get_functions()`), serves each httpTrigger at the path Azure would (host.json's routePrefix +
route), converting aiohttp requests to azure.functions.HttpRequest and HttpResponse back, and runs
each timerTrigger on asyncio at its NCRONTAB schedule (local/timers.py), and, when a work queue is
configured (RAPPORT_WORK_QUEUE), each queueTrigger from the real Storage queue (local/queues.py). End-to-end
tests start `DevHost`, so they exercise exactly the triggers Azure runs.

The task pane's files (/addin/*) come from function_app's own trigger, as on Azure. Besides the
triggers this host serves /dev/outbox: the mail and Teams messages the embedded default "sent" (it
never mails anyone), under the rule of every /dev/* route (rapport.identity.dev.dev_route_open:
RAPPORT_DEV_AUTH=1, a loopback bind, a loopback Host; else 404). Errors it makes itself (unknown
route, wrong method, body too large) have the same JSON shape as function_app's `_http` errors, with
a correlation id. Its log lines name a request by method and path only: no query string (it can
carry an address or a token), no control characters, not even from a request it cannot parse.

This is the one module that imports function_app; like all of local/, it is never deployed.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import importlib
import json
import logging
import re
import signal
import sys
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote, urlsplit

import azure.functions as func
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from local import outbox_page
from local.demo import DEMO_TENANT_ID, seed_demo
from local.ncrontab import CronError, parse
from local.queues import QueueOptions, QueueRunner, QueueTrigger, QueueUnavailable
from local.timers import Clock, Sleep, TimerRunner, TimerTrigger, call, fire
from rapport import __version__, local_outbox, runtime, work_queue
from rapport.identity.dev import check_bind, dev_route_open, is_loopback
from rapport.records import utcnow
from rapport.settings import Settings
from rapport.store import Store, StoreUnavailable, make_store
from rapport.web import ApiError, error_answer, new_correlation_id, refusal

log = logging.getLogger("rapport.devhost")

MAX_BODY = 1024 * 1024  # what the host accepts at all; routes parse JSON with their own smaller cap


# --- finding function_app -------------------------------------------------------------------

def repo_root() -> Path:
    """The checkout holding function_app.py: beside the local package (editable install, as
    scripts/setup makes it), else the current directory (`rapport serve` run from a clone)."""
    beside = Path(__file__).resolve().parents[1]
    if (beside / "function_app.py").is_file():
        return beside
    return Path.cwd()


def load_function_app() -> ModuleType:
    """Import the repo's top-level function_app module, whichever way rapport was started.

    The console script's sys.path holds the venv, not the checkout, so the checkout goes on it.
    """
    root = str(repo_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        return importlib.import_module("function_app")
    except ModuleNotFoundError as exc:
        if exc.name != "function_app":
            raise
        raise SystemExit(f"rapport: cannot find function_app.py (looked in {root}); run from the repo root") from None


def route_prefix(root: Path | None = None) -> str:
    """host.json's extensions.http.routePrefix, as Azure applies it (default "api")."""
    try:
        cfg = json.loads(((root or repo_root()) / "host.json").read_text(encoding="utf-8"))
        prefix = cfg.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    except (OSError, ValueError, AttributeError):
        prefix = "api"
    return str(prefix).strip("/")


# --- logging ---------------------------------------------------------------------------------

class _LogFormat(logging.Formatter):
    """One line per event: time, level, logger, message, then tenant and correlation id if known."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{self.formatTime(record)} {record.levelname} {record.name}: {record.getMessage()}"
        for attr, label in (("tenant_id", "tenant"), ("correlation_id", "cid")):
            value = getattr(record, attr, None)
            if value:
                line += f" {label}={value}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test runners swap it per test)."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: D401
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


_VISIBLE = "!\"#$%&'()*+,/:;<=>?@[\\]^`{|}"  # with letters, digits and -._~: every visible ASCII character
LOG_FIELD_LIMIT = 200


def log_field(value: str, limit: int = LOG_FIELD_LIMIT) -> str:
    """A request's method or path as one log field: anything but visible ASCII percent-escaped (so no
    control character can end the line, forge the next one or repaint a terminal), cut at `limit`."""
    out = quote(value, safe=_VISIBLE, errors="backslashreplace")
    return out if len(out) <= limit else out[:limit] + "...(cut)"


_QUOTED_BYTES = re.compile(r"b'(?:[^'\\]|\\.)*'" + r'|b"(?:[^"\\]|\\.)*"')  # b'...' as repr() writes bytes
_REQUEST_LINE = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}) +([^ ?#]*)")


def _request_line(exc: HttpProcessingError) -> tuple[str, str]:
    """Method and path of the request line an aiohttp parse error quotes, or ("-", "-").

    The parser's message quotes the offending bytes (a request line, or a header line, which is not
    shown); what follows the path (query, fragment, version) is dropped before anything is kept."""
    texts = [a for a in (*exc.args, exc.message) if isinstance(a, str | bytes)]
    for text in texts:
        candidates: list[str | bytes] = [text]
        if isinstance(text, str):
            candidates[:0] = _QUOTED_BYTES.findall(text)
        for c in candidates:
            if isinstance(c, str) and c.startswith(("b'", 'b"')):
                try:
                    c = ast.literal_eval(c)
                except (ValueError, SyntaxError):
                    continue
            line = c.decode("latin-1") if isinstance(c, bytes) else c
            m = _REQUEST_LINE.match(line)
            if m and m[2].startswith(("/", "*", "http://", "https://")):
                return log_field(m[1], 32), log_field(m[2].split("://", 1)[-1] if "://" in m[2] else m[2])
    return "-", "-"


class _BadRequestFilter(logging.Filter):
    """aiohttp logs a request it cannot parse with the raw bytes, query string and all, in a traceback
    (`Error handling request`). Such a record becomes one line: method, path, status, the error's kind."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            method, path = _request_line(exc)
            record.msg, record.args = "bad request %s %s: %s %s", (method, path, exc.code, type(exc).__name__)
            record.exc_info, record.exc_text = None, None
            if record.levelno > logging.WARNING:  # the client's mistake, not ours
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


# What aiohttp's protocol logs through (its `logger`), so nothing of a bad request line passes unfiltered.
_server_log = logging.getLogger("rapport.devhost.server")
_server_log.addFilter(_BadRequestFilter())


def configure_logging(level: int = logging.INFO) -> None:
    """One line per event on stderr, once per process (the CLI commands call it at start-up)."""
    root = logging.getLogger()
    if any(isinstance(h, _StderrHandler) for h in root.handlers):
        return
    handler = _StderrHandler()
    handler.setFormatter(_LogFormat())
    root.addHandler(handler)
    root.setLevel(level)
    # Client libraries log request details (headers, URLs) at INFO/DEBUG: keep them to warnings.
    for noisy in ("azure", "msal", "urllib3", "httpx", "openai", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# --- the triggers --------------------------------------------------------------------------

@dataclass
class HttpTrigger:
    name: str
    path: str  # aiohttp path template, e.g. /api/health
    methods: list[str]  # upper-case; empty = any
    fn: Callable[..., Any]
    arg: str


def _aiohttp_path(prefix: str, route: str) -> str:
    # Azure route templates: {name}, {name:int}, {name?}, {*rest}. aiohttp wants {name} / {name:regex}.
    out = []
    for seg in route.strip("/").split("/"):
        if seg.startswith("{") and seg.endswith("}"):
            inner = seg[1:-1].rstrip("?")
            if inner.startswith("*"):
                seg = "{" + inner[1:] + ":.*}"
            elif ":" in inner:
                name, kind = inner.split(":", 1)
                seg = "{" + name + (r":\d+" if kind.startswith(("int", "long")) else "") + "}"
            else:
                seg = "{" + inner + "}"
        out.append(seg)
    return "/" + "/".join(p for p in (prefix, "/".join(out)) if p)


_indexed: weakref.WeakKeyDictionary[func.FunctionApp, list[Any]] = weakref.WeakKeyDictionary()


def functions(app: func.FunctionApp) -> list[Any]:
    """The Function objects of a FunctionApp, through its public `get_functions()`, called once per
    app: a second call fails the library's own duplicate-name check, and tests start many hosts on
    the one function_app.app. Everything in this process that reads the triggers (the host, tests)
    comes through here."""
    if app not in _indexed:
        _indexed[app] = app.get_functions()
    return _indexed[app]


def collect(app: func.FunctionApp, prefix: str | None = None) -> tuple[list[HttpTrigger], list[TimerTrigger]]:
    """The HTTP and timer triggers of a FunctionApp. A bad timer schedule fails here, at start-up."""
    prefix = route_prefix() if prefix is None else prefix
    https: list[HttpTrigger] = []
    timers: list[TimerTrigger] = []
    for f in functions(app):
        trigger = f.get_trigger()
        spec = trigger.get_dict_repr()
        name = f.get_function_name()
        fn = f.get_user_function()
        if spec.get("type") == "httpTrigger":
            methods = [str(getattr(m, "value", m)).upper() for m in (spec.get("methods") or [])]
            route = spec.get("route") or name
            https.append(HttpTrigger(name, _aiohttp_path(prefix, route), methods, fn, spec["name"]))
        elif spec.get("type") == "timerTrigger":
            try:
                schedule = parse(spec.get("schedule", ""))
            except CronError as exc:
                raise SystemExit(f"rapport: timer {name}: {exc}") from None
            timers.append(TimerTrigger(name, schedule, fn, spec["name"], bool(spec.get("runOnStartup"))))
        elif spec.get("type") != "queueTrigger":  # those: collect_queues
            log.warning("function %s has a %s trigger, which the local host does not run", name, spec.get("type"))
    return https, timers


def collect_queues(app: func.FunctionApp) -> list[QueueTrigger]:
    """The queue triggers of a FunctionApp (run by local/queues.py when a work queue is configured)."""
    out = []
    for f in functions(app):
        spec = f.get_trigger().get_dict_repr()
        if spec.get("type") == "queueTrigger":
            out.append(QueueTrigger(f.get_function_name(), spec["queueName"], spec.get("connection") or "",
                                    f.get_user_function(), spec["name"]))
    return out


# --- HTTP ----------------------------------------------------------------------------------

# Where the middleware keeps the request's correlation id for the trigger adapter.
_CID: Any = web.RequestKey("rapport_cid", str) if hasattr(web, "RequestKey") else "rapport_cid"


def _cid(request: web.Request) -> str:
    cid = request.headers.get("x-correlation-id") or ""
    return cid if cid and len(cid) <= 64 and cid.replace("-", "").isalnum() else new_correlation_id()


def _json_error(status: int, message: str, cid: str, headers: dict[str, str] | None = None) -> web.Response:
    """The same body and headers function_app._http gives its errors."""
    answer = error_answer(status, message, cid, headers)
    return web.Response(
        body=answer.encoded(), status=status,
        headers={"x-content-type-options": "nosniff", "cache-control": "no-store", **answer.headers,
                 "content-type": "application/json; charset=utf-8"},
    )


async def _read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"request body is too large (limit {limit // 1024} KB)")
    chunks, size = [], 0
    try:
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise ApiError(413, f"request body is too large (limit {limit // 1024} KB)")
            chunks.append(chunk)
    except ConnectionResetError:  # the caller left mid-body: nobody to answer, and not our error
        raise ApiError(400, "the request body was cut short") from None
    return b"".join(chunks)


def _url(request: web.Request) -> str:
    try:
        return str(request.url)  # built from the Host header
    except ValueError:
        # A Host yarl cannot parse ("[::1].x"): name the socket instead of failing with a 500. The
        # header still goes to the function as sent, where a /dev/* guard refuses it like any other.
        sock = request.transport.get_extra_info("sockname") if request.transport is not None else None
        host, port = (str(sock[0]), int(sock[1])) if sock else ("127.0.0.1", 80)
        return f"{request.scheme}://{f'[{host}]' if ':' in host else host}:{port}{request.rel_url}"


def _to_func_request(request: web.Request, body: bytes, cid: str) -> func.HttpRequest:
    headers: dict[str, str] = {}
    for k, v in request.headers.items():
        key = k.lower()
        headers[key] = f"{headers[key]}, {v}" if key in headers else v
    headers["x-correlation-id"] = cid  # the function logs with the id the host logs with
    params = {k: request.query.getone(k) for k in request.query.keys()}
    return func.HttpRequest(request.method, _url(request), headers=headers, params=params,
                            route_params=dict(request.match_info), body=body)


def _from_func_response(resp: Any) -> web.Response:
    if not isinstance(resp, func.HttpResponse):
        raise TypeError(f"an HTTP function returned {type(resp).__name__}, not HttpResponse")
    headers = {k: v for k, v in resp.headers.items()}
    if not any(k.lower() == "content-type" for k in headers) and resp.mimetype:
        ct = resp.mimetype
        if resp.charset and (ct.startswith("text/") or "json" in ct or "xml" in ct or "javascript" in ct):
            ct += f"; charset={resp.charset}"
        headers["content-type"] = ct
    return web.Response(body=resp.get_body() or b"", status=resp.status_code, headers=headers)


BeforeBody = Callable[[int | None], Exception | None]


class UnreadRefusals:
    """How the host answers a request refused before its body is read (function_app.BEFORE_BODY).

    After PAUSE seconds, with the body left unread: aiohttp stops reading a payload nobody consumes
    once its buffer fills, so TCP holds the sender back and a paused request costs no CPU. A caller
    that honours Retry-After never notices; one that ignores it (a flood sent back to back) is held
    to one request per PAUSE per connection instead of as many as the loop can refuse, each of
    which would cost an accept, a header parse and a log line. At most MAX_PAUSED wait at once; past
    that the refusal is answered at once. Then the connection closes (lingering_time 0)."""

    PAUSE = 1.0
    MAX_PAUSED = 64

    def __init__(self) -> None:
        self.paused = 0

    async def answer(self, refused: Exception) -> None:
        if self.paused < self.MAX_PAUSED:
            self.paused += 1
            try:
                await asyncio.sleep(self.PAUSE)
            finally:
                self.paused -= 1
        raise refused


def _http_handler(trigger: HttpTrigger, max_body: int, before_body: BeforeBody | None,
                  unread: UnreadRefusals) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        refused = before_body(request.content_length) if before_body is not None else None
        if refused is not None:
            await unread.answer(refused)
        body = await _read_body(request, max_body)
        req = _to_func_request(request, body, request[_CID])
        return _from_func_response(await call(trigger.fn, **{trigger.arg: req}))

    handle.__name__ = trigger.name
    return handle


@web.middleware
async def _errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    """Every error the host itself makes: JSON, correlation id, logged; never a stack trace out."""
    cid = request[_CID] = _cid(request)
    started = time.perf_counter()
    extra = {"correlation_id": cid}
    try:
        response = await handler(request)
    except web.HTTPMethodNotAllowed as exc:
        allow = ", ".join(sorted(exc.allowed_methods))
        response = _json_error(405, f"method {request.method} is not allowed here", cid, {"allow": allow})
    except web.HTTPNotFound:
        response = _json_error(404, "no such route", cid)
    except web.HTTPRequestEntityTooLarge:
        response = _json_error(413, f"request body is too large (limit {MAX_BODY // 1024} KB)", cid)
    except web.HTTPException as exc:
        response = _json_error(exc.status, exc.reason or "request refused", cid)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - a refusal is answered as such; anything else is a 500
        refused = refusal(exc)  # ApiError, or a store exception mapped to its status (rapport.web.STATUS_OF)
        if refused is not None:
            response = _json_error(refused.status, refused.message, cid, refused.headers)
        else:  # the caller gets a correlation id, the log gets the trace
            log.exception("unhandled error serving %s %s", request.method, request.path, extra=extra)
            response = _json_error(500, "something went wrong on our side; quote the correlation id", cid)
    # Path only, as sent (not decoded, so %0a stays three characters): query strings can hold
    # addresses, and bodies and auth headers are never logged.
    log.info("%s %s %s %.0fms", log_field(request.method, 32), log_field(request.rel_url.raw_path), response.status,
             (time.perf_counter() - started) * 1000, extra=extra)
    return response


# --- static files and the dev outbox ----------------------------------------------------------

def _host_header(request: web.Request) -> str | None:
    values = request.headers.getall("Host", [])
    return values[0] if len(values) == 1 else None  # two Host headers: trust neither


def _dev_only(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    """The host's own /dev/* routes under the rule of every /dev/* route; else the unknown route's 404."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        if not dev_route_open(_host_header(request), runtime.settings()):
            raise web.HTTPNotFound()
        return await handler(request)

    guarded.__name__ = handler.__name__
    return guarded


async def _outbox_json(request: web.Request) -> web.Response:
    # The demo screen's feed (rapport.local_outbox.outbox_view); the page asks for it as ?view=cards.
    return web.json_response(await local_outbox.outbox_view(await runtime.store()),
                             headers={"cache-control": "no-store", "x-content-type-options": "nosniff"})


async def _outbox_page(request: web.Request) -> web.Response:
    # The demo screen: cards rendered by addin/web/outbox.js, acting through /dev/outbox/action.
    page = outbox_page.page(await local_outbox.outbox_view(await runtime.store()))
    return web.Response(text=page, content_type="text/html", headers={
        "cache-control": "no-store", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer",
        "content-security-policy": outbox_page.CSP})


# --- the host --------------------------------------------------------------------------------

class DevHost:
    """function_app's triggers on aiohttp (and optionally its timers on asyncio).

        async with DevHost(settings) as host:   # 127.0.0.1, a free port
            ... host.base_url ...

    While it runs it overrides the process's services (rapport.runtime.override) with its settings,
    its store, its bind address (dev tokens and /dev/* routes exist only on loopback) and the task
    pane preview's tenant (`preview_tenant`, the demo firm unless told otherwise); stop ends the
    override, so the services are what they were before.
    """

    def __init__(
        self, settings: Settings, *, app: func.FunctionApp | None = None, host: str = "127.0.0.1", port: int = 0,
        timers: bool = False, store: Store | None = None, clock: Clock = utcnow, sleep: Sleep = asyncio.sleep,
        max_body: int = MAX_BODY, prefix: str | None = None, preview_tenant: str | None = DEMO_TENANT_ID,
        queues: bool = True, queue_options: QueueOptions | None = None,
        before_body: dict[str, BeforeBody] | None = None,
    ) -> None:
        self.settings = settings
        module = load_function_app() if app is None else None
        self.app = app if app is not None else module.app
        # function_app.BEFORE_BODY: refusals a route can decide from its headers, before its body is read.
        self.before_body: dict[str, BeforeBody] = (before_body if before_body is not None else
                                                   getattr(module, "BEFORE_BODY", {}) if module else {})
        self.unread = UnreadRefusals()
        self.host = host
        self.port = port
        self.store = store  # owned by the caller if given
        self.max_body = max_body
        self.preview_tenant = preview_tenant  # the task pane preview's firm (addin/preview.py): the demo's
        self.http_triggers, self.timer_triggers = collect(self.app, prefix)
        self.timers = TimerRunner(self.timer_triggers, clock=clock, sleep=sleep) if timers else None
        # The queue triggers run only with a configured queue; without one the kick does the work.
        self.queue_triggers = collect_queues(self.app) if queues and settings.work_queue else []
        self.queues = (QueueRunner(self.queue_triggers, settings, queue_options or QueueOptions.from_host_json(
            repo_root())) if self.queue_triggers else None)
        self._work_queue = work_queue.StorageWorkQueue(settings) if settings.work_queue else None
        self._runner: web.AppRunner | None = None
        self._services: contextlib.ExitStack | None = None  # this host's runtime.override while it runs

    @property
    def base_url(self) -> str:
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{shown}:{self.port}"

    def web_app(self) -> web.Application:
        # lingering_time 0: a request answered before its body is read (a 413 by Content-Length, a
        # BEFORE_BODY refusal) closes its connection instead of reading the rest to throw it away,
        # which is the whole cost a flood of big bodies would otherwise still have. Every handler
        # that answers normally has read its body, so nothing else changes.
        app = web.Application(middlewares=[_errors], client_max_size=self.max_body + 1,
                              handler_args={"lingering_time": 0})
        # aiohttp tries routes in the order added; Azure prefers literal segments over parameters
        # and catch-alls last, whatever the order in function_app.py. Sort to match.
        for t in sorted(self.http_triggers, key=lambda t: (":.*}" in t.path, t.path.count("{"))):
            handle = _http_handler(t, self.max_body, self.before_body.get(t.name), self.unread)
            for method in t.methods or ["*"]:
                app.router.add_route(method, t.path, handle, name=None)
        if is_loopback(self.host):
            # What the demo "sent" shows only to this machine (and only with RAPPORT_DEV_AUTH=1).
            app.router.add_route("GET", "/dev/outbox", _dev_only(_outbox_page))
            app.router.add_route("GET", "/dev/outbox.json", _dev_only(_outbox_json))
        return app

    async def start(self) -> DevHost:
        # The services are process-wide: this host's for as long as it runs, the previous ones after.
        # Dev auth off loopback is refused before anything is overridden or listens.
        check_bind(self.settings, self.host)
        self._services = contextlib.ExitStack()
        self._services.enter_context(runtime.override(
            settings=self.settings, store=self.store,
            bind_host=self.host,  # dev tokens and /dev/* routes only on a loopback bind
            preview_tenant=self.preview_tenant,  # whom the task pane preview acts in
            work_queue=self._work_queue,  # this host's sender (closed on stop); None: no queue
        ))
        self._runner = web.AppRunner(self.web_app(), access_log=None, handle_signals=False, logger=_server_log,
                                     max_line_size=32768, max_field_size=32768)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            self._runner = None
            self._restore()
            raise
        self.port = self._runner.addresses[0][1]
        if self.timers is not None:
            self.timers.start()
        if self.queues is not None:
            try:
                await self.queues.start()
            except Exception:
                await self.stop()
                raise
        log.info("serving %d HTTP, %d timer and %d queue triggers on %s", len(self.http_triggers),
                 len(self.timer_triggers) if self.timers else 0, len(self.queues.triggers) if self.queues else 0,
                 self.base_url)
        return self

    async def stop(self) -> None:
        if self.timers is not None:
            await self.timers.stop()
        if self.queues is not None:
            await self.queues.stop()
        if self._work_queue is not None:
            await self._work_queue.aclose()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._services is not None:
            opened = runtime.opened_store()
            if opened is not None and opened is not self.store:
                await opened.close()  # opened lazily by a request: this host owns it
        self._restore()

    def _restore(self) -> None:
        if self._services is not None:
            self._services.close()
            self._services = None

    async def __aenter__(self) -> DevHost:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


# --- the commands ----------------------------------------------------------------------------

def _print_summary(summary: Any) -> None:
    if summary is None:
        print("demo firm seeded")
    elif isinstance(summary, dict):
        print("demo firm seeded:")
        for k, v in summary.items():
            print(f"  {k}: {v}")
    else:
        print(str(summary))


async def _seed_demo(store: Store) -> bool:
    _print_summary(await seed_demo(store))
    return True


DEMO_WARM_UP = ("meeting_briefs", "followups_timer", "drain_work")


async def _demo_warm_up(dev: DevHost) -> None:
    """Run the brief and follow-up timers once at demo start, so the outbox shows what Rapport
    does without waiting for their next 5-minute tick."""
    by_name = {t.name: t for t in dev.timer_triggers}
    for name in DEMO_WARM_UP:
        if name in by_name:
            try:
                await fire(by_name[name], past_due=False)
            except Exception:  # noqa: BLE001 - the demo keeps serving; the log has the trace
                log.exception("demo warm-up: timer %s failed", name)
    log.info("demo warm-up done: briefs and follow-ups are in the local outbox")


async def _serve(settings: Settings, host: str, port: int, demo: bool, timers: bool) -> int:
    store = make_store(settings)
    opened: Store | None = store
    try:
        await store.open()
    except StoreUnavailable as exc:
        opened = None
        print(f"rapport: warning: the record store is unavailable ({exc.detail or exc}); "
              "routes that need it answer 503 until it is back", file=sys.stderr)
        if demo:
            print("rapport: cannot seed the demo firm without the record store", file=sys.stderr)
            return 1
    try:
        if demo and opened is not None:
            await _seed_demo(opened)
        dev = DevHost(settings, host=host, port=port, timers=timers, store=opened)
        try:
            await dev.start()
        except OSError as exc:
            print(f"rapport: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        except QueueUnavailable as exc:
            print(f"rapport: {exc}", file=sys.stderr)
            return 1
        # Handlers first, so a Ctrl-C right after the banner still stops cleanly.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        base = dev.base_url
        print(f"Rapport {__version__} serving on {base} ({opened.name if opened else 'no'} store"
              f"{'' if timers else ', timers off'})")
        print(f"  health:            {base}/api/health")
        print(f"  task pane preview: {base}/addin/taskpane.html")
        if dev_route_open(urlsplit(base).netloc, settings):
            print(f"  local outbox:      {base}/dev/outbox")
        names = ", ".join(t.name for t in dev.timer_triggers) or "none"
        print(f"  timers:            {names if timers else 'off (run one with: rapport trigger NAME)'}")
        print(f"  work:              {'the ' + work_queue.QUEUE_NAME + ' queue (queue trigger running)' if dev.queues else 'in-process after the answer (no RAPPORT_WORK_QUEUE)'}")
        print("Press Ctrl-C to stop.", flush=True)
        warm_up = asyncio.create_task(_demo_warm_up(dev)) if demo and timers else None
        try:
            await stop.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            if warm_up is not None:
                warm_up.cancel()
            await dev.stop()
        print("stopped", flush=True)
        return 0
    finally:
        if opened is not None:
            await opened.close()


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7071, demo: bool = False,
          timers: bool = True) -> int:
    """`rapport serve`: blocks until Ctrl-C (or SIGTERM); returns the exit status."""
    configure_logging()
    if settings.dev_auth and not is_loopback(host):
        print("rapport: RAPPORT_DEV_AUTH=1 is only allowed when serving on loopback (127.0.0.1)", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_serve(settings, host, port, demo, timers))
    except KeyboardInterrupt:
        return 0


async def run_trigger(settings: Settings, name: str | None, *, app: func.FunctionApp | None = None) -> int:
    """`rapport trigger [NAME]`: run one timer of function_app now, or list them."""
    configure_logging()
    _, timers = collect(app if app is not None else load_function_app().app)
    if name is None:
        if not timers:
            print("function_app has no timer triggers")
        for t in timers:
            print(f"{t.name}\t{t.schedule.expression}")
        return 0
    timer = next((t for t in timers if t.name == name), None)
    if timer is None:
        known = ", ".join(t.name for t in timers) or "none"
        print(f"rapport: no timer trigger named {name!r} (timers: {known})", file=sys.stderr)
        return 2
    with runtime.override(settings=settings, store=None):  # the store this run opens is its own
        try:
            await fire(timer, past_due=False)
        except Exception as exc:  # noqa: BLE001 - a clear line for the admin; the trace goes to the log
            log.exception("timer %s failed", name)
            print(f"rapport: timer {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        finally:
            opened = runtime.opened_store()
            if opened is not None:
                await opened.close()
    print(f"ran {name}")
    return 0
