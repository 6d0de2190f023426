"""Issue 13, item 1: the worker recovers from a PostgreSQL restart by itself, and exits
non-zero (for its supervisor to restart it) when PostgreSQL stays down.

Real processes: a `relais worker` on a database of a private PostgreSQL cluster that the
test restarts and stops, sending to the real SI-DEP simulator.
"""

import re
import sys
import time

import pytest

from relais.lib import jobs
from tests.support.drain import Drain
from tests.support.instances import MIGRATED_TEMPLATE

pytestmark = pytest.mark.slow  # a private PostgreSQL, a worker and a simulator

# Rounds last 0.2 s or more: the exit comes after 4 s or more of outage, which a restart
# (well under a second) never reaches.
FAILED_ROUNDS = 20


@pytest.fixture(scope="module")
def installation(postgres, tmp_path_factory):
    """A migrated database on the private cluster (tests/faults/conftest.py), certificates
    and a simulator."""
    drain = Drain(tmp_path_factory.mktemp("outage"))
    drain.database_url = postgres.clone(MIGRATED_TEMPLATE, "relais_worker_outage")
    drain.start_simulator()
    yield drain
    if not postgres.running:
        postgres.start()  # so that the database can be dropped
    drain.close()


@pytest.fixture(scope="module")
def worker(installation):
    """One worker for the module (starting one is most of a test's time): the restart
    test leaves it running, the outage test ends it."""
    process = installation.start_worker(RELAIS_WORKER_MAX_FAILED_ROUNDS=str(FAILED_ROUNDS))
    installation.wait_for_log("worker started")
    wait_for_worker_connection(installation)
    return process


def wait_for_worker_connection(drain: Drain, timeout: float = 30) -> None:
    """Until the worker holds a connection to its database (it keeps it between rounds)."""
    database = drain.database_url.rsplit("/", 1)[1]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if drain.query(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}'")[0][0]:
            return
        time.sleep(0.1)
    raise AssertionError("the worker never connected")


def test_a_result_recorded_after_a_postgresql_restart_reaches_sidep(installation, postgres, worker):
    postgres.restart()  # the worker's connection is now dead; it does not know yet
    installation.run(sys.executable, "-m", "tests.support.drain", "populate", "1")

    installation.wait_until_acknowledged(1, timeout=30)
    assert worker.poll() is None
    assert installation.simulator.counts()["distinct_message_ids"] == 1


def test_a_worker_exits_non_zero_when_postgresql_stays_down(installation, postgres, worker):
    wait_for_worker_connection(installation)
    postgres.stop()
    try:
        returncode = worker.wait(timeout=60)
    finally:
        postgres.start()

    assert returncode == 1
    output = (installation.workdir / "worker.log").read_text()
    assert f"every job failed in {FAILED_ROUNDS} rounds in a row" in output
    # Every job failed in each of the last rounds, but each is logged with its traceback
    # once per outage (the restart's, this one's), not once a round.
    logged_with_traceback = re.findall(r"ERROR relais\.worker worker job [a-z ]+ failed\n", output)
    assert len(logged_with_traceback) <= 2 * len(jobs.registered())
