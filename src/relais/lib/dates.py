"""Local calendar days (the project's TIME_ZONE, Europe/Paris), as the pages show them,
and the form fields every typed date goes through."""

import datetime
import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def local_day_bounds(day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """The first instant of `day` and of the next day, as aware datetimes: filter with
    start <= t < end. The end is the next local midnight, not start + 24 h, so days of
    23 or 25 hours (daylight-saving changes) are counted whole."""
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
    following = day + datetime.timedelta(days=1)
    return start, timezone.make_aware(datetime.datetime.combine(following, datetime.time.min))


def parse_day(value: str | None) -> datetime.date:
    """An ISO date (YYYY-MM-DD) from a query string; today when missing or malformed."""
    try:
        return datetime.date.fromisoformat(value) if value else timezone.localdate()
    except ValueError:
        return timezone.localdate()


# How a date may be typed, whatever the interface language: ISO (what date inputs and the
# API send) or day first, as in France (the CSV import's 14/03/1985). Never month first,
# and never a two-digit year: "05/06/20" is not the same day for every reader, nor the same
# century for a birth date.
DATE_INPUT_FORMATS = ("%Y-%m-%d", "%d/%m/%Y")
DATETIME_INPUT_FORMATS = (
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
)
_TWO_DIGIT_YEAR = re.compile(r"^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2}(?!\d)")


def _check_year_digits(value) -> None:
    if isinstance(value, str) and _TWO_DIGIT_YEAR.match(value.strip()):
        raise ValidationError(
            _("Write the year with four digits (e.g. 05/06/2026)."), code="two_digit_year"
        )


def _is_date_only(text: str) -> bool:
    for date_format in DATE_INPUT_FORMATS:
        try:
            datetime.datetime.strptime(text, date_format)
        except ValueError:
            continue
        return True
    return False


class DateField(forms.DateField):
    """A date field reading the dates above only, in every language."""

    input_formats = DATE_INPUT_FORMATS

    def to_python(self, value):
        _check_year_digits(value)
        return super().to_python(value)


class DateTimeField(forms.DateTimeField):
    """A date and time field reading the times above only, in every language (ISO 8601
    with an offset too, as Django's): a date without its time is refused, not read as
    midnight."""

    input_formats = DATETIME_INPUT_FORMATS
    default_error_messages = {
        "no_time": _("Give the time as well as the date (e.g. 05/06/2026 09:30)."),
    }

    def to_python(self, value):
        _check_year_digits(value)
        if isinstance(value, str) and _is_date_only(value.strip()):
            raise ValidationError(self.error_messages["no_time"], code="no_time")
        return super().to_python(value)
