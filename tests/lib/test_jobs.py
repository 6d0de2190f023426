"""Jobs register themselves from their app; the worker imports no app."""

import ast
from pathlib import Path

import pytest

import relais
from relais import worker
from relais.lib import jobs


def test_every_app_job_is_registered_in_a_fixed_order():
    assert [name for name, job in jobs.registered()] == [
        "transmission",
        "patient notifications",
        "dead-letter alerts",
        "account e-mails",
        "webhooks",
        "import checks",
        "imports",
        "retention purge",
        "expired form drafts",
        "expired idempotency keys",
        "expired import batches",
        "old webhook deliveries",
        "audit chain",
        "audit anchor",
    ]


def test_registering_a_name_again_replaces_it(monkeypatch):
    monkeypatch.setattr(jobs, "_jobs", {})
    jobs.register("b", lambda: 2, order=1)
    jobs.register("a", lambda: 1, order=1)
    jobs.register("first", lambda: 0, order=0)
    jobs.register("b", lambda: 3, order=1)
    assert [(name, job()) for name, job in jobs.registered()] == [("first", 0), ("a", 1), ("b", 3)]


@pytest.mark.django_db
def test_a_failing_job_does_not_stop_the_round(monkeypatch, caplog):
    monkeypatch.setattr(jobs, "_jobs", {})

    def broken():
        raise RuntimeError("boom")

    jobs.register("broken", broken, order=0)
    jobs.register("works", lambda: 2, order=1)
    assert worker.run_round() == 2
    assert "worker job broken failed" in caplog.text


def test_the_worker_imports_no_app():
    source = Path(relais.__file__).with_name("worker.py").read_text()
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert {name for name in imported if name.startswith("relais.")} == {"relais.lib"}


def test_housekeeping_runs_at_most_once_a_minute_while_rounds_follow_each_other():
    housekeeping = {name for name, _job in jobs.registered() if jobs.interval(name) > 0}
    assert housekeeping == {
        "retention purge",
        "expired form drafts",
        "expired idempotency keys",
        "expired import batches",
        "old webhook deliveries",
        "audit anchor",
    }
    assert {jobs.interval(name) for name in housekeeping} == {jobs.HOUSEKEEPING_SECONDS}


@pytest.mark.django_db
def test_a_schedule_skips_a_job_until_its_interval_has_passed(monkeypatch):
    monkeypatch.setattr(jobs, "_jobs", {})
    runs = []
    jobs.register("outbox", lambda: runs.append("outbox") or 1, order=0)
    jobs.register("purge", lambda: runs.append("purge") or 0, order=1, every=60)
    now = [1000.0]
    schedule = worker.Schedule(clock=lambda: now[0])
    for moment in (1000.0, 1010.0, 1059.0, 1060.0, 1061.0):
        now[0] = moment
        worker.run_jobs(worker.FailureLog(), schedule)
    assert runs.count("outbox") == 5
    assert runs.count("purge") == 2  # at 1000 and 1060
    runs.clear()
    assert worker.run_round() == 1 and runs == ["outbox", "purge"]  # one round runs all


@pytest.mark.django_db
def test_a_job_that_found_nothing_waits_the_idle_time_while_a_busy_one_runs_every_round(
    monkeypatch,
):
    """While the outbox drains, rounds follow each other: the empty queues are polled at
    the idle pace, not after every batch; a failing job is tried again at once."""
    monkeypatch.setattr(jobs, "_jobs", {})
    runs = []
    backlog = [3]

    def outbox():
        runs.append("outbox")
        backlog[0] = max(backlog[0] - 1, 0)
        return 100 if backlog[0] else 0

    def broken():
        runs.append("broken")
        raise RuntimeError("boom")

    jobs.register("outbox", outbox, order=0)
    jobs.register("mail", lambda: runs.append("mail") or 0, order=1)
    jobs.register("broken", broken, order=2)
    now = [1000.0]
    schedule = worker.Schedule(clock=lambda: now[0], idle_seconds=1.0)
    rounds = []
    for moment in (1000.0, 1000.2, 1000.4, 1000.9, 1001.0, 1001.5, 1002.6):
        now[0] = moment
        runs.clear()
        worker.run_jobs(worker.FailureLog(), schedule)
        rounds.append(list(runs))
    assert rounds == [
        ["outbox", "mail", "broken"],
        ["outbox", "broken"],  # mail found nothing at 1000.0: not before 1001.0
        ["outbox", "broken"],  # the outbox is empty now
        ["broken"],
        ["mail", "broken"],
        ["outbox", "broken"],  # 1000.4 + 1 s
        ["outbox", "mail", "broken"],
    ]


def test_a_job_that_handled_something_is_due_again_at_once():
    schedule = worker.Schedule(clock=lambda: 5.0, idle_seconds=30.0)
    schedule.ran("transmission", 0)
    assert not schedule.due("transmission")
    schedule.ran("transmission", 12)
    assert schedule.due("transmission")
