"""Bad requests and failures over real HTTP against the local host: a JSON error with a correlation
id, the same shape whether the host or function_app's `_http` made it, and never a stack trace."""

from __future__ import annotations

import logging

import azure.functions as func
import pytest

import function_app
from rapport import runtime
from rapport.settings import load_settings
from rapport.web import Answer, Request

SECRET_MARKER = "trace-marker-7f3a"  # appears only in the exception, so we can see where it leaks


def _test_app() -> func.FunctionApp:
    """A FunctionApp of test-only routes, each going through function_app's real `_http`."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    async def boom(request: Request) -> Answer:
        raise RuntimeError(f"kaboom {SECRET_MARKER}")

    async def echo(request: Request) -> Answer:
        return Answer(200, {"got": request.json()})

    async def needs_store(request: Request) -> Answer:
        store = await runtime.store()
        await store.ping()
        return Answer(200, {"store": store.name})

    @app.route(route="boom", methods=["GET"])
    async def boom_route(req: func.HttpRequest) -> func.HttpResponse:
        return await function_app._http(req, boom)

    @app.route(route="echo", methods=["POST"])
    async def echo_route(req: func.HttpRequest) -> func.HttpResponse:
        return await function_app._http(req, echo)

    @app.route(route="store", methods=["GET"])
    async def store_route(req: func.HttpRequest) -> func.HttpResponse:
        return await function_app._http(req, needs_store)

    @app.route(route="raw-boom", methods=["GET"])
    async def raw_boom(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError(f"outside _http {SECRET_MARKER}")  # a trigger that forgot _http

    @app.route(route="health", methods=["GET"])
    async def health(req: func.HttpRequest) -> func.HttpResponse:
        return await function_app._http(req, runtime.health)

    return app


@pytest.fixture
async def host(start_devhost):
    return await start_devhost(app=_test_app(), prefix="api")


async def _error(resp, status: int) -> dict:
    assert resp.status == status
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.headers["x-content-type-options"] == "nosniff"
    body = await resp.json()
    err = body["error"]
    assert set(body) == {"error"} and err["status"] == status and err["message"]
    assert err["correlationId"] and resp.headers["x-correlation-id"] == err["correlationId"]
    return err


async def test_health_answers_version_and_nothing_else(devhost, http):
    async with http.get(f"{devhost.base_url}/api/health") as resp:
        assert resp.status == 200
        assert resp.headers["content-type"].startswith("application/json")
        body = await resp.json()
    from rapport import __version__

    assert body == {"status": "ok", "version": __version__}


async def test_unknown_route_is_404_json(devhost, http):
    async with http.get(f"{devhost.base_url}/api/no-such-thing") as resp:
        err = await _error(resp, 404)
    assert "route" in err["message"]


async def test_wrong_method_is_405_with_allow(devhost, http):
    async with http.delete(f"{devhost.base_url}/api/health") as resp:
        await _error(resp, 405)
        assert resp.headers["allow"] == "GET"


async def test_correlation_id_from_the_caller_is_kept_and_a_bad_one_replaced(devhost, http):
    async with http.get(f"{devhost.base_url}/api/nope", headers={"x-correlation-id": "abc-123"}) as resp:
        assert (await _error(resp, 404))["correlationId"] == "abc-123"
    async with http.get(f"{devhost.base_url}/api/nope", headers={"x-correlation-id": "<script>"}) as resp:
        assert (await _error(resp, 404))["correlationId"] != "<script>"
    async with http.get(f"{devhost.base_url}/api/health", headers={"x-correlation-id": "fromcaller1"}) as resp:
        assert resp.headers["x-correlation-id"] == "fromcaller1"


async def test_host_errors_look_like_function_errors(host, http):
    async with http.get(f"{host.base_url}/api/nope") as a, http.get(f"{host.base_url}/api/boom") as b:
        ea, eb = await _error(a, 404), await _error(b, 500)
        assert set(ea) == set(eb)
        for h in ("x-content-type-options", "cache-control", "content-type"):
            assert a.headers[h] == b.headers[h]


async def test_unhandled_error_is_500_with_correlation_id_and_the_log_has_the_trace(host, http, caplog):
    for route in ("boom", "raw-boom"):
        caplog.clear()
        with caplog.at_level(logging.INFO):
            async with http.get(f"{host.base_url}/api/{route}") as resp:
                text = await resp.text()
                err = await _error(resp, 500)
        assert SECRET_MARKER not in text and "Traceback" not in text and "RuntimeError" not in text
        traced = [r for r in caplog.records if r.exc_info and SECRET_MARKER in str(r.exc_info[1])]
        assert traced, f"{route}: the log must keep the trace"
        assert getattr(traced[0], "correlation_id", None) == err["correlationId"]


async def test_malformed_json_is_400(host, http):
    url = f"{host.base_url}/api/echo"
    async with http.post(url, data=b'{"a": ', headers={"content-type": "application/json"}) as resp:
        assert "not valid JSON" in (await _error(resp, 400))["message"]
    async with http.post(url, data=b"[" * 100 + b"]" * 100, headers={"content-type": "application/json"}) as resp:
        await _error(resp, 400)
    async with http.post(url, data=b"a=b", headers={"content-type": "application/x-www-form-urlencoded"}) as resp:
        await _error(resp, 415)
    async with http.post(url, json={"tenantId": "x", "ok": [1, 2]}) as resp:
        assert resp.status == 200 and (await resp.json()) == {"got": {"tenantId": "x", "ok": [1, 2]}}


async def test_json_over_the_route_limit_is_413_from_the_function(host, http):
    big = b'{"a":"' + b"x" * (300 * 1024) + b'"}'
    async with http.post(f"{host.base_url}/api/echo", data=big, headers={"content-type": "application/json"}) as resp:
        await _error(resp, 413)


async def test_body_over_the_host_cap_is_413(host, http):
    body = b"x" * (host.max_body + 1)
    async with http.post(f"{host.base_url}/api/echo", data=body, headers={"content-type": "application/json"}) as resp:
        await _error(resp, 413)


async def test_chunked_body_over_the_host_cap_is_413(host, http):
    async def chunks():
        for _ in range(20):
            yield b"x" * (64 * 1024)  # 1.25 MB, no Content-Length

    async with http.post(f"{host.base_url}/api/echo", data=chunks(),
                         headers={"content-type": "application/json"}) as resp:
        await _error(resp, 413)


async def test_store_down_is_503_and_health_still_answers(start_devhost, http, tmp_path):
    # A path no one can create (not even root): /proc refuses new directories.
    down = load_settings({"RAPPORT_SQLITE_PATH": "/proc/rapport-nope/rapport.db"})
    host = await start_devhost(down, app=_test_app(), prefix="api")
    async with http.get(f"{host.base_url}/api/store") as resp:
        err = await _error(resp, 503)
    assert "unavailable" in err["message"] and "/proc" not in err["message"]
    async with http.get(f"{host.base_url}/api/health") as resp:
        assert resp.status == 200


async def test_store_up_answers(host, http):
    async with http.get(f"{host.base_url}/api/store") as resp:
        assert resp.status == 200 and (await resp.json()) == {"store": "sqlite"}


async def test_logs_never_carry_bodies_or_authorization(host, http, caplog):
    token = "Bearer eyJ-not-a-real-token-5c1e"
    body = b'{"note": "privileged-body-text-91b2"}'
    with caplog.at_level(logging.DEBUG):
        for route in ("echo", "raw-boom"):
            method = http.post if route == "echo" else http.get
            async with method(f"{host.base_url}/api/{route}?email=someone%40client.example", data=body,
                              headers={"authorization": token, "content-type": "application/json"}) as resp:
                await resp.read()
    logged = caplog.text + "".join(str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    assert "POST /api/echo 200" in caplog.text  # the access line is there...
    assert "eyJ-not-a-real-token" not in logged and "privileged-body-text" not in logged
    assert "someone" not in logged  # ...without the query string


async def test_a_refused_request_is_logged_by_path_without_host_or_query(host, http, caplog):
    # The refusal line once wrote the whole URL: the caller's Host header and the query string.
    with caplog.at_level(logging.DEBUG):
        async with http.post(f"{host.base_url}/api/echo?email=someone%40client.example", data=b"{not json",
                             headers={"host": "attacker-host.example", "content-type": "application/json"}) as resp:
            assert resp.status == 400
    refused = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert refused and all(m.startswith("refused POST /api/echo: 400") for m in refused)
    assert "attacker-host" not in caplog.text and "someone" not in caplog.text
