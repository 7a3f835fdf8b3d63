"""local.host: function_app's triggers on aiohttp and asyncio, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import sys
from datetime import timedelta
from pathlib import Path

import azure.functions as func
import pytest

import function_app
from addin.static import resolve
from local import host as devhost
from local.host import DevHost, collect, run_trigger
from local.timers import TimerRunner
from rapport import runtime
from rapport.identity.dev import is_loopback
from rapport.local_outbox import deliver
from rapport.records import Tenant

REPO = Path(__file__).resolve().parents[1]


# --- the real function_app ------------------------------------------------------------------

def test_function_app_triggers_are_all_served():
    https, timers = collect(function_app.app)
    assert any(t.path.endswith("/health") and t.methods == ["GET"] for t in https)
    assert {t.name for t in timers} >= {"drain_work"}
    drain = next(t for t in timers if t.name == "drain_work")
    assert drain.schedule.expression == "0 */1 * * * *"


def test_routes_follow_host_json_route_prefix():
    assert devhost.route_prefix(REPO) in ("", "api")
    https, _ = collect(function_app.app)
    health = next(t for t in https if t.name == "health")
    assert health.path == "/api/health"  # what Azure serves, whichever way the prefix is written


def test_azure_route_templates_become_aiohttp_paths():
    p = devhost._aiohttp_path
    assert p("api", "addin/context") == "/api/addin/context"
    assert p("", "api/items/{id}") == "/api/items/{id}"
    assert p("api", "items/{id:int}") == r"/api/items/{id:\d+}"
    assert p("api", "files/{*rest}") == "/api/files/{rest:.*}"
    assert p("api", "x/{opt?}") == "/api/x/{opt}"


# --- request and response conversion ---------------------------------------------------------

def _echo_app() -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="echo/{thing}", methods=["GET", "POST"])
    async def echo(req: func.HttpRequest) -> func.HttpResponse:
        import json

        return func.HttpResponse(json.dumps({
            "method": req.method, "thing": req.route_params.get("thing"), "q": req.params.get("q"),
            "hdr": req.headers.get("x-thing"), "body": (req.get_body() or b"").decode(),
            "cid": req.headers.get("x-correlation-id"), "url": req.url,
        }), status_code=201, mimetype="application/json", headers={"x-extra": "yes"})

    @app.route(route="plain", methods=["GET"])
    def plain(req: func.HttpRequest) -> func.HttpResponse:  # sync functions run too, as on Azure
        return func.HttpResponse("hello", status_code=202)

    @app.route(route="any")
    async def anything(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(req.method)

    return app


async def test_requests_and_responses_convert_both_ways(start_devhost, http):
    host = await start_devhost(app=_echo_app(), prefix="api")
    async with http.post(f"{host.base_url}/api/echo/widget?q=1&q=2", data=b"payload",
                         headers={"x-thing": "abc", "x-correlation-id": "cid-1"}) as resp:
        assert resp.status == 201 and resp.headers["x-extra"] == "yes"
        assert resp.headers["content-type"].startswith("application/json")
        body = await resp.json()
    assert body["method"] == "POST" and body["thing"] == "widget" and body["q"] == "1"
    assert body["hdr"] == "abc" and body["body"] == "payload" and body["cid"] == "cid-1"
    assert body["url"].startswith(host.base_url + "/api/echo/widget")
    async with http.get(f"{host.base_url}/api/plain") as resp:
        assert resp.status == 202 and await resp.text() == "hello"
        assert resp.headers["content-type"].startswith("text/plain")
    async with http.patch(f"{host.base_url}/api/any") as resp:
        assert await resp.text() == "PATCH"


# --- static files of the task pane (function_app's own trigger, as on Azure) ----------------

@pytest.fixture
def web_root(tmp_path) -> Path:
    root = tmp_path / "web"
    (root / "assets").mkdir(parents=True)
    (root / "taskpane.html").write_text("<!doctype html><title>pane</title>")
    (root / "assets" / "style.css").write_text("body{}")
    (root / ".env").write_text("SECRET=1")
    (tmp_path / "outside.txt").write_text("TOP-SECRET-OUTSIDE")
    (root / "link.txt").symlink_to(tmp_path / "outside.txt")
    return root


def test_static_paths_stay_inside_the_web_root(web_root):
    assert resolve("taskpane.html", web_root) == (web_root / "taskpane.html").resolve()
    assert resolve("assets/style.css", web_root) == (web_root / "assets" / "style.css").resolve()
    for bad in ("../outside.txt", "/etc/passwd", "a/../../x", "link.txt", ".env", "x\x00y", "..\\x", "assets"):
        assert resolve(bad, web_root) is None, bad


async def _raw_get(host: DevHost, target: str) -> bytes:
    """Send the request line exactly as written (clients would normalise the dots away)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", host.port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


@pytest.mark.parametrize("target", [
    "/addin/../function_app.py", "/addin/%2e%2e/function_app.py", "/addin/..%2ffunction_app.py",
    "/addin/vendor/../../function_app.py", "/addin/%2E%2E%2Ffunction_app.py", "/addin/..%5cfunction_app.py",
    "/addin/../../pyproject.toml", "/addin//etc/passwd", "/addin/vendor", "/addin/static.py",
])
async def test_static_traversal_is_refused_over_the_wire(start_devhost, target):
    host = await start_devhost()  # function_app itself: the trigger Azure runs
    raw = await _raw_get(host, target)
    status = int(raw.split(b" ", 2)[1])
    assert status in (400, 403, 404), raw[:200]
    assert b"FunctionApp(" not in raw and b"[project]" not in raw and b"root:" not in raw and b"import " not in raw


# --- the local outbox ------------------------------------------------------------------------

@pytest.fixture
async def dev_auth_host(start_devhost, dev_settings):
    from rapport.settings import load_settings

    return await start_devhost(load_settings({"RAPPORT_SQLITE_PATH": dev_settings.sqlite_path, "RAPPORT_DEV_AUTH": "1"}))


async def test_outbox_page_empty_then_lists_deliveries(dev_auth_host, http):
    devhost = dev_auth_host  # the outbox is a /dev/* route: RAPPORT_DEV_AUTH=1 (tests/test_dev_routes.py)
    async with http.get(f"{devhost.base_url}/dev/outbox") as resp:
        assert resp.status == 200 and resp.headers["content-type"].startswith("text/html")
        assert "Nothing has been sent yet" in await resp.text()
    async with http.get(f"{devhost.base_url}/dev/outbox.json") as resp:
        assert (await resp.json()) == {"partner": [], "mail": []}

    store = await runtime.store()
    tid = "33333333-3333-3333-3333-333333333333"
    await store.put_tenant(Tenant(id=tid, tenantId=tid, name="Alder & Finch"))
    await deliver(store, tid, "mail", "draft-1:v1", to=["ana@client.example"],
                  subject="Following up <b>today</b>", body="Dear Ana, thank you for the meeting.")
    async with http.get(f"{devhost.base_url}/dev/outbox.json") as resp:
        feed = await resp.json()
    assert feed["partner"] == [] and len(feed["mail"]) == 1
    assert feed["mail"][0]["channel"] == "mail" and feed["mail"][0]["to"] == ["ana@client.example"]
    async with http.get(f"{devhost.base_url}/dev/outbox") as resp:
        page = await resp.text()
    assert "ana@client.example" in page and "&lt;b&gt;today&lt;/b&gt;" in page and "<b>today" not in page


def test_outbox_is_only_served_on_loopback(dev_settings):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1")
    app = DevHost(dev_settings, host="0.0.0.0").web_app()
    paths = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    assert "/dev/outbox" not in paths and "/api/health" in paths
    local = DevHost(dev_settings).web_app()
    assert "/dev/outbox" in {r.resource.canonical for r in local.router.routes() if r.resource is not None}


# --- timers ----------------------------------------------------------------------------------

def _timer_app(calls: list, clock, *, fail: bool = False, work_seconds: float = 0.0) -> func.FunctionApp:
    app = func.FunctionApp()

    @app.timer_trigger(schedule="*/10 * * * * *", arg_name="tick")
    async def every_ten(tick: func.TimerRequest) -> None:
        calls.append((clock(), tick.past_due))
        if work_seconds:
            clock.advance(work_seconds)  # a run that takes longer than the interval
        if fail:
            raise RuntimeError("timer failed on purpose")

    return app


async def _until(pred, clock, limit: int = 10_000) -> None:
    for _ in range(limit):
        if pred():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


async def test_timers_fire_at_their_schedule(fake_clock):
    calls: list = []
    fake_clock.advance(3)  # 08:00:03
    runner = TimerRunner(collect(_timer_app(calls, fake_clock), "")[1], clock=fake_clock, sleep=fake_clock.sleep)
    runner.start()
    try:
        await _until(lambda: len(calls) >= 3, fake_clock)
    finally:
        await runner.stop()
    times = [c[0].strftime("%H:%M:%S") for c in calls[:3]]
    assert times == ["08:00:10", "08:00:20", "08:00:30"]
    assert [c[1] for c in calls[:3]] == [False, False, False]


async def test_failing_timer_is_logged_and_keeps_its_schedule(fake_clock, caplog):
    calls: list = []
    runner = TimerRunner(collect(_timer_app(calls, fake_clock, fail=True), "")[1],
                         clock=fake_clock, sleep=fake_clock.sleep)
    with caplog.at_level(logging.ERROR, logger="rapport.devhost"):
        runner.start()
        try:
            await _until(lambda: len(calls) >= 3, fake_clock)
        finally:
            await runner.stop()
    failures = [r for r in caplog.records if "timer every_ten failed" in r.getMessage()]
    assert len(failures) >= 2 and failures[0].exc_info is not None


async def test_a_run_longer_than_the_interval_makes_the_next_past_due(fake_clock):
    calls: list = []
    runner = TimerRunner(collect(_timer_app(calls, fake_clock, work_seconds=25), "")[1],
                         clock=fake_clock, sleep=fake_clock.sleep)
    runner.start()
    try:
        await _until(lambda: len(calls) >= 3, fake_clock)
    finally:
        await runner.stop()
    (t1, due1), (t2, due2), (t3, _) = calls[:3]
    assert not due1 and due2  # 08:00:10 ran to :35, missing :20 and :30: one run at once, past due
    assert t2 - t1 == timedelta(seconds=25)  # not replaying both missed runs
    assert t3 > t2


async def test_devhost_runs_timers_and_serves_http_together(start_devhost, http, fake_clock):
    calls: list = []
    app = _timer_app(calls, fake_clock)

    @app.route(route="ping", methods=["GET"])
    async def ping(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("pong")

    host = await start_devhost(app=app, prefix="api", timers=True, clock=fake_clock, sleep=fake_clock.sleep)
    await _until(lambda: len(calls) >= 2, fake_clock)
    async with http.get(f"{host.base_url}/api/ping") as resp:
        assert await resp.text() == "pong"


async def test_no_timers_means_none_run(start_devhost, fake_clock):
    calls: list = []
    host = await start_devhost(app=_timer_app(calls, fake_clock), timers=False, clock=fake_clock,
                               sleep=fake_clock.sleep)
    for _ in range(200):
        await asyncio.sleep(0)
    assert calls == [] and host.timers is None


def test_a_bad_schedule_fails_at_start_up():
    app = func.FunctionApp()

    @app.timer_trigger(schedule="*/5 * * * *", arg_name="t")
    async def five_fields(t: func.TimerRequest) -> None: ...

    with pytest.raises(SystemExit, match="five_fields.*expected 6"):
        collect(app, "")


# --- rapport trigger ---------------------------------------------------------------------------

async def test_run_trigger_lists_runs_and_refuses_unknown(dev_settings, fake_clock, capsys):
    calls: list = []
    app = _timer_app(calls, fake_clock)
    assert await run_trigger(dev_settings, None, app=app) == 0
    assert "every_ten\t*/10 * * * * *" in capsys.readouterr().out

    assert await run_trigger(dev_settings, "nope", app=app) == 2
    err = capsys.readouterr().err
    assert "no timer trigger named 'nope'" in err and "every_ten" in err

    assert await run_trigger(dev_settings, "every_ten", app=app) == 0
    assert len(calls) == 1 and calls[0][1] is False
    assert "ran every_ten" in capsys.readouterr().out


async def test_run_trigger_reports_a_failure(dev_settings, fake_clock, capsys):
    app = _timer_app([], fake_clock, fail=True)
    assert await run_trigger(dev_settings, "every_ten", app=app) == 1
    assert "timer every_ten failed: RuntimeError" in capsys.readouterr().err


async def test_run_trigger_lists_function_apps_timers(dev_settings, capsys):
    assert await run_trigger(dev_settings, None) == 0
    assert "drain_work\t0 */1 * * * *" in capsys.readouterr().out


# --- the console script, as a fresh clone runs it ------------------------------------------------

async def test_rapport_serve_console_script_serves_and_stops(tmp_path, http):
    script = Path(sys.executable).parent / "rapport"
    assert script.exists(), "the rapport console script is installed by scripts/setup"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAPPORT_", "COSMOS_"))}
    env["RAPPORT_SQLITE_PATH"] = str(tmp_path / "rapport.db")
    env["RAPPORT_DEV_AUTH"] = "1"  # as scripts/demo sets it: the local outbox exists only then
    # Started from another directory: the host must still find the checkout's function_app.py.
    proc = await asyncio.create_subprocess_exec(
        str(script), "serve", "--port", "0", "--no-timers", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        base = None
        lines = []
        while base is None:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
            assert line, "rapport serve exited early: " + (await proc.stderr.read()).decode()[-2000:]
            lines.append(line.decode())
            m = re.search(r"serving on (http://127\.0\.0\.1:\d+)", lines[-1])
            base = m.group(1) if m else None
        status = None
        for _ in range(50):  # bounded poll; it is normally up on the first try
            try:
                async with http.get(f"{base}/api/health") as resp:
                    status, body = resp.status, await resp.json()
                    break
            except OSError:
                await asyncio.sleep(0.1)
        assert status == 200 and body["status"] == "ok"
        async with http.get(f"{base}/dev/outbox") as resp:
            assert resp.status == 200
        async with http.get(f"{base}/addin/taskpane.html") as resp:
            assert resp.status == 200 and resp.headers["content-type"].startswith("text/html")
        proc.send_signal(signal.SIGINT)
        rc = await asyncio.wait_for(proc.wait(), timeout=30)
        out = (await proc.stdout.read()).decode()
        err = (await proc.stderr.read()).decode()
        assert rc == 0, err[-2000:]
        assert "stopped" in out
        assert "GET /api/health 200" in err  # the structured access line...
        assert "Traceback" not in err
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_rapport_trigger_unknown_name_exits_2(tmp_path):
    script = Path(sys.executable).parent / "rapport"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAPPORT_", "COSMOS_"))}
    env["RAPPORT_SQLITE_PATH"] = str(tmp_path / "rapport.db")
    proc = await asyncio.create_subprocess_exec(
        str(script), "trigger", "no_such_timer", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 2
    assert "no timer trigger named 'no_such_timer'" in err.decode() and "drain_work" in err.decode()


# --- start-up refusals -----------------------------------------------------------------------------

def test_dev_auth_is_refused_off_loopback(capsys):
    from rapport.settings import load_settings

    s = load_settings({"RAPPORT_DEV_AUTH": "1", "RAPPORT_SQLITE_PATH": ":memory:"})
    assert devhost.serve(s, host="0.0.0.0", port=0) == 2
    assert "RAPPORT_DEV_AUTH" in capsys.readouterr().err


async def test_serve_reports_a_busy_port(dev_settings, capsys):
    busy = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = busy.sockets[0].getsockname()[1]
    try:
        assert await devhost._serve(dev_settings, "127.0.0.1", port, False, False) == 1
    finally:
        busy.close()
        await busy.wait_closed()
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


async def test_demo_needs_the_store(capsys):
    from rapport.settings import load_settings

    down = load_settings({"RAPPORT_SQLITE_PATH": "/proc/rapport-nope/rapport.db"})
    assert await devhost._serve(down, "127.0.0.1", 0, True, False) == 1
    err = capsys.readouterr().err
    assert "record store is unavailable" in err and "cannot seed the demo firm" in err


async def test_literal_routes_win_over_parameters_and_catch_alls(start_devhost, http):
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="files/{*rest}", methods=["GET"])
    async def catch_all(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("catch-all " + req.route_params["rest"])

    @app.route(route="files/{name}", methods=["GET"])
    async def one(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("param " + req.route_params["name"])

    @app.route(route="files/special", methods=["GET"])
    async def special(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("literal")

    host = await start_devhost(app=app, prefix="api")
    for path, expected in (("special", "literal"), ("x", "param x"), ("a/b", "catch-all a/b")):
        async with http.get(f"{host.base_url}/api/files/{path}") as resp:
            assert await resp.text() == expected


async def test_an_app_is_indexed_once_for_every_host_and_test(start_devhost, http):
    # FunctionApp.get_functions() may run once per app (the library's duplicate-name check), so the
    # triggers are read through local.host.functions, the one reader, with no private attribute.
    from local.host import functions

    app = _echo_app()
    first = functions(app)
    host = await start_devhost(app=app, prefix="api")
    async with http.get(f"{host.base_url}/api/plain") as resp:
        assert await resp.text() == "hello"
    assert functions(app) is first


