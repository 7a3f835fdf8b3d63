"""Partner-local time (issue 14 item 3): Windows zone names from Graph mailboxSettings mapped to
IANA with tzlocal's CLDR table, and "tomorrow" meaning 08:00 where the partner is."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from rapport import timezones
from rapport.followups import snooze_until
from rapport.records import Person


@pytest.mark.parametrize(("windows", "iana"), [
    ("GMT Standard Time", "Europe/London"),          # DST (BST)
    ("Eastern Standard Time", "America/New_York"),   # DST
    ("Tokyo Standard Time", "Asia/Tokyo"),           # no DST
    ("W. Europe Standard Time", "Europe/Berlin"),    # DST
    ("AUS Eastern Standard Time", "Australia/Sydney"),  # southern-hemisphere DST
])
def test_windows_names_map_to_iana(windows, iana):
    assert timezones.iana_name(windows) == iana
    assert timezones.zone(windows) == ZoneInfo(iana)


def test_iana_name_passes_through():
    assert timezones.iana_name("Asia/Kolkata") == "Asia/Kolkata"
    assert timezones.zone("Asia/Kolkata") == ZoneInfo("Asia/Kolkata")


def test_unknown_name_is_utc_and_logged_once(caplog):
    caplog.set_level(logging.WARNING, logger="rapport.timezones")
    for _ in range(3):
        assert timezones.zone("Lemuria Standard Time") is UTC
    assert timezones.iana_name("Lemuria Standard Time") == ""
    assert len([r for r in caplog.records if "Lemuria" in r.getMessage()]) == 1
    assert timezones.zone("") is UTC and timezones.iana_name(None) == ""


def test_person_time_zone_is_backward_compatible():
    old = {"id": "o1", "tenantId": "t1", "oid": "o1", "upn": "a@firm.test", "name": "A"}
    assert Person.model_validate(old).timeZone == ""


NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)  # 19:00 in Tokyo, 05:00 in New York


@pytest.mark.parametrize(("zone", "now", "expected_local"), [
    ("Asia/Tokyo", NOW, datetime(2026, 1, 6, 8, 0)),
    ("America/New_York", NOW, datetime(2026, 1, 6, 8, 0)),
    # the night before New York's clocks go forward (8 March 2026): 08:00 EDT, not EST
    ("America/New_York", datetime(2026, 3, 7, 15, 0, tzinfo=UTC), datetime(2026, 3, 8, 8, 0)),
    ("UTC", NOW, datetime(2026, 1, 6, 8, 0)),
])
def test_snooze_tomorrow_is_eight_local(zone, now, expected_local):
    tz = ZoneInfo(zone)
    until = snooze_until("tomorrow", now, tz)
    assert until.astimezone(tz).replace(tzinfo=None) == expected_local
    assert until > now


def test_snooze_tomorrow_tokyo_and_new_york_in_utc():
    assert snooze_until("tomorrow", NOW, ZoneInfo("Asia/Tokyo")) == datetime(2026, 1, 5, 23, 0, tzinfo=UTC)
    assert snooze_until("tomorrow", NOW, ZoneInfo("America/New_York")) == datetime(2026, 1, 6, 13, 0, tzinfo=UTC)
