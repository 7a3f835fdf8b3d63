"""Azure Functions' timer schedules: 6-field NCRONTAB expressions, parsed and stepped in UTC.

`{second} {minute} {hour} {day} {month} {day-of-week}`, each field `*`, a value, a range `a-b`, a
step `*/n` or `a-b/n` or `a/n`, or a comma list of those; months and weekdays also by name
(JAN..DEC, SUN..SAT). Pure functions: the scheduler in local.timers brings its own clock.

Like NCrontab (the library the Functions host uses), a day must match BOTH the day-of-month and the
day-of-week field, unlike Vixie cron's "either" rule. Times are UTC, as on Azure by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Far enough for the rarest satisfiable schedule (29 February on a given weekday: 28 years).
_SEARCH_YEARS = 60

_MONTHS = {m: i for i, m in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}

# (name, low, high, names)
_FIELDS = (
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 6, _DAYS),
)


class CronError(ValueError):
    """A schedule that is not a valid 6-field NCRONTAB expression (the message says why)."""


@dataclass(frozen=True)
class Schedule:
    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday

    def matches(self, at: datetime) -> bool:
        return (at.second in self.seconds and at.minute in self.minutes and at.hour in self.hours
                and self._day_ok(at))

    def _day_ok(self, at: datetime) -> bool:
        return at.month in self.months and at.day in self.days and _weekday(at) in self.weekdays

    def next_after(self, after: datetime) -> datetime:
        return next_after(self, after)


def _weekday(at: datetime) -> int:
    return (at.weekday() + 1) % 7  # Python: Monday = 0; cron: Sunday = 0


def _value(text: str, field: str, low: int, high: int, names: dict[str, int]) -> int:
    key = text.strip().upper()
    if key in names:
        return names[key]
    if not key.isdigit():
        raise CronError(f"{field} field: {text!r} is not a number" + (" or a name" if names else ""))
    n = int(key)
    if not low <= n <= high:
        raise CronError(f"{field} field: {n} is outside {low}-{high}")
    return n


def _field(text: str, field: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{field} field: empty item in {text!r}")
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{field} field: step {step_text!r} must be a positive number")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _value(a, field, low, high, names), _value(b, field, low, high, names)
            if start > end:
                raise CronError(f"{field} field: range {base!r} runs backwards")
        else:
            start = _value(base, field, low, high, names)
            end = high if slash else start  # `5/15` means from 5 every 15, as in NCrontab
        out.update(range(start, end + 1, step))
    return frozenset(out)


def parse(expression: str) -> Schedule:
    """Parse a 6-field NCRONTAB expression, or raise CronError saying what is wrong."""
    if not isinstance(expression, str) or not expression.strip():
        raise CronError("schedule is empty; expected 6 fields: second minute hour day month day-of-week")
    parts = expression.split()
    if len(parts) != 6:
        hint = " (Azure timers need the seconds field first)" if len(parts) == 5 else ""
        raise CronError(f"schedule {expression!r} has {len(parts)} fields; expected 6{hint}")
    sets = [_field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True)]
    schedule = Schedule(expression.strip(), *sets)
    try:
        next_after(schedule, datetime(2000, 1, 1, tzinfo=UTC))
    except CronError:
        raise CronError(f"schedule {expression!r} never fires (no such date)") from None
    return schedule


def next_after(schedule: Schedule, after: datetime) -> datetime:
    """The first time strictly after `after` (whole seconds) at which the schedule fires.

    A naive `after` is taken as UTC; the answer is in UTC either way.
    """
    if after.tzinfo is None:
        after = after.replace(tzinfo=UTC)
    t = after.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
    limit = t.year + _SEARCH_YEARS
    # Step the coarsest field that does not match to its next boundary; finer fields reset to 0.
    while t.year <= limit:
        if t.month not in schedule.months:
            t = (t.replace(day=1, hour=0, minute=0, second=0) + timedelta(days=32)).replace(day=1)
        elif t.day not in schedule.days or _weekday(t) not in schedule.weekdays:
            t = t.replace(hour=0, minute=0, second=0) + timedelta(days=1)
        elif t.hour not in schedule.hours:
            t = t.replace(minute=0, second=0) + timedelta(hours=1)
        elif t.minute not in schedule.minutes:
            t = t.replace(second=0) + timedelta(minutes=1)
        elif t.second not in schedule.seconds:
            t = t + timedelta(seconds=1)
        else:
            return t
    raise CronError(f"schedule {schedule.expression!r} does not fire within {_SEARCH_YEARS} years")
