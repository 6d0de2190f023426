import pytest

from relais.audit.models import AuditEvent
from relais.screening.models import Patient, ScreeningTest
from relais.transmission.models import Transmission
from tests.support.factories import make_patient
from tests.support.fictitious import api_submission

pytestmark = pytest.mark.django_db


def test_records_a_test_and_creates_the_patient(api, credential, pharmacy, pharmacist):
    response = api.post("/tests", api_submission())
    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"
    body = response.json()
    test = ScreeningTest.objects.get(pk=body["id"])
    assert test.pharmacy == pharmacy
    assert test.performed_by == pharmacist  # named by its RPPS
    assert test.recorded_by == credential.service_user
    assert body["patient_created"] is True
    assert body["transmission"]["state"] == "pending"
    patient = Patient.objects.get(pk=body["patient_id"])
    assert patient.nir == "285037505612306"
    assert patient.phone == "+33612345678"  # normalised by the form's rules
    # The outbox row was written with the test.
    assert Transmission.objects.filter(test=test).count() == 1
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"patient.create", "test.create"} <= actions


def test_finds_the_patient_by_nir(api, pharmacy, pharmacist):
    existing = make_patient(pharmacy, pharmacist)
    body = api_submission()
    body["patient"]["birth_name"] = "Lefevre"  # typed differently; the NIR decides
    response = api.post("/tests", body)
    assert response.status_code == 201
    assert response.json()["patient_id"] == str(existing.pk)
    assert response.json()["patient_created"] is False
    assert Patient.objects.count() == 1


@pytest.mark.parametrize("stored_nir", ["", "285037505612306"])
def test_finds_the_patient_by_identity_without_nir_and_keeps_its_id(
    api, pharmacy, pharmacist, stored_nir
):
    """A name and a birth date find the stored patient, but the answer does not name it:
    the caller did not identify the person by NIR (a leaked credential would otherwise
    tie a person to the pharmacy's records of them)."""
    existing = make_patient(pharmacy, pharmacist, nir=stored_nir)
    body = api_submission()
    body["patient"]["nir"] = ""
    body["patient"]["birth_name"] = "LEFEVRE"
    response = api.post("/tests", body)
    assert response.status_code == 201
    created = response.json()
    assert created["patient_id"] is None and created["patient_created"] is False
    assert ScreeningTest.objects.get(pk=created["id"]).patient == existing
    assert str(existing.pk) not in response.content.decode()
    assert str(existing.pk) not in api.get(f"/tests/{created['id']}").content.decode()
    assert str(existing.pk) not in api.get("/tests").content.decode()


def test_a_twin_is_not_merged(api, pharmacy, pharmacist):
    make_patient(pharmacy, pharmacist, nir="")
    body = api_submission()
    body["patient"]["nir"] = ""
    body["patient"]["given_names"] = "Camille"
    response = api.post("/tests", body)
    assert response.json()["patient_created"] is True
    assert Patient.objects.count() == 2


def test_another_pharmacy_patient_is_never_reused(api, other_pharmacy, other_pharmacist):
    theirs = make_patient(other_pharmacy, other_pharmacist)
    response = api.post("/tests", api_submission())
    assert response.json()["patient_id"] != str(theirs.pk)


def test_validation_uses_the_form_rules(api):
    body = api_submission(specimen="throat_swab", sampled_at="2099-01-01T10:00:00+01:00")
    body["patient"]["nir"] = "185037505612356"  # a man's NIR for a woman
    body["patient"]["postal_code"] = "7501"
    response = api.post("/tests", body)
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    errors = {(e["field"], e["code"]) for e in response.json()["errors"]}
    assert ("/patient/nir", "nir_sex") in errors
    assert ("/patient/postal_code", "postal_code") in errors
    assert ("/test/specimen", "specimen_kind") in errors
    assert any(field == "/test/sampled_at" for field, _ in errors)
    assert ScreeningTest.objects.count() == 0
    assert Patient.objects.count() == 0


def test_notification_needs_a_channel(api):
    body = api_submission(notify_by="sms")
    body["patient"]["phone"] = ""
    response = api.post("/tests", body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "/test/notify_by"


def test_health_needs_no_credentials(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
