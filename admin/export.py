"""GET /api/admin/export?family=F[&after=CURSOR][&limit=N]: one page of a firm's export over HTTP
(admin_only: audited as admin.export.read).

The body is NDJSON: the page's stored documents of family F, one per line, exactly as
`rapport tenant export` writes them to F.jsonl; header x-rapport-next holds the cursor of the next
page ("" at the end). A script fetches family after family, page after page, and so holds one page
at a time, as the CLI does (an HTTP answer here is one body, not a stream: paging is what keeps it
small). The tenant is always the caller's (the token's), never a parameter.
Import and purge stay CLI-only: an import is a migration step with files larger than any request
body Rapport accepts, and a purge, which cannot be undone, is an operator's act at the console.
"""

from __future__ import annotations

from admin.auth import AdminCaller, admin_only
from rapport import runtime
from rapport.records import FAMILIES
from rapport.web import Answer, ApiError, Request

MAX_PAGE = 1000


@admin_only
async def export_page(request: Request, caller: AdminCaller) -> Answer:
    family = request.params.get("family", "")
    if family not in FAMILIES:
        raise ApiError(400, f"family must be one of: {', '.join(FAMILIES)}")
    try:
        limit = int(request.params.get("limit") or MAX_PAGE)
    except ValueError:
        raise ApiError(400, "limit must be a whole number") from None
    if not 1 <= limit <= MAX_PAGE:
        raise ApiError(400, f"limit must be between 1 and {MAX_PAGE}")
    after = request.params.get("after") or None
    store = await runtime.store()
    page = await store.scan(caller.tenant_id, family, after=after, limit=limit)
    body = "".join(text + "\n" for text in page.items).encode("utf-8")
    return Answer(200, body, mimetype="application/x-ndjson",
                  headers={"x-rapport-next": page.cursor or "", "x-rapport-count": str(len(page.items)),
                           "cache-control": "no-store"})
