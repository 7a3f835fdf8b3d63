"""A person's time zone: Graph's mailboxSettings.timeZone (a Windows zone name, sometimes already
IANA) as a zoneinfo zone.

Windows names are mapped with tzlocal's table, which is generated from CLDR's windowsZones.xml and
maintained upstream, so new or renamed Windows zones are not ours to track by hand.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

log = logging.getLogger(__name__)


def iana_name(name: str | None) -> str:
    """The IANA name for a Windows or IANA zone name; "" when it is neither."""
    name = (name or "").strip()
    if not name or len(name) > 64:
        return ""
    if name in win_tz:
        return win_tz[name]
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ""
    return name


@cache  # cached so an unknown name is logged once per process, not once per card
def zone(name: str | None) -> tzinfo:
    """The zone for a stored name; UTC (logged once) for an unknown one, UTC quietly for none."""
    iana = iana_name(name)
    if iana:
        return ZoneInfo(iana)
    if name:
        log.warning("Unknown time zone name %r; using UTC", name[:64])
    return UTC


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def short_day(value: datetime, now: datetime | None = None, tz: tzinfo = UTC, *, time: bool = False,
              relative: bool = True, calendar_date: bool = False) -> str:
    """One date style for what a partner reads: "Tue 2 Dec", "Tue 2 Dec, 13:00", the year only when
    it is not this year, and "today" / "yesterday" / "tomorrow" decided by the partner's own date.
    `tz` is the partner's zone; `calendar_date` is for a date with no time of day (a renewal date
    stored as midnight UTC), which is shown as that date whatever the zone. English words whatever
    the server's locale (strftime's %a/%b follow it). Pure."""
    local = value.astimezone(UTC) if calendar_date else value.astimezone(tz)
    today = now.astimezone(tz).date() if now is not None else None
    clock = f"{local.hour:02d}:{local.minute:02d}"
    words = ""
    if relative and today is not None:
        delta = (local.date() - today).days
        words = {0: "today", -1: "yesterday", 1: "tomorrow"}.get(delta, "")
    if not words:
        words = f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]}"
        if today is None or local.year != today.year:
            words += f" {local.year}"
    return f"{words}, {clock}" if time and not calendar_date else words
