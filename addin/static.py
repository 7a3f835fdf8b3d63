"""GET /addin/{*path} : the task pane's files (addin/web/), served by a trigger so Azure and
`rapport serve` serve them alike.

Safe by construction: a path is accepted only as plain segments (no '..', no dotfiles, no
backslashes or NULs, nothing that resolves outside addin/web/, symlinks included) and only for
file types in an allow-list, each with its exact content type and nosniff. Our own files are
revalidated on every load (ETag, so a deploy shows at once); vendor/ copies are immutable per
version, so Outlook may cache them.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from rapport.web import Answer, ApiError, Request

WEB_ROOT = Path(__file__).resolve().parent / "web"

TYPES = {
    ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".json": "application/json",
    ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon", ".txt": "text/plain",
}

# The pane loads only its own files and Office.js (with what Office.js itself pulls in, per
# OfficeDev/office-js#1005), and talks to its own API, Entra and Office's telemetry endpoint.
# Inline styles: the Adaptive Cards renderer and Office.js set them (OfficeDev/office-js#1687).
CSP = (
    "default-src 'self'; script-src 'self' https://appsforoffice.microsoft.com https://ajax.aspnetcdn.com; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'self' https://login.microsoftonline.com https://browser.pipe.aria.microsoft.com; "
    "object-src 'none'; base-uri 'self'; "
    "form-action 'none'; frame-src https://login.microsoftonline.com https://appsforoffice.microsoft.com"
)


def resolve(rel: str, root: Path = WEB_ROOT) -> Path | None:
    """The file under `root` that `rel` names, or None if it is not a servable file there."""
    if not rel:
        rel = "taskpane.html"
    if len(rel) > 200 or "\x00" in rel or "\\" in rel or rel.startswith("/"):
        return None
    parts = rel.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    if Path(parts[-1]).suffix.lower() not in TYPES:
        return None
    base = root.resolve()
    target = (base / rel).resolve()
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target


@lru_cache(maxsize=64)
def _load(path: Path, mtime_ns: int) -> tuple[bytes, str]:
    data = path.read_bytes()
    return data, '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def _config() -> Answer:
    """The pane's sign-in settings, from the app settings: public identifiers only, no secrets."""
    from rapport import runtime

    s = runtime.settings()
    audience = s.api_audience
    return Answer(200, {"clientId": s.client_id or "", "scope": f"{audience}/access_as_user" if audience else ""},
                  headers={"cache-control": "no-cache"})


def _rel_path(request: Request) -> str:
    # The trigger's {*path}: taken from the URL path (decoded once) after "/addin/".
    path = urlsplit(request.path).path
    marker = "/addin/"
    at = path.find(marker)
    if at < 0:
        return "" if path.rstrip("/").endswith("/addin") else "\x00"
    return unquote(path[at + len(marker):], errors="strict")


async def serve_static(request: Request) -> Answer:
    if request.method not in ("GET", "HEAD"):
        raise ApiError(405, "only GET is allowed here", headers={"allow": "GET, HEAD"})
    try:
        rel = _rel_path(request)
    except UnicodeDecodeError:
        raise ApiError(404, "no such file") from None
    if rel == "config.json":
        return _config()
    target = resolve(rel)
    if target is None:
        raise ApiError(404, "no such file")
    data, etag = _load(target, target.stat().st_mtime_ns)
    suffix = target.suffix.lower()
    vendor = target.relative_to(WEB_ROOT.resolve()).parts[0] == "vendor"
    headers = {
        "etag": etag,
        "cache-control": "public, max-age=604800, immutable" if vendor else "no-cache",
    }
    if suffix == ".html":
        headers["content-security-policy"] = CSP
        headers["referrer-policy"] = "no-referrer"
    if_none = request.header("if-none-match")
    if if_none and etag in [t.strip() for t in if_none.split(",")]:
        return Answer(304, None, headers=headers, mimetype=TYPES[suffix])
    return Answer(200, b"" if request.method == "HEAD" else data, headers=headers, mimetype=TYPES[suffix])
