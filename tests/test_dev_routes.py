"""Every /dev/* route is local: RAPPORT_DEV_AUTH=1, a loopback bind and a loopback Host, else 404.

Issue 12, finding 7 and "What to build" item 6, over real HTTP on function_app's real triggers
(DevHost on 127.0.0.1) with the demo firm seeded:
- /dev/outbox and /dev/outbox.json answered every tenant's cards and mail to `Host: attacker.example`
  (DNS rebinding, or a proxy) and without RAPPORT_DEV_AUTH;
- /dev/addin/meetings answered 401 (it authenticated before its guard) where the route must not exist;
- the walk: every route the host serves under /dev/ (function_app's triggers and the host's own) answers
  exactly like an unknown route for each failing condition, and not so when every condition holds, so
  a new dev route cannot be added without the guard (rapport.identity.dev.dev_route_open);
- a property test over generated non-loopback Host values (lookalikes of 127.0.0.1, [::1] and localhost)
  with canaries planted in two tenants' outboxes: nothing of them in any answer.

Issue 12, finding 9 (third part): a malformed request line is logged as its method and path only,
never its query string (an address, a token) nor its control characters.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import azure.functions as func
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import function_app
from local.host import DevHost, _LogFormat, collect
from rapport import local_outbox, runtime
from rapport.identity import dev as devauth
from rapport.records import Tenant
from rapport.settings import Settings, SettingsError, load_settings
from rapport.store import Store, make_store

OTHER = "0a0b0c0d-0000-4000-8000-00000000000b"
CANARY_A = "CANARY-OUTBOX-A-7f3e"
CANARY_B = "CANARY-OUTBOX-B-91c2"
NO_SUCH_ROUTE = "no such route"

# Host headers a browser may send after DNS rebinding, or a proxy may pass on: none is this machine.
FOREIGN_HOSTS = [
    "attacker.example", "attacker.example:7071", "127.0.0.1.attacker.example", "127.0.0.1.attacker.example:7071",
    "localhost.attacker.example", "[::1].attacker.example", "[::1]@attacker.example", "127.0.0.1@attacker.example",
    "127.0.0.1:7071@attacker.example", "attacker.example#127.0.0.1", "::1", "[::1", "::1]", "[::2]",
    "127.0.0.1.", "localhost.", "0x7f.0.0.1", "2130706433", "127.1", "192.0.2.1", "10.0.0.1:7071",
    "127.0.0.1, attacker.example", "", " ",
]


# --- the world -----------------------------------------------------------------------------------

async def _plant(store: Store) -> None:
    """A draft card and a sent mail in the demo firm and in another firm, each with a canary."""
    from local.demo import DEMO_TENANT_ID

    await store.put_tenant(Tenant(id=OTHER, tenantId=OTHER, name="Other Firm LLP"))
    for tid, canary in ((DEMO_TENANT_ID, CANARY_A), (OTHER, CANARY_B)):
        await local_outbox.deliver(store, tid, "mail", f"draft-{canary}:v1", to=[f"client@{canary.lower()}.example"],
                                   subject=f"Re: {canary}", body=f"Dear client, {canary} (the draft body)")
        await local_outbox.deliver(store, tid, "teams", f"card-{canary}:v1", to=[f"partner@{canary.lower()}.example"],
                                   subject=f"Approve {canary}", body="",
                                   card={"type": "AdaptiveCard", "version": "1.5",
                                         "body": [{"type": "TextBlock", "text": canary}]})


class World:
    def __init__(self, host: DevHost, store: Store, http: aiohttp.ClientSession) -> None:
        self.host, self.store, self.http = host, store, http

    def routes(self) -> list[tuple[str, str]]:
        """(method, path) of every route this host serves under /dev/, read off its router."""
        out = set()
        for r in self.host._runner.app.router.routes():  # the app the host really serves
            path = r.resource.canonical if r.resource is not None else ""
            if path.startswith("/dev/") and r.method != "HEAD":
                out.add((r.method, re.sub(r"\{[^}]*\}", "x", path)))
        return sorted(out)

    async def call(self, method: str, path: str, host: str | None = None, **kw: Any) -> tuple[int, bytes]:
        headers = {"Host": host} if host is not None else {}
        if method == "POST":
            kw.setdefault("json", {})
        async with self.http.request(method, self.host.base_url + path, headers=headers, **kw) as r:
            return r.status, await r.read()


async def _world(tmp_path: Path, demo_db: Path, env: dict[str, str]) -> tuple[DevHost, Store]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    db = tmp_path / "rapport.db"
    shutil.copyfile(demo_db, db)
    s: Settings = load_settings({"RAPPORT_SQLITE_PATH": str(db), **env})
    store = make_store(s)
    await store.open()
    await _plant(store)
    host = DevHost(s, store=store)
    await host.start()
    return host, store


@pytest.fixture
async def make_world(tmp_path: Path, demo_db: Path) -> AsyncIterator[Any]:
    opened: list[tuple[DevHost, Store]] = []

    async def make(dev_auth: bool) -> World:
        host, store = await _world(tmp_path / str(len(opened)), demo_db, {"RAPPORT_DEV_AUTH": "1"} if dev_auth else {})
        opened.append((host, store))
        return World(host, store, http)

    async with aiohttp.ClientSession() as http:
        yield make
    for host, store in reversed(opened):
        await host.stop()
        await store.close()


def _is_no_such_route(status: int, body: bytes) -> bool:
    """Exactly how the host answers a path it does not serve (the 404 hides the route)."""
    if status != 404:
        return False
    import json

    try:
        err = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return err.get("message") == NO_SUCH_ROUTE and set(err) == {"status", "message", "correlationId"}


def _leaks(body: bytes) -> bool:
    return CANARY_A.encode() in body or CANARY_B.encode() in body or b"client@" in body


# --- finding 7, as found -------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/dev/outbox", "/dev/outbox.json", "/dev/outbox.json?view=cards"])
async def test_outbox_refuses_a_foreign_host(make_world, path):
    w = await make_world(dev_auth=True)
    status, body = await w.call("GET", path, host="attacker.example")
    assert _is_no_such_route(status, body) and not _leaks(body), (status, body[:200])
    status, body = await w.call("GET", path)  # this machine still sees it
    assert status == 200 and CANARY_A.encode() in body and CANARY_B.encode() in body


@pytest.mark.parametrize("path", ["/dev/outbox", "/dev/outbox.json", "/dev/outbox.json?view=cards"])
async def test_outbox_needs_dev_auth(make_world, path):
    w = await make_world(dev_auth=False)
    status, body = await w.call("GET", path)
    assert _is_no_such_route(status, body) and not _leaks(body), (status, body[:200])


async def test_dev_meetings_is_absent_not_unauthorised(make_world):
    off = await make_world(dev_auth=False)
    status, body = await off.call("GET", "/dev/addin/meetings")
    assert _is_no_such_route(status, body), (status, body[:200])  # was 401: the route showed itself


async def test_dev_meetings_refuses_a_foreign_host_before_authentication(make_world):
    on = await make_world(dev_auth=True)
    status, body = await on.call("GET", "/dev/addin/meetings", host="attacker.example")
    assert _is_no_such_route(status, body), (status, body[:200])
    status, _ = await on.call("GET", "/dev/addin/meetings")
    assert status == 401  # on this machine the route exists and wants a token


# --- every /dev/* route, each failing condition ----------------------------------------------------

EXPECTED_DEV_ROUTES = {("GET", "/dev/outbox"), ("GET", "/dev/outbox.json"), ("GET", "/dev/addin/token"),
                       ("GET", "/dev/addin/senders"), ("GET", "/dev/addin/meetings"), ("POST", "/dev/outbox/action")}


async def test_every_dev_route_answers_404_unless_local(make_world):
    on = await make_world(dev_auth=True)
    routes = on.routes()
    assert set(routes) >= EXPECTED_DEV_ROUTES  # the walk sees the host's own routes and function_app's
    https, _ = collect(function_app.app)
    assert {t.path for t in https if t.path.startswith("/dev/")} <= {p for _, p in routes}

    for method, path in routes:
        # Every condition holds: the route exists (whatever it answers, it is not "no such route").
        status, body = await on.call(method, path)
        assert not _is_no_such_route(status, body), f"{method} {path} is hidden even on this machine"
        for host in FOREIGN_HOSTS:
            status, body = await on.call(method, path, host=host)
            assert _is_no_such_route(status, body) and not _leaks(body), f"{method} {path} Host {host!r}: {status}"

    # No loopback bind declared in this process (as on Azure, or a host bound elsewhere).
    with runtime.override(bind_host=None):
        for method, path in routes:
            status, body = await on.call(method, path)
            assert _is_no_such_route(status, body) and not _leaks(body), f"{method} {path} without a loopback bind"

    off = await make_world(dev_auth=False)
    assert off.routes() == routes  # the same routes: only the guard differs
    for method, path in routes:
        status, body = await off.call(method, path)
        assert _is_no_such_route(status, body) and not _leaks(body), f"{method} {path} without RAPPORT_DEV_AUTH"


async def test_dev_auth_never_serves_on_a_non_loopback_bind(tmp_path):
    """The third condition from the other side: with RAPPORT_DEV_AUTH=1 the host refuses to bind
    anywhere but loopback, before it installs anything or listens (so no route, dev or not, is up)."""
    s = load_settings({"RAPPORT_SQLITE_PATH": str(tmp_path / "r.db"), "RAPPORT_DEV_AUTH": "1"})
    saved = runtime.services()
    for bind in ("0.0.0.0", "::", "192.0.2.1"):
        host = DevHost(s, host=bind)
        with pytest.raises(SettingsError, match="not a loopback address"):
            await host.start()
        assert host._runner is None and runtime.services() == saved
        assert not devauth.bound_to_loopback()


async def test_dev_triggers_answer_404_as_azure_runs_them(demo_db, tmp_path):
    """Azure calls the trigger functions itself and never declares a bind: with dev auth on and a
    loopback Host, every dev/ trigger is still absent."""
    db = tmp_path / "rapport.db"
    shutil.copyfile(demo_db, db)
    s = load_settings({"RAPPORT_SQLITE_PATH": str(db), "RAPPORT_DEV_AUTH": "1"})
    https, _ = collect(function_app.app)
    dev = [t for t in https if t.path.startswith("/dev/")]
    assert {t.path for t in dev} >= {"/dev/addin/token", "/dev/addin/senders", "/dev/addin/meetings",
                                     "/dev/outbox/action"}
    with runtime.override(settings=s, store=None, bind_host=None):
        try:
            for t in dev:
                method = t.methods[0] if t.methods else "GET"
                req = func.HttpRequest(method, f"http://127.0.0.1:7071{t.path}", body=b"{}",
                                       headers={"host": "127.0.0.1:7071", "content-type": "application/json"})
                resp = await t.fn(**{t.arg: req})
                assert _is_no_such_route(resp.status_code, resp.get_body()), (t.path, resp.status_code)
        finally:
            if runtime.opened_store() is not None:
                await runtime.opened_store().close()


# --- a property: no generated foreign Host ever sees a canary ----------------------------------------

_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_domain = st.lists(_label, min_size=1, max_size=3).map(".".join).filter(lambda d: d != "localhost")
_loopbackish = st.sampled_from(["127.0.0.1", "localhost", "[::1]", "127.0.0.2", "[0:0:0:0:0:0:0:1]"])
_port = st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}"))
foreign_hosts = st.one_of(
    st.tuples(_domain, _port).map("".join),
    st.tuples(_loopbackish, st.sampled_from([".", "@", "#", ".x.", "-", "_"]), _domain).map("".join),
    st.tuples(_domain, st.sampled_from(["@", ".", "#"]), _loopbackish).map(lambda t: "".join(t) + "."),
    st.ip_addresses().filter(lambda ip: not ip.is_loopback).map(lambda ip: f"[{ip}]" if ip.version == 6 else str(ip)),
    st.ip_addresses(v=6).map(str),  # unbracketed IPv6 (::1 included) is no valid Host
)


@pytest.fixture
async def local_world(make_world) -> World:
    return await make_world(dev_auth=True)


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(host=foreign_hosts)
async def test_no_foreign_host_reaches_a_dev_route(local_world, host):
    for method, path in local_world.routes():
        for suffix in ("", "?view=cards"):
            status, body = await local_world.call(method, path + suffix, host=host)
            assert _is_no_such_route(status, body) and not _leaks(body), (method, path, host, status)


def test_the_host_rule():
    ok = ["127.0.0.1", "127.0.0.1:7071", "localhost", "LOCALHOST:80", "[::1]", "[::1]:7071", "127.8.9.10"]
    for h in ok:
        assert devauth.loopback_host(h), h
    for h in FOREIGN_HOSTS + [None, "[::1]:", "127.0.0.1:99999", "127.0.0.1:x", "[::ffff:7f00:1]x"]:
        assert not devauth.loopback_host(h), h


# --- finding 9 (third part): malformed request lines in the log ------------------------------------

QUERY_CANARY = "SECRET-QUERYTOKEN1"  # tests/conftest.py also fails any test that logs a SECRET-...
Q = b"?email=partner@firm.example&tok=SECRET-QUERYTOKEN1"
MALFORMED = [  # (what is sent, what the log line shows of it; None: no request line to show)
    (b"GET /dev/outbox" + Q + b" HTTP/1.1\x01\r\nHost: 127.0.0.1\r\n\r\n", "GET /dev/outbox"),
    (b"GET /api/addin/context" + Q + b" HTTP/9.9\r\nHost: a\r\n\r\n", "GET /api/addin/context"),
    (b"GET /api/addin/context" + Q + b"\x7f HTTP/1.1\r\nHost: a\r\n\r\n", "GET /api/addin/context"),
    (b"GET /p\x1b[31mred" + Q + b" HTTP/1.1\r\nHost: a\r\n\r\n", "GET /p%1B[31mred"),
    (b"GET /ok" + Q + b" HTTP/1.1\r\nHost: a\r\nAuthorization : Bearer SECRET-QUERYTOKEN1\r\n\r\n", None),
    (b"G\x01T /x" + Q + b" HTTP/1.1\r\nHost: a\r\n\r\n", None),
    (b"GET /" + b"a" * 40000 + Q + b" HTTP/1.1\r\nHost: a\r\n\r\n", None),  # "status line is too long"
    # well formed, but its path decodes to control characters (a forged log line)
    (b"GET /x%0d%0a2026-01-01%20INFO%20forged%1b[2J" + Q + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
     "GET /x%0d%0a2026"),
]


async def _raw(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()


@pytest.mark.parametrize(("data", "shown"), MALFORMED, ids=range(len(MALFORMED)))
async def test_a_malformed_request_line_is_logged_without_its_query(devhost, caplog, data, shown):
    caplog.set_level(logging.DEBUG)
    answer = await _raw(devhost.port, data)
    assert re.match(rb"HTTP/1\.[01] 4\d\d ", answer), answer[:100]
    fmt = _LogFormat()  # the host's own line format, traceback included when a record has one
    lines = [fmt.format(r) for r in caplog.records]
    text = "\n".join(lines)
    assert QUERY_CANARY not in text and "partner@firm.example" not in text and "email=" not in text, text[-1500:]
    assert "Traceback" not in text
    for line in lines:
        assert not re.search(r"[\x00-\x1f\x7f]", line), repr(line[:300])  # one line each, nothing to forge one
        assert len(line) < 600, repr(line[:300])
    if shown is not None:
        assert shown in text, text[-800:]


async def test_an_unparsable_host_is_no_500(make_world):
    """A Host yarl cannot parse used to fail building the request's URL (500 on every trigger)."""
    w = await make_world(dev_auth=True)
    for host in ("[::1].attacker.example", "[::1].0", "a:b:c"):
        status, body = await w.call("GET", "/api/health", host=host)
        assert status == 200, (host, status, body[:200])
