"""POST /api/admin/walls/import : the firm's walls system pushes its walls (the same import as
`rapport walls import`, rapport.firm.walls).

Body: the export itself, CSV (text/csv) or JSON Lines (application/x-ndjson, application/jsonl),
at most MAX_BODY bytes. Query: `mode=full|partial` (default partial: a full push ends the walls it
does not list), `skipBadRows=true`, `dryRun=true`. The tenant is the caller's (from the token);
nothing in the body names one.

Answers 200 with what changed ({rows, walls, created, updated, unchanged, ended, bad, problems,
notes, syncedAt, dryRun}); 422 with the bad rows (line and reason, the first 200) and nothing
written when the file has bad rows and skipBadRows is not set; 400 for a file that cannot be
imported at all; 413 / 415 for a body too big or of another type.

The route (function_app.admin_walls_import) is `walls_import`: the handler behind admin/auth.py's
admin_only (Rapport's admin app role for the token's tenant; the call audited as "admin.walls.import").
"""

from __future__ import annotations

import io
from typing import Any

from admin.auth import admin_only
from rapport import runtime
from rapport.firm.rows import ImportFileError
from rapport.firm.walls import import_walls
from rapport.records import iso
from rapport.web import Answer, ApiError, Request

MAX_BODY = 32 * 1024 * 1024  # a firm's whole wall list, with room; a push of changes is far smaller
TYPES = {"text/csv", "application/x-ndjson", "application/jsonl", "application/json-lines", "text/plain"}
TRUE = {"1", "true", "yes"}


def _flag(request: Request, name: str) -> bool:
    value = request.params.get(name, "").strip().lower()
    if value and value not in TRUE | {"0", "false", "no"}:
        raise ApiError(400, f"{name} must be true or false")
    return value in TRUE


async def import_walls_handler(request: Request, caller: Any) -> Answer:
    ctype = (request.header("content-type") or "").split(";")[0].strip().lower()
    if ctype not in TYPES:
        raise ApiError(415, "send the walls export as text/csv or application/x-ndjson (JSON Lines)")
    if len(request.body) > MAX_BODY:
        raise ApiError(413, f"the export is larger than {MAX_BODY // (1024 * 1024)} MB; push changes (mode=partial)")
    mode = request.params.get("mode", "partial").strip().lower()
    if mode not in ("full", "partial"):
        raise ApiError(400, "mode must be full or partial")
    text = request.body.decode("utf-8-sig", errors="replace")  # undecodable bytes: reported as bad rows
    try:
        report = await import_walls(
            await runtime.store(), caller.tenant_id, io.StringIO(text, newline=""), full=mode == "full",
            skip_bad=_flag(request, "skipBadRows"), dry_run=_flag(request, "dryRun"), actor=caller.oid,
        )
    except ImportFileError as exc:
        raise ApiError(400, str(exc)) from None
    except LookupError:
        raise ApiError(404, "this tenant is not onboarded") from None
    body = {
        "rows": report.rows, "walls": report.walls, "created": report.created, "updated": report.updated,
        "unchanged": report.unchanged, "ended": report.ended, "bad": report.bad, "dryRun": report.dry_run,
        "problems": [{"line": p.line, "reason": p.reason} for p in report.problems], "notes": report.notes[:200],
        "syncedAt": iso(report.synced_at) if report.synced_at else None,
    }
    if report.refused:
        body["error"] = {"status": 422, "correlationId": request.correlation_id,
                         "message": f"{report.bad} bad rows: nothing written (fix them, or push with skipBadRows=true)"}
        return Answer(422, body, headers={"x-correlation-id": request.correlation_id})
    return Answer(200, body)


walls_import = admin_only(verbs={"POST": "import"})(import_walls_handler)
