"""The background worker: one loop that runs each job in turn.

Each app registers its own jobs (relais.lib.jobs, from its AppConfig.ready), so this
module imports no app. Each job claims due rows from the database, does a bounded amount
of work and returns how many rows it handled, so any number of workers can run side by
side (healthchecks style). A job that raises is logged and retried on the next round; it
never stops the loop.

Outages: a database connection broken under a job (a server restart, a network cut) is
dropped before the next job and at every round, so the worker carries on as soon as the
server is back. If every job of `WORKER_MAX_FAILED_ROUNDS` rounds in a row failed, the
worker exits non-zero: a fresh process is the one remedy left, and its supervisor (systemd,
the container runtime, `relais demo`) sees it. A failure that repeats is logged once a
minute with its count, not once a round.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connections

from relais.lib import jobs

log = logging.getLogger(__name__)

REPEAT_LOG_SECONDS = 60


class FailedRounds(Exception):
    """Every job failed for the configured number of rounds in a row."""


def drop_broken_connections() -> None:
    """Django's close_old_connections() for a process that serves no requests: closes each
    connection that errored and no longer answers, or outlived CONN_MAX_AGE, and re-arms
    the health check (CONN_HEALTH_CHECKS) of the next query. A connection inside a
    transaction is left alone (the worker never holds one between jobs; tests do)."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


class FailureLog:
    """Logs a job's failure with its traceback the first time, then at most once every
    `every` seconds with the number of failures since, so an outage writes one line a
    minute per job instead of one a round. Tracebacks name code, never data: jobs must
    not put personal data in their errors."""

    def __init__(self, every: float = REPEAT_LOG_SECONDS, clock=time.monotonic):
        self.every = every
        self.clock = clock
        # (job, error type) -> (when last logged, failures since, not logged)
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def failed(self, job: str, error: Exception) -> None:
        """Called from the job's `except` block (the traceback is the current one)."""
        key = (job, type(error).__name__)
        now = self.clock()
        if key not in self._seen:
            log.exception("worker job %s failed", job)
            self._seen[key] = (now, 0)
            return
        logged_at, unlogged = self._seen[key]
        if now - logged_at < self.every:
            self._seen[key] = (logged_at, unlogged + 1)
            return
        log.error("worker job %s failed %d more times in %d s (%s)", job, unlogged + 1,
                  round(now - logged_at), key[1])  # fmt: skip
        self._seen[key] = (now, 0)

    def succeeded(self, job: str) -> None:
        for key in [key for key in self._seen if key[0] == job]:
            _, unlogged = self._seen.pop(key)
            log.warning("worker job %s works again (%d failures not logged)", job, unlogged)


@dataclass
class Round:
    handled: int = 0
    ran: int = 0
    failed: int = 0

    @property
    def all_failed(self) -> bool:
        return self.ran > 0 and self.failed == self.ran


class Schedule:
    """When each job may run next in this process. A job with an interval runs at most
    once per interval. A job that found nothing to do waits `idle_seconds` before it
    looks again, as it would if the whole worker were idle: while one queue drains
    (rounds follow each other), the empty ones are not polled after every batch."""

    def __init__(self, clock=time.monotonic, idle_seconds: float = 0.0):
        self.clock = clock
        self.idle_seconds = idle_seconds
        self.last_run: dict[str, float] = {}
        self.quiet_until: dict[str, float] = {}

    def due(self, name: str) -> bool:
        now = self.clock()
        if now < self.quiet_until.get(name, now):
            return False
        every = jobs.interval(name)
        if every <= 0:
            return True
        if now - self.last_run.get(name, -every) < every:
            return False
        self.last_run[name] = now
        return True

    def ran(self, name: str, handled: int) -> None:
        """After a job's success (a failed job is tried again at the next round)."""
        if handled == 0 and self.idle_seconds > 0:
            self.quiet_until[name] = self.clock() + self.idle_seconds
        else:
            self.quiet_until.pop(name, None)


def run_jobs(failures: FailureLog, schedule: Schedule | None = None) -> Round:
    """Every job due (all of them without a `schedule`: one round runs everything)."""
    outcome = Round()
    drop_broken_connections()
    for name, job in jobs.registered():
        if schedule is not None and not schedule.due(name):
            continue
        outcome.ran += 1
        try:
            handled = job()
        except Exception as error:
            outcome.failed += 1
            failures.failed(name, error)
            # A broken connection must not fail the next job too.
            drop_broken_connections()
        else:
            outcome.handled += handled
            failures.succeeded(name)
            if schedule is not None:
                schedule.ran(name, handled)
    return outcome


def run_round() -> int:
    """One round (`relais worker --once`, tests): every failure is logged."""
    return run_jobs(FailureLog()).handled


def run_forever(
    idle_seconds: float, should_stop: Callable[[], bool], max_failed_rounds: int
) -> None:
    """Rounds until `should_stop()`; raises FailedRounds after `max_failed_rounds`
    rounds in a row in which every job failed."""
    failures = FailureLog()
    schedule = Schedule(idle_seconds=idle_seconds)
    failed_in_a_row = 0
    while not should_stop():
        outcome = run_jobs(failures, schedule)
        failed_in_a_row = failed_in_a_row + 1 if outcome.all_failed else 0
        if failed_in_a_row >= max_failed_rounds:
            raise FailedRounds(f"every job failed in {failed_in_a_row} rounds in a row")
        if outcome.handled == 0:
            time.sleep(idle_seconds)
