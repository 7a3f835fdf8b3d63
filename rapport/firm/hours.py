"""A firm's working hours: "Mon-Fri 09:00-18:00 Europe/London", parsed, checked and normalised.

Days: a range ("Mon-Fri") or a comma list ("Mon,Wed,Fri") of English three-letter day names;
times: HH:MM-HH:MM on a 24-hour clock, the start before the end; the zone: an IANA name (or a
Windows one, as Graph gives it: rapport.timezones.iana_name). "" means not set. Imports only
rapport.timezones (rapport.records validates TenantSettings.workingHours with it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_SHAPE = re.compile(r"^(?P<days>[A-Za-z,\- ]+?)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s+(?P<zone>\S.*)$")
EXAMPLE = "Mon-Fri 09:00-18:00 Europe/London"


@dataclass(frozen=True)
class WorkingHours:
    days: tuple[int, ...]  # 0 = Monday
    start: time
    end: time
    zone: str  # IANA

    def __str__(self) -> str:
        return f"{_days_text(self.days)} {self.start:%H:%M}-{self.end:%H:%M} {self.zone}"


def parse_working_hours(text: str) -> WorkingHours:
    """Raises ValueError saying what is wrong, with an example."""
    from rapport.timezones import iana_name

    m = _SHAPE.match(" ".join(str(text).split()))
    if m is None:
        raise ValueError(f"working hours look like {EXAMPLE!r}")
    days = _parse_days(m["days"])
    start, end = _parse_time(m["start"]), _parse_time(m["end"])
    if start >= end:
        raise ValueError(f"working hours must start before they end ({m['start']}-{m['end']})")
    zone = iana_name(m["zone"])
    if not zone:
        raise ValueError(f"unknown time zone {m['zone'][:64]!r} (an IANA name such as Europe/London)")
    return WorkingHours(days, start, end, zone)


def normalize_working_hours(text: str) -> str:
    """The canonical text of `text`, or "" for empty; ValueError when it does not parse."""
    return str(parse_working_hours(text)) if str(text).strip() else ""


def _parse_days(text: str) -> tuple[int, ...]:
    out: set[int] = set()
    for part in (p.strip() for p in text.replace(" ", "").split(",")):
        if not part:
            continue
        first, _, last = part.partition("-")
        a, b = _day(first), _day(last) if last else _day(first)
        if b < a:
            raise ValueError(f"day range {part!r} runs backwards (write Mon-Fri)")
        out.update(range(a, b + 1))
    if not out:
        raise ValueError(f"working hours need days, as in {EXAMPLE!r}")
    return tuple(sorted(out))


_FULL = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _day(name: str) -> int:
    n = name.lower()
    for i, full in enumerate(_FULL):
        if len(n) >= 3 and full.startswith(n):
            return i
    raise ValueError(f"unknown day {name[:12]!r} (use {', '.join(DAYS)})")


def _parse_time(text: str) -> time:
    h, _, m = text.partition(":")
    hour, minute = int(h), int(m)
    if not (0 <= hour <= 24 and 0 <= minute < 60) or (hour == 24 and minute):
        raise ValueError(f"{text!r} is not a time of day (HH:MM)")
    return time(23, 59) if hour == 24 else time(hour, minute)


def _days_text(days: tuple[int, ...]) -> str:
    runs: list[str] = []
    i = 0
    while i < len(days):
        j = i
        while j + 1 < len(days) and days[j + 1] == days[j] + 1:
            j += 1
        runs.append(DAYS[days[i]] if i == j else f"{DAYS[days[i]]}-{DAYS[days[j]]}")
        i = j + 1
    return ",".join(runs)
