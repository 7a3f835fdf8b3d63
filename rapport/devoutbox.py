"""/dev/outbox: the demo screen of what the embedded default "sent" (rapport serve, loopback only).

Two groups, newest first:
- Teams (to the partner): meeting briefs and follow-up approval cards, each shown as its Adaptive
  Card (addin/web/outbox.js renders it with the task pane's renderer and host config). A card that
  was delivered again for the same draft or meeting (the local stand-in for Teams updating the
  message in place) is one thread: only its newest card is shown, as Teams would show it.
- Mail (to clients): the follow-ups that were sent, as text.

The page is rendered here as plain, escaped HTML (readable without scripts), then outbox.js takes
over from `/dev/outbox.json?view=cards`. Clicking a card's button posts to /dev/outbox/action,
which lives in bot/dev_outbox.py (the verbs are the bot's; rapport/ never imports bot/).
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

from rapport.records import OutboxItem
from rapport.store.base import Store

LIMIT = 200  # per tenant; a demo outbox holds tens
PARTNER_CHANNELS = ("teams", "actionable-mail")
REF_KEYS = ("draftId", "meetingId")  # what a card's actions act on
_OUTBOX_ID = re.compile(r"^ob_[0-9a-f]{32}$")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def card_refs(card: Any) -> set[tuple[str, str]]:
    """The (key, id) pairs the card's Action.Execute data name: the only things its buttons may act on."""
    refs: set[tuple[str, str]] = set()
    stack = [card]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            data = node.get("data")
            if node.get("type") == "Action.Execute" and isinstance(data, dict):
                refs.update((k, data[k]) for k in REF_KEYS if isinstance(data.get(k), str))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return refs


def _thread(item: OutboxItem) -> str:
    refs = sorted(card_refs(item.card)) if item.card else []
    if refs:
        key, ref = refs[0]
        return f"{item.tenantId}:{item.channel}:{key}:{ref}"
    return item.id


def _iso(at: datetime) -> str:
    return at.isoformat()


def view(item: OutboxItem, updates: int = 0) -> dict[str, Any]:
    """What the page shows of one delivery (full body: this page is for this machine only)."""
    return {
        "id": item.id, "tenantId": item.tenantId, "at": _iso(item.at), "channel": item.channel,
        "to": list(item.to), "cc": list(item.cc), "fromOid": item.fromOid, "subject": item.subject,
        "body": item.body if item.channel == "mail" else "", "card": item.card, "thread": _thread(item),
        "updates": updates,
    }


async def _all(store: Store) -> list[OutboxItem]:
    out: list[OutboxItem] = []
    for tid in await store.backend.list_tenant_ids():
        out.extend((await store.find(OutboxItem, tid, newest_first=True, limit=LIMIT)).items)
    out.sort(key=lambda i: (_iso(i.at), i.id), reverse=True)
    return out


async def outbox_view(store: Store) -> dict[str, Any]:
    """{"partner": [newest card per thread], "mail": [every mail], "senders": {oid: upn}}, newest first."""
    partner: list[dict[str, Any]] = []
    mail: list[dict[str, Any]] = []
    seen: dict[str, dict[str, Any]] = {}
    senders: dict[tuple[str, str], str] = {}
    for item in await _all(store):
        if item.channel in PARTNER_CHANNELS:
            thread = _thread(item)
            if thread in seen:
                seen[thread]["updates"] += 1  # an older state of a card shown already
                continue
            seen[thread] = view(item)
            partner.append(seen[thread])
        else:
            v = view(item)
            if item.fromOid:
                key = (item.tenantId, item.fromOid)
                if key not in senders:
                    person = await store.get_person(item.tenantId, item.fromOid)
                    senders[key] = f"{person.name} <{person.upn}>" if person else item.fromOid
                v["from"] = senders[key]
            mail.append(v)
    return {"partner": partner, "mail": mail}


async def find_item(store: Store, outbox_id: Any) -> OutboxItem | None:
    """The delivery with this id in whichever tenant holds it, or None (also for a malformed id)."""
    if not isinstance(outbox_id, str) or not _OUTBOX_ID.match(outbox_id):
        return None
    for tid in await store.backend.list_tenant_ids():
        item = await store.get(OutboxItem, tid, outbox_id)
        if item is not None:
            return item
    return None


# --- the page (server-rendered first paint; outbox.js re-renders with the cards) ---------------

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
