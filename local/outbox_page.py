"""/dev/outbox: the demo screen of what the embedded default "sent" (local host, loopback only).

The page is rendered here as plain, escaped HTML (readable without scripts) from
rapport.local_outbox.outbox_view; then addin/web/outbox.js takes over from
`/dev/outbox.json?view=cards`. Clicking a card's button posts to /dev/outbox/action, a trigger of
function_app (bot/dev_outbox.py: the verbs are the bot's).
"""

from __future__ import annotations

import html
from typing import Any

CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _e(value: Any) -> str:
    return html.escape(str(value or ""), quote=True)


def _when(iso: str) -> str:
    return iso[:16].replace("T", " ") + " UTC" if iso else ""


def _partner_html(v: dict[str, Any]) -> str:
    kind = "Outlook actionable message" if v["channel"] == "actionable-mail" else "Teams"
    return (f'<article class="delivery partner" data-outbox-id="{_e(v["id"])}" data-thread="{_e(v["thread"])}">'
            f'<header><span class="chip">{kind}</span> to <b>{_e(", ".join(v["to"]))}</b>'
            f' <time datetime="{_e(v["at"])}">{_e(_when(v["at"]))}</time></header>'
            f'<h3 class="subject">{_e(v["subject"])}</h3>'
            f'<div class="card-host"><p class="muted">The card shows here with scripts on.</p></div></article>')


def _mail_html(v: dict[str, Any]) -> str:
    cc = f'<div><dt>Cc</dt><dd>{_e(", ".join(v["cc"]))}</dd></div>' if v["cc"] else ""
    return (f'<article class="delivery mail" data-outbox-id="{_e(v["id"])}">'
            f'<dl class="headers"><div><dt>From</dt><dd>{_e(v.get("from") or v["fromOid"])}</dd></div>'
            f'<div><dt>To</dt><dd>{_e(", ".join(v["to"]))}</dd></div>{cc}'
            f'<div><dt>Subject</dt><dd class="subject">{_e(v["subject"])}</dd></div>'
            f'<div><dt>Sent</dt><dd><time datetime="{_e(v["at"])}">{_e(_when(v["at"]))}</time></dd></div></dl>'
            f'<pre class="body">{_e(v["body"])}</pre></article>')


def page(data: dict[str, Any], web: str = "/addin") -> str:
    partner, mail = data["partner"], data["mail"]
    hidden = "" if not partner and not mail else " hidden"
    empty = f'<p id="empty" class="empty"{hidden}>Nothing has been sent yet.</p>'
    none = '<p class="muted none">None yet.</p>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>Rapport outbox (local)</title>
<link rel="icon" href="{web}/icons/icon-32.png"><link rel="stylesheet" href="{web}/outbox.css">
<script src="{web}/vendor/adaptivecards.min.js"></script>
<script src="{web}/cards-host.js"></script>
<script src="{web}/outbox.js" defer></script></head>
<body><header class="brand"><span class="logo" aria-hidden="true">R</span> Rapport <span class="where">local outbox</span>
<span id="status" class="status" role="status" aria-live="polite"></span></header>
<main><p class="intro">What Rapport would have sent. On the embedded default nothing leaves this machine:
the partner's Teams cards and the mail to clients land here. Act on a card as its partner would in Teams.</p>
{empty}
<div class="columns">
<section id="partner" aria-labelledby="partner-h"><h2 id="partner-h">Teams (to the partner)
<span class="count">{len(partner)}</span></h2><div class="list">{"".join(map(_partner_html, partner)) or none}</div></section>
<section id="mail" aria-labelledby="mail-h"><h2 id="mail-h">Mail (to clients)
<span class="count">{len(mail)}</span></h2><div class="list">{"".join(map(_mail_html, mail)) or none}</div></section>
</div></main></body></html>"""
