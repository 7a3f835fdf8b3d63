"""Where the admin-consent link lands: a page that says plainly what was granted, or what failed.

The link (GraphTokens.consent_url, docs/deploy.md step 2.7) sends the firm's admin to Entra's
`/{tenant}/adminconsent` with `redirect_uri` = CALLBACK_ROUTE under RAPPORT_PUBLIC_URL, which the
app registration lists as a Web redirect URI (docs/deploy.md step 2.1). Entra comes back here with
`tenant` and `admin_consent=True` on success, or `error` and `error_description` when the admin
declined or something failed.

Anyone can open this URL with any parameters, so it changes nothing and reveals nothing: no store
read (whether a tenant is onboarded is not said), no state reset (the consent state clears itself
on the next successful token, rapport.identity.graph_tokens). Every parameter is outsider text: it
is cleaned (rapport.text.clean), links are taken out of the description (rapport.drafting.safety
.strip_links), the error code is kept only when it is a plain word, the tenant only when it is a
GUID, and all of it is HTML-escaped into a page that allows no script, style source or link.
"""

from __future__ import annotations

import html
import re

from rapport.drafting.safety import strip_links
from rapport.text import clean
from rapport.web import Answer, Request

CALLBACK_ROUTE = "api/consent/callback"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_CODE = re.compile(r"^[A-Za-z0-9_.]{1,64}$")
MAX_DESCRIPTION = 400
_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
}


def callback_url(public_url: str) -> str:
    return f"{public_url.rstrip('/')}/{CALLBACK_ROUTE}"


def outcome(params: dict[str, str]) -> tuple[str, str, list[str]]:
    """(kind, title, lines) for the page: kind "granted", "failed" or "none"; plain text lines."""
    tenant = params.get("tenant", "").strip()
    tenant = tenant.lower() if _GUID.match(tenant) else ""
    who = f"your organisation (tenant {tenant})" if tenant else "your organisation"
    error = clean(params.get("error", ""), multiline=False).strip()
    if error:
        code = error if _CODE.match(error) else "an error"
        description = strip_links(clean(params.get("error_description", ""), multiline=False)).strip()
        if len(description) > MAX_DESCRIPTION:
            description = description[: MAX_DESCRIPTION - 1] + "\u2026"
        lines = [f"Admin consent for Rapport was not granted for {who}.",
                 f"Microsoft Entra answered: {code}."]
        if description:
            lines.append(f"Its explanation: {description}")
        lines.append("Nothing was changed. A Global Administrator (or Privileged Role Administrator) of the firm "
                     "can open the consent link again.")
        return "failed", "Rapport: consent not granted", lines
    if params.get("admin_consent", "").strip().lower() == "true":
        return "granted", "Rapport: consent granted", [
            f"Admin consent for Rapport was granted for {who} (admin_consent=True).",
            "Rapport may now read the partners' mail and calendar as the app registration and Exchange "
            "allow; capture resumes on its next sync, within the hour. You can close this page.",
        ]
    return "none", "Rapport: no consent result", [
        "This page shows the result of Rapport's admin-consent link, and this request carries none.",
    ]


async def consent_callback(request: Request) -> Answer:
    """GET api/consent/callback: the consent result as a small HTML page (no links, no script)."""
    kind, title, lines = outcome(request.params)  # params were cleaned by the host (function_app._http)
    paragraphs = "".join(f"<p>{html.escape(line, quote=True)}</p>" for line in lines)
    page = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title>"
            "<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;"
            "line-height:1.5;color:#1b1b1b;background:#fff}</style></head>"
            f"<body data-result=\"{kind}\"><h1>{html.escape(title)}</h1>{paragraphs}</body></html>")
    return Answer(200, page, headers=dict(_HEADERS), mimetype="text/html")
