"""The store raises plain exceptions; the HTTP boundary (rapport.web.refusal) alone gives them a
status, and both hosts (function_app._http, the local host's error middleware) answer through it
with the same status and message the store's errors always had."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import azure.functions as func
import pytest
from aiohttp.test_utils import make_mocked_request

import function_app
from local import host
from rapport.store import AlreadyExists, BadCursor, Conflict, NotFound, StoreError, StoreUnavailable
from rapport.web import ApiError, refusal

STORE = Path(__file__).resolve().parent.parent / "rapport" / "store"

# What each store exception is answered with (the answers of the HTTP errors they used to be).
ANSWERS = [
    (StoreUnavailable("sqlite: disk I/O error"), 503,
     "Rapport's record store is unavailable right now; try again shortly"),
    (Conflict(), 409, "this record was changed by someone else; reload and try again"),
    (NotFound(), 404, "not found"),
    (BadCursor(), 400, "the paging cursor is not valid"),
]


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at module level or inside functions."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def test_the_store_package_imports_nothing_from_the_web_layer():
    files = sorted(STORE.glob("*.py"))
    assert {f.name for f in files} >= {"__init__.py", "base.py", "errors.py", "cursor.py", "scope.py"}
    for f in files:
        web = sorted(m for m in _imports(f) if m == "rapport.web" or m.startswith("rapport.web."))
        assert not web, f"rapport/store/{f.name} imports {web}"
    assert not {m for m in _imports(STORE / "errors.py") if m.startswith("rapport")}


@pytest.mark.parametrize(("exc", "status", "message"), ANSWERS, ids=lambda v: type(v).__name__)
def test_each_store_exception_has_one_status_and_its_old_message(exc, status, message):
    assert isinstance(exc, StoreError) and not isinstance(exc, ApiError)
    refused = refusal(exc)
    assert (refused.status, refused.message, refused.headers) == (status, message, {})
    assert str(exc) == message  # what the CLI prints and a failed work item records


def test_anything_else_is_not_a_refusal():
    api = ApiError(413, "too big", headers={"retry-after": "1"})
    assert refusal(api) is api
    assert refusal(AlreadyExists("doc-1")) is None  # a create-only clash that escapes is a bug: 500
    assert refusal(RuntimeError("boom")) is None


@pytest.mark.parametrize(("exc", "status", "message"), ANSWERS, ids=lambda v: type(v).__name__)
async def test_function_app_answers_a_store_exception_with_its_status(exc, status, message):
    async def handler(request):
        raise exc

    req = func.HttpRequest("GET", "http://127.0.0.1/api/x", headers={"x-correlation-id": "cid-1"}, body=b"")
    resp = await function_app._http(req, handler)
    assert resp.status_code == status
    assert json.loads(resp.get_body()) == {"error": {"status": status, "message": message, "correlationId": "cid-1"}}


@pytest.mark.parametrize(("exc", "status", "message"), ANSWERS, ids=lambda v: type(v).__name__)
async def test_the_local_host_answers_a_store_exception_with_its_status(exc, status, message):
    async def handler(request):
        raise exc

    request = make_mocked_request("GET", "/dev/x", headers={"x-correlation-id": "cid-2"})
    resp = await host._errors(request, handler)
    assert resp.status == status
    assert json.loads(resp.body) == {"error": {"status": status, "message": message, "correlationId": "cid-2"}}
