"""Item 2 of issue 13: SI-DEP's transient HTTP answers never reject a result, a batch
limit below ours splits the batch, and a result whose fate is unknown goes again under
the same MSH-10. Each test runs the real simulator process (mutual TLS) with one of its
fault modes and the worker's job, and checks: nothing lost, SI-DEP holds each result
exactly once, recovery without a human."""

import time

import pytest
from django.utils import timezone

from relais.screening import services
from relais.transmission.hl7 import order_id
from relais.transmission.models import Transmission
from relais.transmission.services import describe, resend_rejected
from relais.transmission.worker import send_due
from tests.support.factories import built_from, make_test

pytestmark = pytest.mark.django_db
State = Transmission.State
Error = Transmission.Error
DRAIN_SECONDS = 20


@pytest.fixture(autouse=True)
def immediate_retries(settings):
    """No backoff (the backoff itself is tested in tests/transmission/test_worker.py):
    only SI-DEP's own Retry-After delays a retry here."""
    settings.TRANSMISSION_BACKOFF_BASE_SECONDS = 0
    settings.TRANSMISSION_BACKOFF_MAX_SECONDS = 30


def drain(seconds: float = DRAIN_SECONDS) -> None:
    """The worker's job, run as the worker loop would, until nothing waits; never makes
    a row due early, so a Retry-After is honoured."""
    deadline = time.monotonic() + seconds
    while Transmission.objects.filter(state__in=Transmission.WAITING_STATES).exists():
        assert time.monotonic() < deadline, "transmissions still waiting"
        if send_due() == 0:
            time.sleep(0.05)


def assert_held_once(simulator, tests) -> None:
    """SI-DEP holds one result (one F message) per test, and nothing else."""
    held = simulator.statuses_by_order()
    assert {order_id(test): held.get(order_id(test)) for test in tests} == {
        order_id(test): ["F"] for test in tests
    }
    assert len(held) == len(tests)


TRANSIENT_STATUSES = [408, 425, 502, 503, 504]


def test_transient_statuses_are_retried_never_rejected(start_sidep, patient, pharmacist):
    """408, 425, 502, 503 and 504 in turn, one per request, then SI-DEP answers."""
    statuses = [arg for status in TRANSIENT_STATUSES for arg in ("--http-error", str(status))]
    simulator = start_sidep(*statuses, "--http-error-count", "5", "--fast-validation")
    tests = [make_test(patient, pharmacist) for _ in range(3)]
    seen = []
    while len(seen) < len(TRANSIENT_STATUSES):
        assert send_due() == 3
        row = tests[0].transmissions.get()
        seen.append((row.state, row.last_error, row.last_error_status))
        assert describe(tests[0])["state"] == State.PENDING
    assert seen == [
        (State.PENDING, Error.SERVER_ERROR if status >= 500 else Error.TRY_LATER, status)
        for status in TRANSIENT_STATUSES
    ]
    drain()
    rows = Transmission.objects.order_by("created_at")
    assert [(r.state, r.attempts, r.last_error) for r in rows] == [(State.ACKNOWLEDGED, 6, "")] * 3
    assert_held_once(simulator, tests)


def test_429_retry_after_holds_back_every_message_then_all_go(
    start_sidep, settings, patient, pharmacist
):
    settings.SIDEP_BATCH_SIZE = 2
    simulator = start_sidep(
        "--http-error", "429", "--http-error-count", "1", "--retry-after", "1",
        "--fast-validation",
    )  # fmt: skip
    tests = [make_test(patient, pharmacist) for _ in range(4)]
    before = timezone.now()
    assert send_due() == 2  # the first batch meets the 429
    # SI-DEP asked for 1 s: the rows of that batch and those waiting behind it.
    rows = list(Transmission.objects.all())
    assert all(row.next_attempt_at >= before + timezone.timedelta(seconds=1) for row in rows)
    assert send_due() == 0
    assert simulator.counts()["received"] == 0
    drain()
    done = Transmission.objects.all()
    assert {(row.state, row.last_error) for row in done} == {(State.ACKNOWLEDGED, "")}
    assert min(row.acknowledged_at for row in done) >= before + timezone.timedelta(seconds=1)
    assert_held_once(simulator, tests)


def test_a_batch_limit_below_ours_splits_the_batch(start_sidep, settings, patient, pharmacist):
    settings.SIDEP_BATCH_SIZE = 10
    simulator = start_sidep("--max-batch", "3", "--fast-validation")
    tests = [make_test(patient, pharmacist) for _ in range(10)]
    assert send_due() == 10  # one round: split until SI-DEP takes each part
    rows = Transmission.objects.all()
    assert {(row.state, row.attempts) for row in rows} == {(State.ACKNOWLEDGED, 1)}
    assert_held_once(simulator, tests)


def test_a_single_message_still_too_large_is_rejected_with_a_clear_code(
    start_sidep, patient, pharmacist
):
    simulator = start_sidep("--max-batch", "0", "--fast-validation")
    tests = [make_test(patient, pharmacist) for _ in range(2)]
    assert send_due() == 2
    for test in tests:
        row = test.transmissions.get()
        assert (row.state, row.last_error, row.last_error_status) == (
            State.REJECTED,
            Error.TOO_LARGE,
            413,
        )
        assert describe(test)["reason"] == "HTTP 413: at most 0 messages per batch"
    assert simulator.counts()["received"] == 0


def test_stored_then_error_goes_again_under_the_same_control_id(start_sidep, patient, pharmacist):
    """The gateway case, twice: SI-DEP stored the batch, the client got a 408, then a
    502. Each resend carries the same MSH-10 (SI-DEP counts it, keeps one copy); the
    pharmacist's correction meanwhile goes as a correction (C), never as a second result."""
    simulator = start_sidep(
        "--http-error", "408", "--http-error", "502", "--http-error-count", "2",
        "--store-then-error", "--fast-validation",
    )  # fmt: skip
    kept, corrected = make_test(patient, pharmacist), make_test(patient, pharmacist)
    assert send_due() == 2
    assert simulator.counts()["accepted"] == 2  # stored, though we were told otherwise
    first_ids = {row.message_id for row in Transmission.objects.all()}
    assert {row.state for row in Transmission.objects.all()} == {State.PENDING}
    # "Correct and resend" is no new result here: the message may be at SI-DEP.
    assert not resend_rejected(corrected)
    services.correct_test(corrected, pharmacist, {"result": "positive"}, built_from(corrected))
    drain()
    rows = Transmission.objects.order_by("test", "sequence")
    assert {row.state for row in rows} == {State.ACKNOWLEDGED}
    assert first_ids <= {row.message_id for row in rows}
    held = simulator.statuses_by_order()
    assert held == {order_id(kept): ["F"], order_id(corrected): ["F", "C"]}
    # 2 results stored at once, then 2 resends counted twice each, then the correction.
    assert simulator.counts() == {"accepted": 3, "distinct_message_ids": 3, "received": 7}
