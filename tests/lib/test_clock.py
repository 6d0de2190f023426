import datetime

import time_machine
from django.utils import timezone

from relais.lib import clock


def test_database_now_is_close_to_the_host_clock(db):
    gap = abs(timezone.now() - clock.database_now())
    assert gap < datetime.timedelta(seconds=5)
    assert not clock.skew_too_large(clock.skew())


def test_a_host_clock_jump_shows_as_skew_but_not_in_database_now(db):
    before = clock.database_now()
    with time_machine.travel(timezone.now() + datetime.timedelta(days=100), tick=True):
        gap = clock.skew()
        after = clock.database_now()
    assert gap > datetime.timedelta(days=99)
    assert clock.skew_too_large(gap)
    # SQLite reads the real host clock through the C library, which time_machine does not
    # move; PostgreSQL's clock is the server's: both stay where they were.
    assert after - before < datetime.timedelta(seconds=5)
