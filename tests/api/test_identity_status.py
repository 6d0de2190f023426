"""The identity status in the API: provisional by default; qualified only with the INS
traits (NIR and birthplace) the caller's software got from the INSi service."""

import pytest

from relais.screening.models import IdentityStatus, Patient, ScreeningTest
from relais.transmission.hl7 import build_oru_r01
from tests.support.factories import CREATED_AT, make_patient
from tests.support.fictitious import api_submission

pytestmark = pytest.mark.django_db


def test_the_api_records_a_qualified_identity_and_sends_its_ins(api):
    body = api_submission()
    body["patient"]["identity_status"] = "QUAL"
    response = api.post("/tests", body)
    assert response.status_code == 201, response.json()
    test = ScreeningTest.objects.select_related("patient", "pharmacy", "performed_by").get(
        pk=response.json()["id"]
    )
    assert test.patient.identity_status == IdentityStatus.QUALIFIED
    message = build_oru_r01(test, message_id="M-1", result_status="F", created_at=CREATED_AT)
    assert "285037505612306^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS" in message


@pytest.mark.parametrize("status", [None, ""])
def test_the_api_defaults_to_provisional(api, status):
    body = api_submission()
    if status is not None:
        body["patient"]["identity_status"] = status
    response = api.post("/tests", body)
    assert response.status_code == 201
    assert Patient.objects.get().identity_status == IdentityStatus.PROVISIONAL


@pytest.mark.parametrize(
    ("missing", "code"),
    [("nir", "qualified_without_ins"), ("birthplace_code", "qualified_without_birthplace")],
)
def test_the_api_refuses_a_qualified_identity_without_its_ins_traits(api, missing, code):
    body = api_submission()
    body["patient"]["identity_status"] = "QUAL"
    body["patient"][missing] = ""
    response = api.post("/tests", body)
    assert response.status_code == 422
    errors = {(e["field"], e["code"]) for e in response.json()["errors"]}
    assert (f"/patient/{missing}", code) in errors
    assert not Patient.objects.exists()


@pytest.mark.parametrize("status", ["qualified", "RECUP", "vali", 3, None])
def test_the_api_refuses_an_unknown_status(api, status):
    body = api_submission()
    body["patient"]["identity_status"] = status
    response = api.post("/tests", body)
    assert response.status_code == 422
    assert not Patient.objects.exists()


def test_a_stored_patient_is_not_requalified_by_the_api(api, pharmacy, pharmacist):
    """The API finds a stored record and never changes it: a qualified submission does not
    make a provisional record qualified."""
    existing = make_patient(pharmacy, pharmacist)
    body = api_submission()
    body["patient"]["identity_status"] = "QUAL"
    assert api.post("/tests", body).status_code == 201
    existing.refresh_from_db()
    assert existing.identity_status == IdentityStatus.PROVISIONAL
