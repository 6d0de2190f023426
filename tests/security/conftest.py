"""The attacker's world (tests/support/live.py): the real server, run the way production
runs it, on a throwaway PostgreSQL database, and a table of every attack tried.

`live` starts once for this package (the server stops after its last test). Each attacker
and victim talks from its own loopback address (127.0.0.x), so the per-address limits of
one attack do not lock out the next.

Every test counts its attempts and successes into `attacks`; the table is printed at the
end of the session; any success fails the test that found it (a weakness reported but not
fixed yet is an xfail(strict=True) test, and the table says so).

Without RELAIS_TEST_DATABASE_URL the suite uses PostgreSQL at 127.0.0.1:5432 if it answers
and is skipped otherwise; with it, an unreachable server fails the suite.
"""

import os
from pathlib import Path

import pytest

from tests.support import live as live_world
from tests.support.attacks import AttackTable
from tests.support.databases import throwaway_database, unreachable
from tests.support.smtp import smtp_inbox

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
TABLE = AttackTable()


@pytest.fixture(scope="session")
def attacks():
    return TABLE


def pytest_configure(config):
    config.addinivalue_line("markers", "late: security attack run after the others")
    config.addinivalue_line("markers", "scan: security scan run after every attack")


def pytest_collection_modifyitems(session, config, items):
    """Inside tests/security: ordinary attacks, then `late` ones (they exhaust limits),
    then the `scan`s of what the attacks left behind; all of them `slow` (a live server)."""
    here = Path(__file__).resolve().parent
    ours = [item for item in items if item.path.resolve().is_relative_to(here)]
    if not ours:
        return
    ours_set = set(ours)
    for item in ours:
        item.add_marker(pytest.mark.slow)

    def phase(item):
        return 2 if item.get_closest_marker("scan") else 1 if item.get_closest_marker("late") else 0

    ordered = sorted(ours, key=phase)  # stable: file order within a phase
    slots = [index for index, item in enumerate(items) if item in ours_set]
    for index, item in zip(slots, ordered, strict=True):
        items[index] = item


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not TABLE.rows:
        return
    terminalreporter.section("attacks on the live server")
    for line in TABLE.render():
        terminalreporter.write_line(line)
    terminalreporter.write_line(TABLE.summary())


@pytest.fixture(scope="package")
def database():
    required = os.environ.get("RELAIS_TEST_DATABASE_URL")
    error = unreachable(required or DEFAULT_POSTGRES)
    if error and required:
        pytest.fail(
            "RELAIS_TEST_DATABASE_URL is set but its PostgreSQL server cannot be reached, "
            f"so the attack suite cannot run: {error}",
            pytrace=False,
        )
    if error:
        pytest.skip(f"the attack suite needs PostgreSQL at 127.0.0.1:5432 ({error})")
    with throwaway_database(required or DEFAULT_POSTGRES, "relais_attack") as url:
        yield url


@pytest.fixture(scope="package")
def smtp():
    """The server's e-mail goes to a real SMTP server in this process."""
    with smtp_inbox() as inbox:
        yield inbox


@pytest.fixture(scope="package")
def live(database, smtp):
    with live_world.live_server(database, smtp) as server:
        yield server


@pytest.fixture(scope="package")
def ids_of_a(live):
    """One object of pharmacy A for each kind of id a URL takes."""
    return live_world.ids_of_a(live)
