"""Issue 15: a cancellation says why. A test recorded for the wrong patient is withdrawn
with OBX-11 W ("post original as wrong, e.g. transmitted for wrong patient", HL7 table
0085); every other reason with D. OBR-25 is X for both (table 0123 has neither D nor W).
Read in the messages the real simulator stored, after its strict hl7apy validation."""

import pytest
from django.urls import reverse

from relais.screening import services
from relais.screening.services import CANCEL_REASONS
from relais.transmission.hl7 import order_id
from relais.transmission.models import Transmission
from sidep_simulator.store import Store
from tests.support.drain import drain_here
from tests.support.factories import make_test

pytestmark = pytest.mark.django_db

EXPECTED = {
    "wrong_patient": "W",
    "entered_in_error": "D",
    "duplicate": "D",
    "not_performed": "D",
}


def stored_statuses(simulator) -> dict[str, list[tuple[str, str]]]:
    """(OBX-11 of every OBX, OBR-25) of each stored message, by order (hl7.order_id)."""
    held: dict[str, list[tuple[str, str]]] = {}
    for _message_id, _received_at, body in Store(simulator.db).messages():
        segments = [segment.split("|") for segment in body.split("\r") if segment]
        obr = next(fields for fields in segments if fields[0] == "OBR")
        obx_statuses = {fields[11] for fields in segments if fields[0] == "OBX"}
        (obx_status,) = obx_statuses
        held.setdefault(obr[2].split("^")[0], []).append((obx_status, obr[25]))
    return held


def test_each_cancellation_reason_goes_out_with_its_status(
    sidep, pharmacist_client, patient, pharmacist
):
    assert set(EXPECTED) == set(CANCEL_REASONS)
    tests = {reason: make_test(patient, pharmacist) for reason in EXPECTED}
    drain_here()
    for reason, test in tests.items():
        response = pharmacist_client.post(
            reverse("screening:test_cancel", args=[test.pk]), {"reason": reason}
        )
        assert response.status_code == 302
        row = test.transmissions.get(kind=Transmission.Kind.CANCELLATION)
        assert (row.cancel_reason, row.result_status) == (reason, EXPECTED[reason])
    drain_here()
    held = stored_statuses(sidep)
    assert {reason: held[order_id(test)] for reason, test in tests.items()} == {
        reason: [("F", "F"), (status, "X")] for reason, status in EXPECTED.items()
    }
    assert not Transmission.objects.exclude(state=Transmission.State.ACKNOWLEDGED).exists()


def test_a_wrong_patient_cancellation_before_sending_sends_nothing(sidep, patient, pharmacist):
    """A message that never left is withdrawn whatever the reason: SI-DEP never held it."""
    test = make_test(patient, pharmacist)
    services.cancel_test(test, pharmacist, "wrong_patient")
    drain_here()
    assert [row.state for row in test.transmissions.all()] == [Transmission.State.WITHDRAWN]
    assert sidep.counts()["accepted"] == 0
