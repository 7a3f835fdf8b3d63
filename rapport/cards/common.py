"""Layout pieces shared by every Rapport card (contact, brief, follow-up, ...).

Why the text helpers use RichTextBlock/TextRun: Teams and Outlook run TextBlock text through
markdown, so a sender name or note like "[urgent](https://evil)" would become a link. TextRun text
is never markdown-processed by any host, so untrusted text shows exactly as typed. Everything that
comes from mail, records or a person goes through `text()`/`line()`; only fixed labels may use a
plain TextBlock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from rapport.text import clean, cut

CARD_VERSION = "1.5"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"

VERB_ADD_NOTE = "addNote"
VERB_REFRESH = "refresh"

NOTE_INPUT_ID = "note"
NOTE_MAX_CHARS = 2000

_SPACES = re.compile(r"\s+")

KIND_LABELS = {
    "client": "Client",
    "prospect": "Prospect",
    "foreign_associate": "Foreign associate",
    "other": "Other",
}


def plain(value: Any, limit: int = 200) -> str:
    """Untrusted text made safe to show on one line: Rapport's text rule (rapport.text.clean: no
    control, bidi, zero-width or lone surrogate character), one space between words, cut at `limit`
    with an ellipsis."""
    s = clean(value if isinstance(value, str) else ("" if value is None else str(value)), multiline=False)
    if s.isprintable():  # the common case: the only white space is " " (isprintable refuses the rest)
        if "  " in s:
            s = _SPACES.sub(" ", s)
        s = s.strip()
    else:  # other space characters (no-break, ideographic, ...)
        s = _SPACES.sub(" ", s).strip()
    return cut(s, limit)


def run(value: Any, *, weight: str | None = None, size: str | None = None, color: str | None = None,
        subtle: bool = False, italic: bool = False, limit: int = 200) -> dict[str, Any]:
    raw = "" if value is None else str(value)
    body = plain(raw, limit)
    # Runs sit side by side: keep one space where the caller put space at either end.
    if body:
        body = (" " if raw[:1].isspace() else "") + body + (" " if raw[-1:].isspace() else "")
    r: dict[str, Any] = {"type": "TextRun", "text": body}
    if weight:
        r["weight"] = weight
    if size:
        r["size"] = size
    if color:
        r["color"] = color
    if subtle:
        r["isSubtle"] = True
    if italic:
        r["italic"] = True
    return r


def line(*runs: dict[str, Any] | str, spacing: str | None = None, separator: bool = False) -> dict[str, Any]:
    """A RichTextBlock of runs (strings become plain runs). Never markdown, whatever the host."""
    inlines = [run(r) if isinstance(r, str) else r for r in runs]
    block: dict[str, Any] = {"type": "RichTextBlock", "inlines": [i for i in inlines if i["text"]]}
    if spacing:
        block["spacing"] = spacing
    if separator:
        block["separator"] = True
    return block


def text(value: Any, *, weight: str | None = None, size: str | None = None, color: str | None = None,
         subtle: bool = False, limit: int = 200, spacing: str | None = None) -> dict[str, Any]:
    return line(run(value, weight=weight, size=size, color=color, subtle=subtle, limit=limit), spacing=spacing)


def signal_label(signal: dict[str, Any]) -> str:
    """How a line about a signal starts (the sidebar's and the brief's cards alike): a move, a bounced
    address (where they went is not known) or a new title."""
    if signal.get("kind") == "counsel_move":
        return "Bounced: " if signal.get("via") == "bounce" else "Moved: "
    return "New title: " if signal.get("kind") == "title_change" else "News: "


def heading(label: str) -> dict[str, Any]:
    """A fixed section label (our own text: safe as a TextBlock, marked as a heading for readers)."""
    return {"type": "TextBlock", "text": label, "weight": "Bolder", "size": "Small", "isSubtle": True,
            "wrap": True, "style": "heading", "spacing": "Medium"}


def section(label: str, items: Sequence[dict[str, Any]], *, separator: bool = True) -> dict[str, Any] | None:
    """A titled group, or None when it has nothing to show (callers drop Nones)."""
    if not items:
        return None
    return {"type": "Container", "separator": separator, "spacing": "Medium", "items": [heading(label), *items]}


def row(left: Sequence[dict[str, Any] | str], right: Sequence[dict[str, Any] | str] = ()) -> dict[str, Any]:
    """Two columns: the main text stretching, a short aside on the right (a date, a label)."""
    cols: list[dict[str, Any]] = [{"type": "Column", "width": "stretch", "items": [line(*left)]}]
    if right:
        cols.append({"type": "Column", "width": "auto", "items": [line(*right)]})
    return {"type": "ColumnSet", "spacing": "Small", "columns": cols}


def execute(title: str, verb: str, data: dict[str, Any] | None = None, *,
            style: str | None = None, associated_inputs: str | None = None) -> dict[str, Any]:
    """Action.Execute (the only action Outlook and Teams both render): a verb and minimal data.
    Never put a tenant or user id in `data`: the server takes those from the token."""
    a: dict[str, Any] = {"type": "Action.Execute", "title": title, "verb": verb, "data": dict(data or {})}
    if style:
        a["style"] = style
    if associated_inputs:
        a["associatedInputs"] = associated_inputs
    return a


def note_input(placeholder: str = "Add a quick note (only facts you would put in the file)") -> dict[str, Any]:
    return {"type": "Input.Text", "id": NOTE_INPUT_ID, "isMultiline": True, "maxLength": NOTE_MAX_CHARS,
            "placeholder": placeholder, "label": "Quick note", "spacing": "Medium"}


def card(body: Iterable[dict[str, Any] | None], actions: Sequence[dict[str, Any]] = (), *,
         fallback: str = "", refresh: dict[str, Any] | None = None,
         originator: str | None = None) -> dict[str, Any]:
    """The envelope: version 1.5, body without empty sections. `refresh` (Teams/Outlook universal
    actions) and `originator` (Outlook actionable messages) are set only by the senders needing them."""
    c: dict[str, Any] = {
        "type": "AdaptiveCard", "$schema": SCHEMA, "version": CARD_VERSION,
        "body": [b for b in body if b is not None],
    }
    if actions:
        c["actions"] = list(actions)
    if fallback:
        c["fallbackText"] = plain(fallback, 300)
    if refresh:
        c["refresh"] = refresh
    if originator:
        c["originator"] = originator
    return c


# --- dates -------------------------------------------------------------------------------------

def parse_time(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day(value: datetime | str | None) -> str:
    """'12 Mar 2026': English month names whatever the server's locale (strftime's %b follows it)."""
    dt = parse_time(value)
    return f"{dt.day} {_MONTHS[dt.month - 1]} {dt.year}" if dt else ""


def _iso_z(dt: datetime) -> str:
    # The Adaptive Cards DATE/TIME functions take RFC 3339 without fractions; Z keeps it unambiguous.
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def card_time(value: datetime | str | None) -> str:
    """'{{TIME(2026-12-02T13:09:00Z)}}': the card client shows it in the reader's own zone and style."""
    dt = parse_time(value)
    return f"{{{{TIME({_iso_z(dt)})}}}}" if dt else ""


def card_date(value: datetime | str | None) -> str:
    """'{{DATE(2026-12-02T13:09:00Z, SHORT)}}': localised by the card client like card_time."""
    dt = parse_time(value)
    return f"{{{{DATE({_iso_z(dt)}, SHORT)}}}}" if dt else ""


def when(value: datetime | str | None, now: datetime, tz: tzinfo | None = None) -> str:
    """A date as a partner says it: 'today', 'yesterday', '3 days ago', 'in 5 days', '12 Mar 2026'.
    The day is counted in `tz` (the partner's zone) when given, else in the value's own zone.
    Pure: `now` is passed in, so cards built in tests are stable."""
    dt = parse_time(value)
    if dt is None:
        return ""
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    if tz is not None:
        dt = dt.astimezone(tz)
    days = (dt.date() - now.astimezone(dt.tzinfo or UTC).date()).days
    if days == 0:
        return "today"
    if days == -1:
        return "yesterday"
    if days == 1:
        return "tomorrow"
    if -14 <= days < 0:
        return f"{-days} days ago"
    if 0 < days <= 14:
        return f"in {days} days"
    return day(dt)


def card_when(value: datetime | str | None, now: datetime, tz: tzinfo) -> str:
    """when() for a card the client localises: the relative words decided in the partner's zone
    `tz`, an absolute date left to the client ({{DATE}}), so no date is shown in UTC."""
    words = when(value, now, tz)
    return card_date(value) if words == day(parse_time(value).astimezone(tz)) else words
