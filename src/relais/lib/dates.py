"""Local calendar days (the project's TIME_ZONE, Europe/Paris), as the pages show them."""

import datetime

from django.utils import timezone


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
