"""The worker loop's own rules: a repeated failure is logged once a minute with its count,
and rounds in which every job failed end the loop after the configured number."""

import logging

import pytest

from relais import worker
from relais.lib import jobs


def broken() -> int:
    raise ConnectionError("the database went away")


def test_a_repeated_failure_is_logged_once_a_minute_with_its_count(caplog):
    now = [0.0]
    failures = worker.FailureLog(every=60, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="relais.worker"):
        for second in range(0, 150):  # one failure a second for two and a half minutes
            now[0] = float(second)
            try:
                broken()
            except ConnectionError as error:
                failures.failed("transmission", error)
        failures.succeeded("transmission")
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "worker job transmission failed",
        "worker job transmission failed 60 more times in 60 s (ConnectionError)",
        "worker job transmission failed 60 more times in 60 s (ConnectionError)",
        "worker job transmission works again (29 failures not logged)",
    ]
    assert caplog.records[0].exc_info is not None  # the first one has its traceback


@pytest.mark.django_db
def test_the_loop_ends_after_rounds_in_which_every_job_failed(monkeypatch):
    monkeypatch.setattr(jobs, "_jobs", {})
    jobs.register("first", broken, order=0)
    jobs.register("second", broken, order=1)
    rounds = []
    with pytest.raises(worker.FailedRounds, match="every job failed in 3 rounds in a row"):
        worker.run_forever(0, lambda: rounds.append(1) or False, max_failed_rounds=3)
    assert len(rounds) == 3


@pytest.mark.django_db
def test_one_working_job_keeps_the_loop_going(monkeypatch):
    monkeypatch.setattr(jobs, "_jobs", {})
    jobs.register("broken", broken, order=0)
    jobs.register("works", lambda: 0, order=1)
    rounds = []
    worker.run_forever(0, lambda: len(rounds) >= 5 or bool(rounds.append(1)), 2)
    assert len(rounds) == 5
