import datetime

import pytest
from django.utils import timezone

from relais.lib.dates import local_day_bounds, parse_day


def test_a_day_runs_from_local_midnight_to_the_next(settings):
    settings.TIME_ZONE = "Europe/Paris"
    start, end = local_day_bounds(datetime.date(2026, 7, 14))
    assert start.isoformat() == "2026-07-14T00:00:00+02:00"
    assert end.isoformat() == "2026-07-15T00:00:00+02:00"


@pytest.mark.parametrize(
    ("day", "hours"),
    [(datetime.date(2026, 3, 29), 23), (datetime.date(2026, 10, 25), 25)],
)
def test_daylight_saving_days_are_counted_whole(settings, day, hours):
    settings.TIME_ZONE = "Europe/Paris"
    start, end = local_day_bounds(day)
    # In UTC: between datetimes of one time zone Python subtracts wall-clock times.
    assert end.astimezone(datetime.UTC) - start.astimezone(datetime.UTC) == datetime.timedelta(
        hours=hours
    )
    assert timezone.localtime(end).time() == datetime.time.min


def test_consecutive_days_leave_no_gap_and_no_overlap(settings):
    settings.TIME_ZONE = "Europe/Paris"
    day = datetime.date(2026, 10, 24)
    assert local_day_bounds(day)[1] == local_day_bounds(day + datetime.timedelta(days=1))[0]


@pytest.mark.parametrize("value", [None, "", "yesterday", "2026-02-30", "2026-13-01", "x" * 5000])
def test_a_missing_or_malformed_day_is_today(value):
    assert parse_day(value) == timezone.localdate()


def test_an_iso_day_is_read():
    assert parse_day("2026-02-28") == datetime.date(2026, 2, 28)
