"""Working-hours arithmetic for the enquiry clock, pure: no store, no clock of its own.

The firm's day is `TenantSettings.workingHours` ("Mon-Fri 09:00-18:00 Europe/London", parsed by
rapport.firm.hours, the one reader of it; unset: DEFAULT_HOURS). An enquiry received on Friday at 17:00 with a 4-hour clock is due on
Monday at 12:00: the clock only runs while the office is open. Days are walked in the firm's own
zone, so a daylight-saving change is honoured (a working day is always its wall-clock hours).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from rapport import timezones
from rapport.firm.hours import parse_working_hours
from rapport.records import TenantSettings, aware

MAX_DAYS = 400  # a calendar with no working day at all ends here instead of looping
DEFAULT_HOURS = "Mon-Fri 09:00-18:00 UTC"  # a firm that has not set its working hours


@dataclass(frozen=True)
class Hours:
    start: time
    end: time
    days: frozenset[int]
    tz: tzinfo

    @classmethod
    def of(cls, settings: TenantSettings) -> Hours:
        w = parse_working_hours(settings.workingHours or DEFAULT_HOURS)  # validated when it was set
        return Hours(w.start, w.end, frozenset(w.days), timezones.zone(w.zone))


def _parse(hhmm: str) -> time:
    h, _, m = hhmm.strip().partition(":")
    return time(int(h), int(m or 0))


def hours(spec: str, days: list[int], tz_name: str) -> Hours:
    """Hours from "HH:MM-HH:MM"; a malformed or empty window means round the clock (never a stuck clock)."""
    try:
        a, _, b = spec.partition("-")
        start, end = _parse(a), _parse(b)
        if end <= start:
            raise ValueError
    except (ValueError, TypeError):
        start, end = time(0, 0), time(23, 59, 59, 999999)
    good = frozenset(d for d in days if isinstance(d, int) and 0 <= d <= 6) or frozenset(range(7))
    return Hours(start, end, good, timezones.zone(tz_name) if tz_name else UTC)


def _window(h: Hours, day: date) -> tuple[datetime, datetime] | None:
    if day.weekday() not in h.days:
        return None
    return (datetime.combine(day, h.start, tzinfo=h.tz).astimezone(UTC),
            datetime.combine(day, h.end, tzinfo=h.tz).astimezone(UTC))


def working_seconds(h: Hours, start: datetime, end: datetime) -> float:
    """Working seconds between two instants (0 when end <= start)."""
    start, end = aware(start).astimezone(UTC), aware(end).astimezone(UTC)
    if end <= start:
        return 0.0
    total = 0.0
    day = start.astimezone(h.tz).date() - timedelta(days=1)
    last = end.astimezone(h.tz).date() + timedelta(days=1)
    while day <= last:
        w = _window(h, day)
        if w is not None:
            a, b = max(w[0], start), min(w[1], end)
            if b > a:
                total += (b - a).total_seconds()
        day += timedelta(days=1)
    return total


def add_working(h: Hours, start: datetime, seconds: float) -> datetime:
    """The instant at which `seconds` of working time have passed since `start`."""
    t = aware(start).astimezone(UTC)
    left = max(0.0, seconds)
    day = t.astimezone(h.tz).date() - timedelta(days=1)
    for _ in range(MAX_DAYS):
        w = _window(h, day)
        if w is not None and w[1] > t:
            a = max(w[0], t)
            span = (w[1] - a).total_seconds()
            if left <= span:
                return a + timedelta(seconds=left)
            left -= span
        day += timedelta(days=1)
    return t + timedelta(seconds=seconds)  # no working day in sight: plain time


def due_at(settings: TenantSettings, received: datetime, hours_: float) -> datetime:
    return add_working(Hours.of(settings), received, hours_ * 3600)


def elapsed(settings: TenantSettings, received: datetime, now: datetime) -> float:
    """Working seconds since receipt."""
    return working_seconds(Hours.of(settings), received, now)


__all__ = ["Hours", "add_working", "due_at", "elapsed", "hours", "working_seconds"]
