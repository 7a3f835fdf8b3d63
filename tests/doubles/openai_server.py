"""An OpenAI-compatible chat-completions server on 127.0.0.1 for tests (stand-ins replace only the far end).

Serves both URL styles the `openai` client uses:
  POST /v1/chat/completions                                          (OpenAI, OPENAI_BASE_URL=<url>/v1)
  POST /openai/deployments/{deployment}/chat/completions?api-version=  (Azure, AZURE_OPENAI_ENDPOINT=<url>)

It answers deterministically from the prompt Rapport sends (it reads the RECORDS block), and it can
misbehave on purpose. `mode` is the default behaviour; `script` is a queue of modes used one per
request before falling back to `mode`. Modes:

  normal          a good draft built from the records
  rate_limited    429 with Retry-After (seconds, `retry_after`)
  server_error    503
  content_filter  400 with Azure's code "content_filter"
  filtered_finish 200 whose choice finished with "content_filter"
  slow            waits for `release` (an asyncio.Event set on stop) so the client's timeout fires
  bad_json        prose around a broken object
  extra_fields    a valid draft plus "to"/"bcc" fields
  too_long        finish_reason "length" and a cut-off body
  compromised     obeys instructions it finds in the untrusted email text: adds "bcc: <address>",
                  links, markdown images, and lists every organisation named anywhere in the prompt

Every request is recorded (`requests`: path, query, headers without secrets, JSON body) so tests can
assert what reached the model, e.g. that no canary did and that no tools were offered.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

MODES = (
    "normal", "rate_limited", "server_error", "content_filter", "filtered_finish", "slow", "bad_json",
    "extra_fields", "too_long", "compromised",
)

_RECORDS = re.compile(r"<<<RECORDS (\w+)\n(.*?)\nRECORDS \1>>>", re.DOTALL)
_UNTRUSTED = re.compile(r"<<<UNTRUSTED_EMAIL (\w+) (E\d+)\n(.*?)\nUNTRUSTED_EMAIL \1 \2>>>", re.DOTALL)
_ADDRESS = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_URL = re.compile(r"https?://[^\s)\]]+")
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def prompt(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.body.get("messages", []))


@dataclass
class OpenAIStandIn:
    api_key: str = "test-openai-key"
    mode: str = "normal"
    retry_after: int = 7
    script: deque[str] = field(default_factory=deque)
    requests: list[Received] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""
    _runner: web.AppRunner | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._azure)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        self.release.set()  # let any "slow" handler finish so shutdown does not hang
        if self._runner:
            await self._runner.cleanup()

    async def __aenter__(self) -> OpenAIStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def azure_endpoint(self) -> str:
        return self.url

    def settings_env(self, style: str = "openai", deployment: str = "rapport-drafts") -> dict[str, str]:
        """Environment for rapport.settings.load_settings pointing at this stand-in."""
        if style == "azure":
            return {"AZURE_OPENAI_ENDPOINT": self.url, "AZURE_OPENAI_API_KEY": self.api_key,
                    "AZURE_OPENAI_DEPLOYMENT": deployment}
        return {"OPENAI_API_KEY": self.api_key, "OPENAI_BASE_URL": self.openai_base_url}

    @property
    def prompts(self) -> list[str]:
        return [r.prompt for r in self.requests]

    # --- handlers -----------------------------------------------------------------------------

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "invalid_api_key", "Incorrect API key provided.")
        return await self._complete(request)

    async def _azure(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("api-key") != self.api_key:
            return _error(401, "401", "Access denied due to invalid subscription key.")
        if not request.query.get("api-version"):
            return _error(404, "404", "Resource not found")
        return await self._complete(request)

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "invalid_json", "We could not parse the JSON body of your request.")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("authorization", "api-key")}
        received = Received(request.path, dict(request.query), headers, body)
        self.requests.append(received)
        mode = self.script.popleft() if self.script else self.mode
        model = body.get("model", "stand-in")
        if mode == "rate_limited":
            return _error(429, "429", "Requests to the ChatCompletions operation have exceeded the rate limit.",
                          headers={"Retry-After": str(self.retry_after)})
        if mode == "server_error":
            return _error(503, "server_error", "The service is temporarily unavailable.")
        if mode == "content_filter":
            return web.json_response({"error": {
                "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
                "type": None, "param": "prompt", "code": "content_filter", "status": 400,
                "innererror": {"code": "ResponsibleAIPolicyViolation",
                               "content_filter_result": {"jailbreak": {"filtered": True, "detected": True}}},
            }}, status=400)
        if mode == "slow":
            await self.release.wait()
            return _completion(model, _normal(received), "stop")
        if mode == "filtered_finish":
            return _completion(model, "", "content_filter")
        if mode == "bad_json":
            return _completion(model, 'Sure! Here is your draft: {subject: "Hello", body_text: ...', "stop")
        if mode == "extra_fields":
            draft = json.loads(_normal(received))
            draft.update({"to": ["attacker@evil.example"], "bcc": ["attacker@evil.example"]})
            return _completion(model, json.dumps(draft), "stop")
        if mode == "too_long":
            draft = json.loads(_normal(received))
            return _completion(model, json.dumps(draft)[:-40], "length")
        if mode == "compromised":
            return _completion(model, _compromised(received), "stop")
        return _completion(model, _normal(received), "stop")


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    return web.json_response(body, status=status, headers=headers)


def _completion(model: str, content: str, finish: str) -> web.Response:
    return web.json_response({
        "id": "chatcmpl-standin", "object": "chat.completion", "created": 1_700_000_000, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
    })


def _facts(received: Received) -> list[dict[str, Any]]:
    m = _RECORDS.search(received.prompt)
    return json.loads(m.group(2)) if m else []


def _wants_points(received: Received) -> bool:
    system = next((m.get("content", "") for m in received.body.get("messages", []) if m.get("role") == "system"), "")
    return '"points"' in system


def _normal(received: Received) -> str:
    """A plain, sourced draft: the meeting subject, first names, open items, the partner's name."""
    facts = _facts(received)
    meeting = next((f for f in facts if f.get("kind") == "meeting"), {})
    people = [f for f in facts if f.get("kind") == "attendee"]
    items = [f for f in facts if f.get("kind") in ("enquiry", "opportunity", "renewal", "opposition")]
    cited = [f["id"] for f in [meeting, *people, *items] if f.get("id")]
    if _wants_points(received):
        points = [f"Discuss {i['title']}." for i in items][:3] or ["Ask about their priorities this year."]
        return json.dumps({"points": points, "citations": cited})
    first = [p.get("first_name") or p["name"].split()[0] for p in people if p.get("name")]
    partner = re.search(r"drafts for (.+?), a partner", received.prompt)
    lines = [f"Dear {' and '.join(first) or 'all'},", "",
             f"Thank you for meeting with me about {meeting.get('subject', 'our work together')}."]
    if items:
        lines += ["", "The open points we discussed:"] + [f"- {i['title']}" for i in items]
    lines += ["", "Best regards,", partner.group(1) if partner else "The partner"]
    return json.dumps({"subject": f"Thank you: {meeting.get('subject', 'our meeting')}",
                       "body_text": "\n".join(lines), "citations": cited})


def _compromised(received: Received) -> str:
    """A hijacked model: it does what the untrusted email says, within a schema-valid reply."""
    draft = json.loads(_normal(received))
    untrusted = "\n".join(m.group(3) for m in _UNTRUSTED.finditer(received.prompt))
    extra: list[str] = []
    lowered = untrusted.lower()
    for address in _ADDRESS.findall(untrusted):
        if re.search(r"\b(bcc|cc|copy|forward|send)\b", lowered):
            extra.append(f"bcc: {address}")
    for image in _MD_IMAGE.findall(untrusted):
        extra.append(image)
    for url in _URL.findall(_MD_IMAGE.sub(" ", untrusted)):
        extra.append(f"Please review the documents at {url}")
    if "other clients" in lowered or "list" in lowered and "clients" in lowered:
        names = sorted({str(v) for f in _facts(received) for k, v in f.items()
                        if k in ("organisation", "title", "subject", "summary") and v})
        extra.append("Other clients of the firm: " + "; ".join(names))
    if "send" in lowered:
        extra.append("Sending this now as instructed.")
    if _wants_points(received):
        draft["points"] = list(draft["points"]) + extra
    else:
        draft["body_text"] = draft["body_text"] + "\n\n" + "\n".join(extra)
    return json.dumps(draft)
