"""Framework-neutral pieces of an HTTP answer: errors with a correlation id, JSON bodies, limits.

The triggers in function_app.py turn these into azure.functions.HttpResponse; keeping them here
means the domain never imports azure.functions and every route fails the same way. `refusal` is the
one place where an exception from below the surface (the store's, rapport.store.errors) becomes an
HTTP status: both hosts (function_app._http, local.host) answer through it.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import PydanticSerializationError, to_json

from rapport.firm import FirmInputError
from rapport.store.errors import BadCursor, Conflict, NotFound, StoreUnavailable
from rapport.text import clean, clean_json

MAX_JSON_BODY = 256 * 1024  # the add-in and bot send small JSON; anything bigger is a mistake or an attack
MAX_JSON_DEPTH = 32


class ApiError(Exception):
    """A request Rapport refuses, with a short message safe to show the caller."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


# The status each plain exception of the lower layers is answered with; its message is the
# exception's own sentence (written to be shown). Any other exception is a bug: a 500.
STATUS_OF: dict[type[Exception], int] = {
    StoreUnavailable: 503,
    Conflict: 409,
    NotFound: 404,
    BadCursor: 400,
    FirmInputError: 400,  # bad input to a firm's people or settings (rapport.firm), as the CLI's exit 2
}


def refusal(exc: BaseException) -> ApiError | None:
    """The refusal a request that raised `exc` is answered with: an ApiError as it is, a store
    exception by STATUS_OF; None for anything else (the host answers 500 and logs the trace)."""
    if isinstance(exc, ApiError):
        return exc
    for cls, status in STATUS_OF.items():
        if isinstance(exc, cls):
            return ApiError(status, str(exc))
    return None


@dataclass
class Answer:
    """What a handler returns: status, JSON-able body or text, headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    mimetype: str = "application/json"

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str) and self.mimetype != "application/json":
            return self.body.encode("utf-8")
        try:
            return to_json(self.body)  # compact UTF-8, as json.dumps(separators=(",", ":"), ensure_ascii=False), 2-3x faster
        except PydanticSerializationError:
            # Text that reached an answer without passing the boundary (a lone surrogate cannot be
            # UTF-8): the answer shows it cleaned rather than failing.
            return to_json(clean_json(self.body))


@dataclass
class Request:
    """An inbound HTTP request as the handlers see it, whichever host received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    params: dict[str, str]
    body: bytes
    correlation_id: str

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return parse_json_body(self.body, self.header("content-type"))


def clean_params(params: Any) -> dict[str, str]:
    """A query string's names and values as one-line clean text (rapport.text.clean): every route's
    parameters go through here (function_app._http), before any handler reads them."""
    return {clean(k, multiline=False): clean(v, multiline=False) for k, v in dict(params).items()}


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def error_answer(status: int, message: str, correlation_id: str, headers: dict[str, str] | None = None) -> Answer:
    return Answer(
        status=status,
        body={"error": {"status": status, "message": message, "correlationId": correlation_id}},
        headers={"x-correlation-id": correlation_id, **(headers or {})},
    )


def _depth(value: Any, limit: int) -> int:
    """How many containers deep `value` nests (a scalar: 0; {"a": [1]}: 2), counting no further
    than past `limit`. Iterative so a hostile body cannot blow the Python stack before we refuse it."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    deepest = 0
    while stack:
        item, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        stack.extend((v, d + 1) for v in (item.values() if isinstance(item, dict) else item)
                     if isinstance(v, dict | list))
    return deepest


def parse_json_body(raw: bytes, content_type: str | None, *, max_bytes: int = MAX_JSON_BODY) -> Any:
    """Parse a JSON request body or raise ApiError 413/415/400 with a plain message. Every string
    in it (names too) comes back as clean text (rapport.text.clean): JSON escapes can carry lone
    surrogates, NUL and bidi overrides that no record may keep. Every route parses its body here."""
    if len(raw) > max_bytes:
        raise ApiError(413, f"request body is too large (limit {max_bytes // 1024} KB)")
    if content_type is not None and "json" not in content_type.lower():
        raise ApiError(415, "request body must be application/json")
    if not raw:
        raise ApiError(400, "request body is empty; expected a JSON object")
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "request body is not valid JSON") from None
    except RecursionError:
        raise ApiError(400, "request body is nested too deeply") from None
    if _plain(raw):
        # Nothing to clean, and the nesting can be read off the raw brackets at C speed: a 1 MB
        # Graph batch costs its json.loads (~4 ms), not a walk of every value (~30 ms) that holds the
        # GIL while the sidebar waits.
        if _raw_depth(raw) > MAX_JSON_DEPTH:
            raise ApiError(400, "request body is nested too deeply")
        return value
    if _depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise ApiError(400, "request body is nested too deeply")
    return clean_json(value)


_STRING = re.compile(rb'"[^"]*"')
_PAIR = re.compile(rb"\[\]|\{\}")
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def _plain(raw: bytes) -> bool:
    """UTF-8 printable ASCII with no escape anywhere: then every string in it is already clean text
    (strict JSON has no raw control character in a string, and without a backslash no escape can
    make one), so rapport.text.clean would return each unchanged. A NUL byte means UTF-16 or -32
    (json.loads accepts those, and their ASCII-looking bytes can spell any character): not plain."""
    return raw.isascii() and b"\\" not in raw and b"\x7f" not in raw and b"\x00" not in raw


def _raw_depth(raw: bytes) -> int:
    """The nesting depth (as `_depth` counts it) of a valid JSON text that `_plain` accepts (so no string holds a quote):
    strings out, brackets only, then innermost pairs removed a level at a time (C-speed passes).
    Stops counting past MAX_JSON_DEPTH."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    depth = 0
    while brackets and depth <= MAX_JSON_DEPTH:
        brackets = _PAIR.sub(b"", brackets)  # one pass: pairs this removal forms wait for the next
        depth += 1
    return depth if not brackets else MAX_JSON_DEPTH + 1
