"""local.ncrontab: Azure's 6-field timer schedules, parsed and stepped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from local.ncrontab import CronError, next_after, parse


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def fires(expr: str, start: datetime, n: int) -> list[datetime]:
    s = parse(expr)
    out, t = [], start
    for _ in range(n):
        t = next_after(s, t)
        out.append(t)
    return out


def test_every_minute_fires_on_the_minute():
    assert fires("0 */1 * * * *", at(2026, 1, 5, 8, 0, 30), 3) == [
        at(2026, 1, 5, 8, 1), at(2026, 1, 5, 8, 2), at(2026, 1, 5, 8, 3)]


def test_next_is_strictly_after_even_on_an_exact_match():
    assert next_after(parse("0 */5 * * * *"), at(2026, 1, 5, 8, 5)) == at(2026, 1, 5, 8, 10)


def test_sub_second_start_rounds_forward():
    start = at(2026, 1, 5, 8, 0, 9) + timedelta(microseconds=999_999)
    assert next_after(parse("*/10 * * * * *"), start) == at(2026, 1, 5, 8, 0, 10)


def test_lists_ranges_and_steps():
    s = parse("15,45 0-10/5 9-17 * * *")
    assert s.seconds == {15, 45}
    assert s.minutes == {0, 5, 10}
    assert s.hours == set(range(9, 18))
    assert fires("15,45 0-10/5 9-17 * * *", at(2026, 1, 5, 8, 59, 59), 4) == [
        at(2026, 1, 5, 9, 0, 15), at(2026, 1, 5, 9, 0, 45), at(2026, 1, 5, 9, 5, 15), at(2026, 1, 5, 9, 5, 45)]


def test_start_with_step_means_from_there_every_n():
    assert parse("5/20 * * * * *").seconds == {5, 25, 45}


def test_weekday_names_and_numbers_agree_sunday_is_zero():
    assert parse("0 0 9 * * MON-FRI").weekdays == parse("0 0 9 * * 1-5").weekdays == {1, 2, 3, 4, 5}
    assert parse("0 0 9 * * sun").weekdays == {0}
    # 2026-01-09 is a Friday: the next weekday 09:00 after Friday noon is Monday the 12th.
    assert next_after(parse("0 0 9 * * MON-FRI"), at(2026, 1, 9, 12)) == at(2026, 1, 12, 9)


def test_month_names_and_year_rollover():
    assert parse("0 0 0 1 JAN,jul *").months == {1, 7}
    assert next_after(parse("0 0 0 1 JAN *"), at(2026, 3, 1)) == at(2027, 1, 1)


def test_monday_pipeline_report_schedule():
    # The Monday 07:00 report: from a Wednesday, the next Monday.
    assert next_after(parse("0 0 7 * * 1"), at(2026, 1, 7, 10)) == at(2026, 1, 12, 7)


def test_day_of_month_and_weekday_must_both_match_as_in_ncrontab():
    # Friday the 13th: NCrontab ANDs the two day fields (Vixie cron would OR them).
    assert next_after(parse("0 0 0 13 * FRI"), at(2026, 1, 1)) == at(2026, 2, 13)


def test_leap_day():
    assert next_after(parse("0 0 12 29 2 *"), at(2026, 1, 1)) == at(2028, 2, 29, 12)


def test_month_end_days_skip_short_months():
    assert fires("0 0 0 31 * *", at(2026, 1, 31, 1), 2) == [at(2026, 3, 31), at(2026, 5, 31)]


def test_naive_and_other_zones_are_read_as_instants_answer_is_utc():
    s = parse("0 0 * * * *")
    assert next_after(s, datetime(2026, 1, 5, 8, 30)) == at(2026, 1, 5, 9)
    plus2 = timezone(timedelta(hours=2))
    assert next_after(s, datetime(2026, 1, 5, 10, 30, tzinfo=plus2)) == at(2026, 1, 5, 9)


@pytest.mark.parametrize("expr, why", [
    ("", "empty"),
    ("   ", "empty"),
    ("* * * * *", "5 fields"),
    ("0 * * * * * *", "7 fields"),
    ("60 * * * * *", "outside 0-59"),
    ("* 60 * * * *", "outside 0-59"),
    ("* * 24 * * *", "outside 0-23"),
    ("* * * 0 * *", "outside 1-31"),
    ("* * * 32 * *", "outside 1-31"),
    ("* * * * 13 *", "outside 1-12"),
    ("* * * * * 7", "outside 0-6"),
    ("* * * * FOO *", "not a number"),
    ("* * * * * MONDAY", "not a number"),
    ("*/0 * * * * *", "step"),
    ("*/x * * * * *", "step"),
    ("10-5 * * * * *", "backwards"),
    ("1,,2 * * * * *", "empty item"),
    ("-1 * * * * *", "not a number"),
    ("0 0 0 30 2 *", "never fires"),
    ("0 0 0 31 4 *", "never fires"),
    ("00:05:00", "1 fields"),
])
def test_bad_expressions_are_refused_with_a_reason(expr, why):
    with pytest.raises(CronError, match=why):
        parse(expr)


def _brute_next(s, start: datetime) -> datetime:
    t = start.replace(microsecond=0) + timedelta(seconds=1)
    while not s.matches(t):
        t += timedelta(seconds=1)
    return t


@settings(max_examples=60, deadline=None)
@given(
    second=st.sampled_from(["*", "0", "*/15", "5,50", "10-20/5"]),
    minute=st.sampled_from(["*", "0", "*/7", "30-32"]),
    hour=st.sampled_from(["*", "0", "9-17", "*/6"]),
    start=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
)
def test_matches_a_brute_force_search(second, minute, hour, start):
    s = parse(f"{second} {minute} {hour} * * *")
    start = start.replace(tzinfo=UTC)
    got = next_after(s, start)
    assert got > start and s.matches(got)
    assert got == _brute_next(s, start)
