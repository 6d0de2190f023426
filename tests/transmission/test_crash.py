"""Crash safety: kill -9 the worker mid-batch, again and again; nothing lost, nothing doubled.

Real processes throughout: `relais worker` on a database of its own (SQLite, or a fresh
PostgreSQL database when RELAIS_TEST_DATABASE_URL is set), and the simulator over mutual
TLS. At the end the simulator must hold each result exactly once and every outbox row
must be acknowledged.
"""

import os
import random
import time

import pytest

from tests.support.drain import Drain

pytestmark = pytest.mark.slow  # worker processes draining 3,000 results

RESULTS = 3_000
KILLS = 4
DRAIN_TIMEOUT_SECONDS = 240
# Each kill waits for some progress, but never past this many acknowledged results: rows
# are left to kill mid-batch however fast the worker drains (a batch takes ~0.1 s).
KILL_BEFORE_ACKNOWLEDGED = RESULTS // 3
WAIT_SECONDS = 60


def wait_for_rows(drain, state: str, count: int) -> None:
    """Until `count` rows are in `state`; fails (rather than hangs) after WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while drain.states().get(state, 0) < count:
        drain.check_workers_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"not {count} {state} after {WAIT_SECONDS} s: {drain.states()}")


@pytest.fixture
def drain(tmp_path):
    run = Drain(tmp_path / "drain", postgres_url=os.environ.get("RELAIS_TEST_DATABASE_URL", ""))
    yield run
    run.close()


def test_killing_the_worker_mid_batch_loses_and_doubles_nothing(drain):
    drain.prepare(RESULTS)
    assert drain.states() == {"pending": RESULTS}
    rng = random.Random(20211)
    killed_in_flight = []
    while len(killed_in_flight) < KILLS:
        worker = drain.start_worker()
        progress = drain.states().get("acknowledged", 0) + rng.randint(100, 400)
        progress = min(progress, KILL_BEFORE_ACKNOWLEDGED)
        wait_for_rows(drain, "acknowledged", progress)
        # Kill at a random point of a batch: before sending, while SI-DEP answers, or
        # after it stored the messages but before the ACKs are recorded.
        wait_for_rows(drain, "in_flight", 1)
        time.sleep(rng.uniform(0, 0.2))
        drain.kill(worker)
        in_flight = drain.states().get("in_flight", 0)
        if in_flight:  # otherwise the batch finished first: try again
            killed_in_flight.append(in_flight)
    drain.start_worker()
    drain.wait_until_acknowledged(RESULTS, DRAIN_TIMEOUT_SECONDS)
    drain.stop_workers()

    states = drain.states()
    counts = drain.simulator.counts()
    print(
        f"\ncrash test: {RESULTS} results, {KILLS} kill -9; rows in flight after each kill "
        f"{killed_in_flight}; outbox {states}; attempts {drain.total_attempts()}; "
        f"simulator {counts}"
    )
    assert all(in_flight > 0 for in_flight in killed_in_flight)  # each kill was mid-batch
    assert states == {"acknowledged": RESULTS}
    assert counts["accepted"] == RESULTS
    assert counts["distinct_message_ids"] == RESULTS
    # Rows in flight at a kill may have reached the simulator and be sent again: the
    # simulator counts such repeats without storing them twice.
    assert counts["received"] >= RESULTS


TWO_WORKER_RESULTS = 3000


@pytest.mark.skipif(
    not os.environ.get("RELAIS_TEST_DATABASE_URL"),
    reason="SKIP LOCKED needs PostgreSQL (set RELAIS_TEST_DATABASE_URL); SQLite runs one worker",
)
def test_two_workers_never_send_the_same_row(drain):
    drain.prepare(TWO_WORKER_RESULTS)
    drain.start_worker()
    drain.start_worker()
    drain.wait_until_acknowledged(TWO_WORKER_RESULTS, DRAIN_TIMEOUT_SECONDS)
    drain.stop_workers()
    counts = drain.simulator.counts()
    attempts = drain.total_attempts()
    print(f"\ntwo workers: outbox {drain.states()}; attempts {attempts}; simulator {counts}")
    assert drain.states() == {"acknowledged": TWO_WORKER_RESULTS}
    # Each MSH-10 reached the simulator exactly once, and no attempt was spent on a row
    # the other worker held: nothing was claimed twice.
    assert counts == {
        "accepted": TWO_WORKER_RESULTS,
        "distinct_message_ids": TWO_WORKER_RESULTS,
        "received": TWO_WORKER_RESULTS,
    }
    assert attempts == TWO_WORKER_RESULTS
