"""Issue 13, item 3 (the queues' part): rows queued by a host whose clock jumped are due by
the database's clock; a worker whose clock jumps 100 days ahead neither
takes rows that are not due, nor steals rows another worker holds under a live lease, nor
dates leases, retries and sending times from its own clock: the queues go by the
database's clock (relais.lib.clock.database_now).

time_machine moves this process's clock; the database's is untouched (PostgreSQL's is
the server's; SQLite's is read through the C library, which time_machine does not move).
"""

import datetime
import uuid

import pytest
import time_machine
from django.utils import timezone

from relais.accounts import mail
from relais.accounts.models import QueuedEmail
from relais.lib.clock import database_now
from relais.patient_access.links import issue_links
from relais.transmission import outbox
from relais.transmission.models import Transmission
from relais.transmission.worker import send_due

JUMP = datetime.timedelta(days=100)
# How far from the database's clock a time written by the jumped worker may be.
TOLERANCE = datetime.timedelta(minutes=1)


def near_database_now(moment: datetime.datetime | None, ahead=datetime.timedelta(0)) -> bool:
    return moment is not None and abs(moment - (database_now() + ahead)) < TOLERANCE


def jumped():
    return time_machine.travel(timezone.now() + JUMP, tick=True)


@pytest.mark.django_db
def test_a_jumped_worker_takes_only_what_is_due_and_keeps_others_leases():
    later = QueuedEmail.objects.create(
        recipient="later@example.org", subject="s", body="b",
        next_attempt_at=database_now() + datetime.timedelta(hours=1),
    )  # fmt: skip
    held_token = uuid.uuid4()
    held = QueuedEmail.objects.create(
        recipient="held@example.org", subject="s", body="b", state=QueuedEmail.State.SENDING,
        attempts=1, claim_token=held_token,
        claimed_until=database_now() + datetime.timedelta(minutes=1),
    )  # fmt: skip
    due = QueuedEmail.objects.create(
        recipient="due@example.org", subject="s", body="b", next_attempt_at=database_now()
    )

    with jumped():
        assert timezone.now() - database_now() > JUMP - TOLERANCE  # the jump is real
        assert mail.send_due() == 1

    later.refresh_from_db()
    held.refresh_from_db()
    due.refresh_from_db()
    assert (later.state, later.attempts) == (QueuedEmail.State.PENDING, 0)
    assert (held.state, held.claim_token) == (QueuedEmail.State.SENDING, held_token)
    assert due.state == QueuedEmail.State.SENT
    assert near_database_now(due.sent_at)


@pytest.mark.django_db
def test_a_jumped_worker_dates_retries_and_sending_by_the_database(
    unreachable_sidep, screening_test
):
    row = screening_test.transmissions.get()
    with jumped():
        assert send_due() == 1
    row.refresh_from_db()
    assert (row.state, row.attempts) == (Transmission.State.PENDING, 1)
    # The first retry falls within 5 s (full jitter) of the failure, by the database.
    assert near_database_now(row.next_attempt_at)
    assert near_database_now(row.sent_at)


@pytest.mark.django_db
def test_rows_queued_on_a_jumped_host_are_due_by_the_database(screening_test):
    """A web host 100 days ahead queues an e-mail, a result message and a notification:
    each is due now by the database's clock, not in 100 days."""
    with jumped():
        email = mail.enqueue("someone@example.org", "reset", {"link": "x"})
        (message,) = outbox.enqueue([screening_test], Transmission.Kind.CORRECTION)
        issue_links([(screening_test, ["sms"])])
    email.refresh_from_db()
    notification = screening_test.result_links.get(revoked_at__isnull=True).notifications.get()
    for row in (email, message, notification):
        assert near_database_now(row.next_attempt_at), row
