import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from relais.lib import dates
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


# --- The fields every typed date goes through ---------------------------------------------


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_date_is_read_day_first_in_every_language(language):
    with translation.override(language):
        field = dates.DateField()
        assert field.clean("05/06/2026") == datetime.date(2026, 6, 5)
        assert field.clean("2026-06-05") == datetime.date(2026, 6, 5)


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("value", ["05/06/20", "5/6/20", "05.06.20", "05-06-20"])
def test_a_two_digit_year_is_refused_in_every_language(language, value):
    with translation.override(language), pytest.raises(ValidationError) as error:
        dates.DateField().clean(value)
    assert error.value.code == "two_digit_year"
    with translation.override(language), pytest.raises(ValidationError) as error:
        dates.DateTimeField().clean(value + " 09:30")
    assert error.value.code == "two_digit_year"


@pytest.mark.parametrize("language", ["fr", "en"])
def test_month_first_dates_are_not_read(language):
    with translation.override(language), pytest.raises(ValidationError) as error:
        dates.DateField().clean("06/25/2026")  # no 25th month: never read as 25 June
    assert error.value.code == "invalid"


@pytest.mark.parametrize("value", ["2026-06-05", "05/06/2026", " 05/06/2026 "])
def test_a_date_without_its_time_is_not_midnight(value):
    with pytest.raises(ValidationError) as error:
        dates.DateTimeField().clean(value)
    assert error.value.code == "no_time"


@pytest.mark.parametrize(
    "value", ["2026-06-05T09:30", "2026-06-05T09:30:00+02:00", "05/06/2026 09:30"]
)
def test_a_date_and_time_is_read(value):
    moment = timezone.localtime(dates.DateTimeField().clean(value))
    assert (moment.date(), moment.hour, moment.minute) == (datetime.date(2026, 6, 5), 9, 30)
