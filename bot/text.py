"""Text replies of the bot: outsider and record text shown as data, never as markup or a link.

Why plain text rather than escaped markdown: the Bot Framework activity's `textFormat` "plain" is
documented for Teams as "raw text with no formatting applied", whereas Teams documents only a subset
of markdown and nothing about backslash escapes, so an escape that one client honours could show as
a stray "\\" in another, or be undone by the next renderer. With "plain", "[x](https://evil.example)"
or "**urgent**" in a meeting subject shows exactly as typed.

Plain text alone is not enough: Teams clients turn a bare URL, a host name or an email address into a
link in any message, whatever its format. So every piece of outsider or record text a reply
interpolates also goes through the drafting rule that leaves links and addresses out
(rapport.drafting.safety.strip_links): the same rule as for drafts, in one place.
"""

from __future__ import annotations

from typing import Any

from botbuilder.core import MessageFactory
from botbuilder.schema import Activity, TextFormatTypes

from rapport.cards.common import plain
from rapport.drafting.safety import strip_links

NEUTRAL = "your meeting"  # what a subject reads as when nothing but links or addresses was in it


def outsider(value: Any, limit: int = 80, *, empty: str = "") -> str:
    """Outsider or record text for a reply: one line, no links or addresses, cut at `limit`."""
    text = plain(strip_links(plain(value, 4 * limit)), limit)
    return text or empty


def reply(text: str) -> Activity:
    """A text message Teams shows as written: no markdown, no HTML."""
    activity = MessageFactory.text(text)
    activity.text_format = TextFormatTypes.plain
    return activity
