"""The database's clock: the one time every process agrees on.

A worker or web host whose clock jumps (a bad NTP step, a restored VM snapshot) must not
decide what is due, what has lapsed or what is old enough to erase from its own clock:
those decisions read the database's clock, which every process shares. `skew()` tells how
far this host's clock is from it; destructive work refuses to run when the gap is larger
than `SKEW_LIMIT`.
"""

import datetime

from django.db import connection
from django.utils import timezone

# Beyond this gap between host and database clocks, purges refuse to run and the operator
# is warned: NTP keeps healthy hosts within a second.
SKEW_LIMIT = datetime.timedelta(minutes=5)
SQLITE_RESOLUTION = datetime.timedelta(milliseconds=1)


def database_now() -> datetime.datetime:
    """The current time by the database's clock, as an aware UTC datetime."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT statement_timestamp()")
            (now,) = cursor.fetchone()
            return now.astimezone(datetime.UTC)
        # SQLite has no server: its clock is this host's, read the way it stores times.
        cursor.execute("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")
        (text,) = cursor.fetchone()
    # SQLite tells the millisecond; a time this process stored (to the microsecond) within
    # it must not count as later than "now": the end of that millisecond.
    started = datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC)
    return started + SQLITE_RESOLUTION - datetime.timedelta(microseconds=1)


def skew() -> datetime.timedelta:
    """This host's clock minus the database's (positive when the host is ahead)."""
    return timezone.now() - database_now()


def skew_too_large(gap: datetime.timedelta) -> bool:
    return abs(gap) > SKEW_LIMIT
