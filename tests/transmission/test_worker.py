import datetime
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from relais.accounts.models import Pharmacy
from relais.lib import queue
from relais.lib.clock import database_now
from relais.transmission import retry, transport
from relais.transmission.models import Transmission
from relais.transmission.services import Settled, transmissions_settled
from relais.transmission.worker import Outcome, claim, due_ids, record, send_due
from tests.support.factories import make_test

State = Transmission.State
Error = Transmission.Error


@pytest.mark.parametrize(
    "error, decision",
    [
        (transport.TransportError("refused"), retry.RETRY),
        (transport.TLSError(transport.TLS_CLIENT_REFUSED, "alert"), retry.RETRY),
        (transport.ServerError(503), retry.RETRY),
        (transport.TryLater(429, 30.0), retry.RETRY),
        (transport.AckError("garbled"), retry.RETRY),
        # A request refused as a whole is no pharmacist's to fix: retried, then dead.
        (transport.ClientError(400, "bad batch"), retry.RETRY),
        (transport.BatchTooLarge(413, "too many"), retry.SPLIT),
        (ValueError("a bug of ours"), None),
    ],
)
def test_failures_are_classified(error, decision):
    assert retry.classify(error) == decision


def make_due(row):
    Transmission.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())


@pytest.mark.django_db
def test_unreachable_sidep_retries_with_backoff_then_dead_letters(
    unreachable_sidep, screening_test
):
    row = screening_test.transmissions.get()
    for attempt in (1, 2):
        before = timezone.now()
        assert send_due() == 1
        row.refresh_from_db()
        assert (row.state, row.attempts) == (State.PENDING, attempt)
        assert (row.last_error, row.last_error_status) == (Error.UNREACHABLE, None)
        with translation.override("en"):
            assert row.last_error_text == "SI-DEP could not be reached"
        ceiling = datetime.timedelta(seconds=5 * 2 ** (attempt - 1))
        assert before <= row.next_attempt_at <= timezone.now() + ceiling
        assert row.claimed_until is None and row.sent_at is not None
        make_due(row)
    assert send_due() == 1
    row.refresh_from_db()
    assert (row.state, row.attempts) == (State.DEAD, 3)
    assert send_due() == 0  # dead rows are never picked up again


@pytest.mark.django_db
def test_a_suspended_pharmacy_rows_wait(unreachable_sidep, pharmacy, screening_test):
    Pharmacy.objects.filter(pk=pharmacy.pk).update(status=Pharmacy.Status.SUSPENDED)
    assert send_due() == 0
    row = screening_test.transmissions.get()
    assert (row.state, row.attempts, row.sent_at) == (State.PENDING, 0, None)
    Pharmacy.objects.filter(pk=pharmacy.pk).update(status=Pharmacy.Status.ACTIVE)
    assert send_due() == 1


@pytest.mark.django_db
def test_a_follow_up_message_waits_for_the_earlier_one(screening_test):
    first = screening_test.transmissions.get()
    from relais.transmission.outbox import enqueue

    [correction] = enqueue([screening_test], Transmission.Kind.CORRECTION)
    assert due_ids(timezone.now(), 10) == [first.pk]
    Transmission.objects.filter(pk=first.pk).update(state=State.ACKNOWLEDGED)
    assert due_ids(timezone.now(), 10) == [correction.pk]


@pytest.mark.django_db
def test_a_lapsed_lease_makes_the_row_due_again(settings, screening_test):
    row = screening_test.transmissions.get()
    now = database_now()  # the clock the row fell due by
    token = claim(10, now)
    row.refresh_from_db()
    assert (row.state, row.attempts, row.claim_token) == (State.IN_FLIGHT, 1, token)
    assert claim(10, now) is None  # held by the first claim
    later = now + datetime.timedelta(seconds=settings.TRANSMISSION_LEASE_SECONDS + 1)
    second = claim(10, later)
    row.refresh_from_db()
    assert (row.attempts, row.claim_token) == (2, second)


@pytest.mark.django_db
def test_a_worker_that_lost_its_lease_records_nothing(settings, screening_test):
    from relais.transmission.worker import Outcome

    now = database_now()  # the clock the row fell due by
    first = claim(10, now)
    rows = list(Transmission.objects.filter(claim_token=first))
    claim(10, now + datetime.timedelta(seconds=settings.TRANSMISSION_LEASE_SECONDS + 1))
    record(first, rows, {rows[0].pk: Outcome(State.ACKNOWLEDGED, ack_code="AA")})
    row = Transmission.objects.get()
    assert row.state == State.IN_FLIGHT and row.ack_code == ""


@pytest.mark.django_db
def test_a_row_lost_by_crashing_workers_too_often_is_dead_lettered(settings, screening_test):
    settings.TRANSMISSION_MAX_ATTEMPTS = 2
    lease = datetime.timedelta(seconds=settings.TRANSMISSION_LEASE_SECONDS + 1)
    now = database_now()  # the clock the row fell due by
    claim(10, now)
    claim(10, now + lease)
    assert claim(10, now + 2 * lease) is None
    row = Transmission.objects.get()
    assert (row.state, row.attempts) == (State.DEAD, 2)
    assert row.last_error == queue.LEASE_LOST
    with translation.override("en"):
        assert "worker stopped" in row.last_error_text


@pytest.mark.django_db
def test_several_tests_go_in_one_batch(unreachable_sidep, patient, pharmacist, monkeypatch):
    # Full jitter may draw a delay near zero; this test is about batching, so every failed
    # row waits the whole base delay and none is due again before the last call.
    monkeypatch.setattr(queue, "backoff_seconds", lambda attempts, *, base, cap: base)
    for _ in range(3):
        make_test(patient, pharmacist)
    assert send_due(batch_size=2) == 2
    assert send_due(batch_size=2) == 1
    assert send_due(batch_size=2) == 0


@pytest.fixture
def announced():
    """The Settled items transmissions_settled carries, as its receivers get them."""
    received: list[Settled] = []

    def receiver(sender, settled, **kwargs):
        received.extend(settled)

    transmissions_settled.connect(receiver, dispatch_uid="test-announced")
    yield received
    transmissions_settled.disconnect(dispatch_uid="test-announced")


def selects_of_the_outbox(queries) -> list[str]:
    return [
        query["sql"]
        for query in queries
        if query["sql"].startswith("SELECT") and '"transmission_transmission"' in query["sql"]
    ]


@pytest.mark.django_db
def test_a_recorded_batch_announces_what_it_wrote_without_reading_it_back(
    patient, pharmacist, announced
):
    for _ in range(3):
        make_test(patient, pharmacist)
    token = claim(10, database_now())
    rows = list(Transmission.objects.filter(claim_token=token).select_related("test"))
    outcomes = {
        rows[0].pk: Outcome(State.ACKNOWLEDGED, ack_code="AA"),
        rows[1].pk: Outcome(State.REJECTED, ack_code="AE", ack_text="bad"),
        rows[2].pk: Outcome(State.PENDING, error=Error.NO_ACK),  # waits: not settled
    }
    with CaptureQueriesContext(connection) as queries:
        record(token, rows, outcomes)
    assert selects_of_the_outbox(queries) == []
    stored = {row.pk: row for row in Transmission.objects.all()}
    assert sorted(announced, key=lambda item: item.state) == [
        Settled(row.test_id, row.pharmacy_id, pharmacist.pk, row.state, row.state_changed_at)
        for row in sorted(stored.values(), key=lambda row: row.state)
        if row.pk != rows[2].pk
    ]
    assert {item.test_id for item in announced} == {row.test_id for row in rows[:2]}


@pytest.mark.django_db
def test_a_row_whose_lease_lapsed_is_neither_written_nor_announced(
    settings, patient, pharmacist, announced
):
    for _ in range(2):
        make_test(patient, pharmacist)
    now = database_now()
    token = claim(10, now)
    rows = list(Transmission.objects.filter(claim_token=token).select_related("test"))
    # Another worker took the first row over after its lease lapsed.
    Transmission.objects.filter(pk=rows[0].pk).update(claim_token=uuid.uuid4())
    record(token, rows, dict.fromkeys([row.pk for row in rows], Outcome(State.ACKNOWLEDGED)))
    assert [item.test_id for item in announced] == [rows[1].test_id]
    assert Transmission.objects.get(pk=rows[0].pk).state == State.IN_FLIGHT
