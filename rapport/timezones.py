"""A person's time zone: Graph's mailboxSettings.timeZone (a Windows zone name, sometimes already
IANA) as a zoneinfo zone.

Windows names are mapped with tzlocal's table, which is generated from CLDR's windowsZones.xml and
maintained upstream, so new or renamed Windows zones are not ours to track by hand.
"""

from __future__ import annotations

import logging
from datetime import UTC, tzinfo
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
