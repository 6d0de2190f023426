"""The worker job against the real simulator process (mutual TLS, real ACKs, real faults)."""

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from relais.screening import services
from relais.screening.models import Patient
from relais.transmission.models import Transmission
from relais.transmission.services import describe
from relais.transmission.worker import send_due
from tests.support.drain import drain_here
from tests.support.factories import built_from, make_test
from tests.support.fictitious import PATIENT_DATA

pytestmark = pytest.mark.django_db
# The simulator's AE for a refused patient quotes the birth name, as a real receiver may.
REFUSAL = f"the receiver refuses results for this patient ({PATIENT_DATA['birth_name']})"
State = Transmission.State


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def test_a_recorded_test_is_acknowledged_by_sidep(sidep, screening_test):
    assert send_due() == 1
    row = screening_test.transmissions.get()
    assert (row.state, row.ack_code, row.attempts) == (State.ACKNOWLEDGED, "AA", 1)
    assert row.acknowledged_at is not None and row.sent_at is not None
    assert describe(screening_test)["label"] == "Transmitted"
    assert sidep.counts() == {"accepted": 1, "distinct_message_ids": 1, "received": 1}
    stored = sidep.dump()
    assert row.message_id in stored and "|F|" in stored


def test_sidep_down_then_up(start_sidep, screening_test):
    simulator = start_sidep()
    simulator.stop()
    assert send_due() == 1
    row = screening_test.transmissions.get()
    assert (row.state, row.attempts) == (State.PENDING, 1)
    assert row.last_error == Transmission.Error.UNREACHABLE
    assert describe(screening_test)["next_attempt_at"] == row.next_attempt_at
    simulator.start()
    drain_here()
    row.refresh_from_db()
    assert (row.state, row.attempts) == (State.ACKNOWLEDGED, 2)
    assert row.last_error == ""
    assert simulator.counts()["accepted"] == 1


def test_a_third_of_requests_failing_with_5xx_still_all_get_acknowledged(
    start_sidep, settings, patient, pharmacist
):
    settings.SIDEP_BATCH_SIZE = 5
    simulator = start_sidep("--5xx-rate", "0.3", "--seed", "3", "--fast-validation")
    for _ in range(20):
        make_test(patient, pharmacist)
    drain_here()
    rows = Transmission.objects.all()
    assert {row.state for row in rows} == {State.ACKNOWLEDGED}
    assert sum(row.attempts for row in rows) > 20  # some batches were retried
    assert simulator.counts() == {"accepted": 20, "distinct_message_ids": 20, "received": 20}


def test_a_rejection_is_shown_with_sidep_reason(start_sidep, pharmacist_client, screening_test):
    # The NIR travels (as INS) only for a qualified identity.
    Patient.objects.filter(pk=screening_test.patient_id).update(identity_status="QUAL")
    start_sidep("--reject-nir", PATIENT_DATA["nir"])
    send_due()
    row = screening_test.transmissions.get()
    assert (row.state, row.ack_code) == (State.REJECTED, "AE")
    assert row.ack_text == REFUSAL
    pharmacist_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = pharmacist_client.get(reverse("screening:day")).content.decode()
    assert "SI-DEP: Rejected" in html
    assert REFUSAL in html
    assert reverse("screening:test_correct", args=[screening_test.pk]) in html
    assert send_due() == 0  # a rejection is not retried blindly


def test_a_correction_and_a_cancellation_follow_the_result(sidep, pharmacist, screening_test):
    drain_here()
    services.correct_test(
        screening_test, pharmacist, {"result": "positive"}, built_from(screening_test)
    )
    drain_here()
    services.cancel_test(screening_test, pharmacist, "entered_in_error")
    drain_here()
    rows = list(screening_test.transmissions.order_by("sequence"))
    assert [(row.kind, row.state) for row in rows] == [
        ("new", State.ACKNOWLEDGED),
        ("correction", State.ACKNOWLEDGED),
        ("cancellation", State.ACKNOWLEDGED),
    ]
    stored = sidep.dump()
    # OBX-11 of each message's result, in the order SI-DEP received them.
    statuses = [line.split("|")[11] for line in stored.splitlines() if line.startswith("OBX|1|")]
    assert statuses == ["F", "C", "D"]


def test_an_application_error_ack_is_a_rejection_not_a_retry(start_sidep, screening_test):
    start_sidep("--error-rate", "1", "--fast-validation")
    send_due()
    row = screening_test.transmissions.get()
    assert (row.state, row.ack_code, row.ack_text) == (
        State.REJECTED,
        "AE",
        "injected application error",
    )
    assert send_due() == 0


def test_a_request_refused_as_a_whole_is_retried_then_dead_lettered(
    start_sidep, settings, patient, pharmacist
):
    """A 4xx about the request (here 404: a wrong address) is no pharmacist's to fix:
    never a rejection; retried, then a dead letter for the operator. (413 splits the
    batch: tests/faults/test_sidep_http.py.)"""
    simulator = start_sidep("--fast-validation")
    settings.SIDEP_URL = simulator.url.replace("/batch", "/elsewhere")
    settings.TRANSMISSION_MAX_ATTEMPTS = 2
    test = make_test(patient, pharmacist)
    assert send_due() == 1
    row = test.transmissions.get()
    assert (row.state, row.last_error, row.last_error_status) == (
        State.PENDING,
        Transmission.Error.CLIENT_ERROR,
        404,
    )
    with translation.override("en"):
        assert row.last_error_text == "SI-DEP refused the request (HTTP 404)"
    drain_here()
    row.refresh_from_db()
    assert (row.state, row.attempts) == (State.DEAD, 2)
    assert simulator.counts()["received"] == 0


def test_a_corrected_patient_identity_follows_the_result(sidep, screening_test):
    drain_here()
    patient = screening_test.patient
    services.update_patient(
        patient, {**PATIENT_DATA, "birth_name": "Lefebvre"}, built_from(patient)
    )
    drain_here()
    rows = list(screening_test.transmissions.order_by("sequence"))
    assert [(row.kind, row.state) for row in rows] == [
        ("new", State.ACKNOWLEDGED),
        ("correction", State.ACKNOWLEDGED),
    ]
    stored = sidep.dump().splitlines()
    names = [line.split("|")[5].split("^")[0] for line in stored if line.startswith("PID|")]
    statuses = [line.split("|")[11] for line in stored if line.startswith("OBX|1|")]
    assert (names, statuses) == ([PATIENT_DATA["birth_name"], "Lefebvre"], ["F", "C"])
