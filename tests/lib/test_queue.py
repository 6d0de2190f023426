"""The queue engine itself, on a real queued model (the account e-mails), on SQLite and
PostgreSQL: claim, lease, lapse, backoff, dead letter, and SKIP LOCKED between two
workers."""

import dataclasses
import datetime
import random
import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone, translation

from relais.accounts.models import QueuedEmail
from relais.lib import queue

State = QueuedEmail.State
LEASE = datetime.timedelta(minutes=5)
OUTCOME_FIELDS = [
    "state", "next_attempt_at", "last_error", "last_error_status", "claimed_until", "claim_token",
]  # fmt: skip


def email_queue(max_attempts: int = 3) -> queue.Queue:
    return queue.Queue(
        model=QueuedEmail,
        waiting=State.PENDING,
        claimed=State.SENDING,
        dead=State.DEAD,
        max_attempts=max_attempts,
        lease=LEASE,
        backoff_base_seconds=10,
        backoff_max_seconds=60,
        erase_when_done=("recipient", "subject", "body"),
    )


def make_rows(count: int, due: datetime.datetime | None = None) -> list[QueuedEmail]:
    due = due or timezone.now()
    return [
        QueuedEmail.objects.create(
            recipient=f"r{n}@example.org", subject="s", body="b", next_attempt_at=due
        )
        for n in range(count)
    ]


def claimed(token) -> list[QueuedEmail]:
    return list(QueuedEmail.objects.filter(claim_token=token))


class HighestDraw:
    """A random source that always draws the top of the range, to check the ceiling."""

    def uniform(self, low, high):
        return high


def test_backoff_is_full_jitter_within_the_capped_exponential_window():
    rng = random.Random(7)
    for attempts in range(1, 30):
        ceiling = min(600, 5 * 2 ** (attempts - 1))
        delays = [queue.backoff_seconds(attempts, base=5, cap=600, rng=rng) for _ in range(200)]
        assert all(0 <= delay <= ceiling for delay in delays)
        # Full jitter: spread over the whole window, not bunched at its top.
        assert min(delays) < ceiling * 0.1 and max(delays) > ceiling * 0.9
    top = [queue.backoff_seconds(n, base=5, cap=600, rng=HighestDraw()) for n in (1, 2, 3, 8, 200)]
    assert top == [5, 10, 20, 600, 600]
    assert queue.backoff_seconds(0, base=5, cap=600, rng=HighestDraw()) == 5


@pytest.mark.django_db
def test_claim_leases_due_rows_and_counts_the_attempt():
    now = timezone.now()
    due = make_rows(2, due=now - datetime.timedelta(seconds=1))
    make_rows(1, due=now + datetime.timedelta(minutes=1))  # not due yet
    token = queue.claim(email_queue(), 10, now)
    rows = claimed(token)
    assert {row.pk for row in rows} == {row.pk for row in due}
    for row in rows:
        assert (row.state, row.attempts) == (State.SENDING, 1)
        assert row.claimed_until == now + LEASE
    assert queue.claim(email_queue(), 10, now) is None  # held rows are nobody else's


@pytest.mark.django_db
def test_claim_takes_at_most_the_limit_in_due_order():
    now = timezone.now()
    rows = [make_rows(1, due=now - datetime.timedelta(minutes=m))[0] for m in (1, 3, 2)]
    token = queue.claim(email_queue(), 2, now)
    assert {row.pk for row in claimed(token)} == {rows[1].pk, rows[2].pk}  # the oldest two


@pytest.mark.django_db
def test_a_lapsed_lease_is_claimed_again_first_as_a_new_attempt():
    now = timezone.now()
    [lost] = make_rows(1, due=now)
    queue.claim(email_queue(), 1, now)  # its worker dies
    make_rows(1, due=now)  # a row waiting since the same time
    later = now + LEASE + datetime.timedelta(seconds=1)
    token = queue.claim(email_queue(), 1, later)
    [row] = claimed(token)
    assert row.pk == lost.pk and row.attempts == 2
    assert row.claimed_until == later + LEASE


@pytest.mark.django_db
def test_a_lease_lost_on_the_last_attempt_is_dead_lettered_and_erased():
    q = email_queue(max_attempts=2)
    now = timezone.now()
    make_rows(1, due=now)
    queue.claim(q, 1, now)
    queue.claim(q, 1, now + LEASE + datetime.timedelta(seconds=1))
    assert queue.claim(q, 1, now + 3 * LEASE) is None
    row = QueuedEmail.objects.get()
    assert (row.state, row.attempts, row.last_error) == (State.DEAD, 2, queue.LEASE_LOST)
    assert row.claim_token is None and row.claimed_until is None
    assert (row.recipient, row.body) == ("", "")
    with translation.override("en"):
        assert "worker stopped" in row.last_error_text


@pytest.mark.django_db
def test_a_failure_waits_a_backoff_then_dead_letters_after_the_last_attempt():
    q = email_queue(max_attempts=2)
    now = timezone.now()
    make_rows(1, due=now)
    for attempt in (1, 2):
        token = queue.claim(q, 1, now)
        [row] = claimed(token)
        queue.fail(q, row, now, QueuedEmail.Error.MAIL_SERVER, 451)
        assert queue.record(q, token, [row], OUTCOME_FIELDS) == 1
        row.refresh_from_db()
        assert (row.last_error, row.last_error_status) == ("mail_server", 451)
        if attempt == 1:
            assert row.state == State.PENDING and row.claim_token is None
            assert now <= row.next_attempt_at <= now + datetime.timedelta(seconds=10)
            now = row.next_attempt_at
    assert row.state == State.DEAD
    assert (row.recipient, row.subject, row.body) == ("", "", "")  # erased when done
    assert queue.claim(q, 1, now + datetime.timedelta(days=1)) is None


@pytest.mark.django_db
def test_an_outcome_is_recorded_only_under_the_claim_that_holds_the_row():
    q = email_queue()
    now = timezone.now()
    make_rows(1, due=now)
    stale = queue.claim(q, 1, now)
    [late] = claimed(stale)
    current = queue.claim(q, 1, now + LEASE + datetime.timedelta(seconds=1))
    queue.succeed(late, State.SENT)
    assert queue.record(q, stale, [late], ["state", "claimed_until", "claim_token"]) == 0
    row = QueuedEmail.objects.get()
    assert (row.state, row.claim_token) == (State.SENDING, current)
    assert row.body == "b"  # not erased by the stale worker either


@pytest.mark.django_db
def test_eligible_narrows_what_is_claimed():
    now = timezone.now()
    rows = make_rows(3, due=now)
    keep = rows[1].pk
    q = dataclasses.replace(email_queue(), eligible=lambda found: found.filter(pk=keep))
    [row] = claimed(queue.claim(q, 10, now))
    assert row.pk == keep


def test_an_error_code_is_worded_and_an_unknown_one_kept():
    errors = QueuedEmail.Error
    assert queue.error_text(errors, "") == ""
    assert queue.error_text(errors, "mail_server") == str(errors.MAIL_SERVER.label)
    assert queue.error_text(errors, "mail_server", 503).endswith("(HTTP 503)")
    assert queue.error_text(errors, "Some old sentence.") == "Some old sentence."


@pytest.mark.django_db(transaction=True)
def test_two_workers_claim_disjoint_rows_without_waiting():
    """Worker A holds its claim transaction open; worker B claims at the same moment and
    gets the other rows at once (SKIP LOCKED), never A's."""
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED needs PostgreSQL; SQLite serialises claims on its write lock")
    now = timezone.now()
    make_rows(6, due=now)
    a_has_locked, b_is_done = threading.Event(), threading.Event()
    taken = {}

    def worker_a():
        try:
            with transaction.atomic():
                taken["a"] = queue.due_ids(email_queue(), now, 3)  # rows locked FOR UPDATE
                a_has_locked.set()
                assert b_is_done.wait(10), "worker B was blocked by A's locks"
        finally:
            connection.close()

    thread = threading.Thread(target=worker_a)
    thread.start()
    assert a_has_locked.wait(10)
    token = queue.claim(email_queue(), 6, now)
    b_is_done.set()
    thread.join()
    b = {row.pk for row in claimed(token)}
    assert len(taken["a"]) == 3 and len(b) == 3
    assert b.isdisjoint(taken["a"])
