"""Issue 15: what each acknowledgement code means (HL7 table 0008), against the real
simulator process. AE (application error: the content) is a rejection the pharmacy
fixes; AR (application reject: SI-DEP could not process it, not about the content) is
sent again after a backoff, like an outage, and becomes a dead letter after the last
attempt."""

import pytest
from django.utils import timezone, translation

from relais.transmission.models import Transmission
from relais.transmission.services import DEAD_AFTER_AR_REASON, describe
from relais.transmission.worker import send_due
from tests.support.drain import drain_here
from tests.support.fictitious import PATIENT_DATA

pytestmark = pytest.mark.django_db
# The simulator's AE for a refused patient quotes the birth name, as a real receiver may.
REFUSAL = f"the receiver refuses results for this patient ({PATIENT_DATA['birth_name']})"
State = Transmission.State
Error = Transmission.Error


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def test_an_application_reject_is_sent_again_with_a_backoff(start_sidep, screening_test):
    simulator = start_sidep("--application-reject-count", "2", "--fast-validation")
    before = timezone.now()
    send_due()
    row = screening_test.transmissions.get()
    assert (row.state, row.ack_code, row.last_error) == (
        State.PENDING, "AR", Error.APPLICATION_REJECT,
    )  # fmt: skip
    assert row.next_attempt_at > before and row.attempts == 1
    assert describe(screening_test)["state"] == State.PENDING
    assert send_due() == 0  # not before its backoff
    drain_here()
    row.refresh_from_db()
    assert (row.state, row.ack_code, row.attempts, row.last_error) == (
        State.ACKNOWLEDGED, "AA", 3, "",
    )  # fmt: skip
    # The same MSH-10 each time; SI-DEP stored it once, when it could process it.
    assert simulator.counts() == {"accepted": 1, "distinct_message_ids": 1, "received": 1}


def test_application_rejects_until_the_last_attempt_make_a_dead_letter(
    start_sidep, settings, screening_test
):
    settings.TRANSMISSION_MAX_ATTEMPTS = 3
    simulator = start_sidep("--application-reject-rate", "1", "--fast-validation")
    for _ in range(3):
        Transmission.objects.update(next_attempt_at=timezone.now())
        send_due()
    row = screening_test.transmissions.get()
    assert (row.state, row.attempts, row.last_error) == (State.DEAD, 3, Error.APPLICATION_REJECT)
    assert describe(screening_test)["reason"] == str(DEAD_AFTER_AR_REASON)
    assert simulator.counts()["accepted"] == 0


def test_a_patient_sidep_refuses_is_an_application_error_a_rejection(start_sidep, screening_test):
    """The simulator's refused patients are a content problem: AE, never retried."""
    start_sidep("--reject-birth-name", PATIENT_DATA["birth_name"], "--fast-validation")
    send_due()
    row = screening_test.transmissions.get()
    assert (row.state, row.ack_code, row.last_error) == (State.REJECTED, "AE", "")
    assert describe(screening_test)["reason"] == REFUSAL
    Transmission.objects.update(next_attempt_at=timezone.now())
    assert send_due() == 0
