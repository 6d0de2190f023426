"""GET and PUT /api/v1/patients/{id}: a patient of a test the credential may read."""

import pytest

from relais.audit.models import AuditEvent
from relais.screening.models import Patient
from relais.transmission.models import Transmission
from tests.support.factories import make_patient, make_test
from tests.support.fictitious import PATIENT_DATA

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def body(**overrides) -> dict:
    data = {**PATIENT_DATA, "birth_date": PATIENT_DATA["birth_date"].isoformat()}
    return {**data, **overrides}


def put(api, patient, data, version=1, headers=None):
    headers = {"If-Match": f'"{version}"', **(headers or {})}
    return api.put(f"/patients/{patient.pk}", data, headers=headers)


def test_reads_the_patient_with_its_etag(api, patient, screening_test):
    response = api.get(f"/patients/{patient.pk}")
    assert response.status_code == 200, response.content
    assert response.json()["birth_name"] == PATIENT_DATA["birth_name"]
    assert response["ETag"] == f'"{patient.version}"'
    assert AuditEvent.objects.filter(action="patient.view", target_id=str(patient.pk)).exists()


def test_corrects_the_patient_and_tells_sidep(api, patient, screening_test):
    Transmission.objects.filter(test=screening_test).update(state=Transmission.State.ACKNOWLEDGED)
    response = put(api, patient, body(given_names="Élodie Anne Marie"), patient.version)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["changed_fields"] == ["given_names"]
    assert answer["version"] == patient.version + 1
    assert response["ETag"] == f'"{patient.version + 1}"'
    assert Patient.objects.get(pk=patient.pk).given_names == "Élodie Anne Marie"
    kinds = list(Transmission.objects.filter(test=screening_test).values_list("kind", flat=True))
    assert kinds == ["new", "correction"]
    event = AuditEvent.objects.get(action="patient.update")
    assert event.target_id == str(patient.pk) and event.details["via"] == "api"


def test_nothing_changed_sends_nothing(api, patient, screening_test):
    response = put(api, patient, body(), patient.version)
    assert response.status_code == 200
    assert response.json()["changed_fields"] == []
    assert not AuditEvent.objects.filter(action="patient.update").exists()


def test_a_nir_of_another_patient_is_a_conflict(api, patient, pharmacist, screening_test):
    other = make_patient(patient.pharmacy, pharmacist, birth_name="Durand")
    response = put(api, patient, body(nir=other.nir), patient.version)
    assert response.status_code == 409, response.content
    assert response["Content-Type"] == PROBLEM
    assert response.json()["errors"][0]["field"] == "/nir"
    assert Patient.objects.get(pk=patient.pk).nir == PATIENT_DATA["nir"]


def test_if_match_is_required_and_checked(api, patient, screening_test):
    missing = api.put(f"/patients/{patient.pk}", body(city="Lyon"))
    assert missing.status_code == 428
    stale = put(api, patient, body(city="Lyon"), patient.version + 5)
    assert stale.status_code == 412 and stale["ETag"] == f'"{patient.version}"'
    assert Patient.objects.get(pk=patient.pk).city == "Paris"


@pytest.mark.parametrize(
    "data",
    [
        body(birth_date="1985-02-30"),
        body(nir="123"),
        body(sex="X"),
        body(colour="blue"),
        {"birth_name": "Lefèvre"},
    ],
)
def test_invalid_data_is_refused(api, patient, screening_test, data):
    response = put(api, patient, data, patient.version)
    assert response.status_code == 422, response.content
    assert Patient.objects.get(pk=patient.pk).version == patient.version


def test_a_retry_with_the_same_key_gets_the_first_answer(api, patient, screening_test):
    key = {"Idempotency-Key": "patient-1"}
    first = put(api, patient, body(city="Lyon"), patient.version, key)
    retry = put(api, patient, body(city="Lyon"), patient.version, key)
    assert first.status_code == retry.status_code == 200
    assert first.json() == retry.json()
    assert AuditEvent.objects.filter(action="patient.update").count() == 1


def test_patients_out_of_scope_are_not_found(
    api, patient, pharmacist, other_pharmacy, other_pharmacist
):
    theirs = make_patient(other_pharmacy, other_pharmacist)
    make_test(theirs, other_pharmacist)
    make_test(patient, pharmacist)  # a web test: not the credential's
    for someone in (theirs, patient):
        assert api.get(f"/patients/{someone.pk}").status_code == 404
        response = put(api, someone, body(city="Lyon"), someone.version)
        assert response.status_code == 404
        assert Patient.objects.get(pk=someone.pk).city != "Lyon"
    assert not AuditEvent.objects.filter(action__startswith="patient.").exists()
