"""THE list of Rapport's triggers: HTTP routes and timers, as Azure Functions runs them.

`rapport serve` reads this same FunctionApp (app.get_functions()) and runs it on aiohttp and
asyncio, so local runs and end-to-end tests exercise exactly what Azure runs. Each trigger is thin:
it parses, calls one function, and returns. `_http` gives every route the same error handling:
a 4xx with a short message and a correlation id, or a 500 with the correlation id and no trace.
"""

from __future__ import annotations

import logging

import azure.functions as func

from rapport import runtime
from rapport.web import Answer, ApiError, Request, error_answer, new_correlation_id

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
log = logging.getLogger("rapport.http")


async def _http(req: func.HttpRequest, handler) -> func.HttpResponse:
    cid = req.headers.get("x-correlation-id") or new_correlation_id()
    cid = cid if len(cid) <= 64 and cid.replace("-", "").isalnum() else new_correlation_id()
    request = Request(
        method=req.method.upper(),
        path=req.url,
        headers={k.lower(): v for k, v in req.headers.items()},
        params=dict(req.params),
        body=req.get_body() or b"",
        correlation_id=cid,
    )
    try:
        answer: Answer = await handler(request)
        answer.headers.setdefault("x-correlation-id", cid)
    except ApiError as exc:
        log.info("refused %s %s: %s %s", request.method, req.url.split("?")[0], exc.status, exc.message,
                 extra={"correlation_id": cid})
        answer = error_answer(exc.status, exc.message, cid, exc.headers)
    except Exception:  # noqa: BLE001 - the caller gets a correlation id, the log gets the trace
        log.exception("unhandled error in %s", handler.__name__, extra={"correlation_id": cid})
        answer = error_answer(500, "something went wrong on our side; quote the correlation id", cid)
    headers = {"x-content-type-options": "nosniff", "cache-control": "no-store", **answer.headers}
    return func.HttpResponse(answer.encoded(), status_code=answer.status, headers=headers,
                             mimetype=answer.mimetype, charset="utf-8")


# --- probes ------------------------------------------------------------------------------------

@app.route(route="api/health", methods=["GET"])
async def health(req: func.HttpRequest) -> func.HttpResponse:
    return await _http(req, runtime.health)
