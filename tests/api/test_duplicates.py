"""`POST /api/v1/tests` cannot ask: a possible duplicate patient or test is a 409 problem
(the cases the three entry points share are in tests/screening/test_entry_point_parity.py)."""

import datetime

import pytest
from django.utils import timezone

from relais.screening.models import Patient, ScreeningTest
from tests.support.factories import make_patient, make_test
from tests.support.fictitious import api_submission

pytestmark = pytest.mark.django_db


def test_the_same_test_sent_again_is_a_409_naming_the_first(api):
    first = api.post("/tests", api_submission())
    assert first.status_code == 201
    again = api.post("/tests", api_submission(device="Autre"))
    assert again.status_code == 409
    assert again["Content-Type"] == "application/problem+json"
    problem = again.json()
    assert problem["type"].endswith("#problem-possible-duplicate-test")
    assert problem["earlier_test_id"] == first.json()["id"]
    [error] = problem["errors"]
    assert (error["field"], error["code"]) == ("/test/new_sample", "possible_duplicate_test")
    first_time = timezone.localtime(ScreeningTest.objects.get().sampled_at)
    assert first_time.strftime("%d/%m/%Y %H:%M") in error["message"]
    assert ScreeningTest.objects.count() == 1


def test_new_sample_records_the_second_test(api):
    api.post("/tests", api_submission())
    response = api.post("/tests", api_submission(new_sample=True))
    assert response.status_code == 201
    assert ScreeningTest.objects.count() == 2


def test_new_sample_must_be_a_boolean(api):
    response = api.post("/tests", api_submission(new_sample="yes"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "/test/new_sample"


def test_a_test_the_credential_may_not_read_is_not_described(api, pharmacy, pharmacist):
    """Recorded at the counter: a credential without "read all" learns there is a recent
    test, not its id, kind or time."""
    patient = make_patient(pharmacy, pharmacist)
    sampled = timezone.now() - datetime.timedelta(minutes=45)
    make_test(patient, pharmacist, kind="sars_cov_2_influenza_ab_antigen", sampled_at=sampled)
    response = api.post("/tests", api_submission())
    assert response.status_code == 409
    problem = response.json()
    assert "earlier_test_id" not in problem
    message = problem["errors"][0]["message"]
    assert timezone.localtime(sampled).strftime("%H:%M") not in message
    assert "influenza" not in message.lower() and "grippe" not in message.lower()


def test_a_nir_conflict_is_a_409_naming_the_traits(api, pharmacy, pharmacist):
    make_patient(pharmacy, pharmacist, birth_date=datetime.date(1985, 3, 20), sex="U")
    response = api.post("/tests", api_submission())
    assert response.status_code == 409
    problem = response.json()
    assert problem["type"].endswith("#problem-patient-conflict")
    [error] = problem["errors"]
    assert (error["field"], error["code"]) == ("/patient/nir", "nir_conflict")
    assert "date de naissance" in error["message"] and "sexe" in error["message"]  # French
    assert ScreeningTest.objects.count() == 0


@pytest.mark.parametrize(
    "typed, code, field",
    [
        ({"given_names": "Anne Élodie"}, "possible_duplicate_patient", "given_names"),
        ({"given_names": "Elodie"}, "possible_duplicate_patient", "given_names"),
        ({"nir": "285037505612405"}, "identity_conflict", "nir"),
    ],
)
def test_a_new_patient_who_may_be_a_stored_one_is_a_409(
    api, pharmacy, pharmacist, typed, code, field
):
    make_patient(pharmacy, pharmacist, nir="" if "nir" not in typed else "285037505612306")
    body = api_submission()
    body["patient"].update({"nir": "", **typed})
    response = api.post("/tests", body)
    assert response.status_code == 409, response.json()
    [error] = response.json()["errors"]
    assert (error["field"], error["code"]) == (f"/patient/{field}", code)
    assert Patient.objects.count() == 1 and ScreeningTest.objects.count() == 0


def test_the_openapi_document_describes_new_sample_and_the_earlier_test(client):
    document = client.get("/api/v1/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert schemas["NewTestIn"]["properties"]["new_sample"]["type"] == "boolean"
    assert "earlier_test_id" in schemas["ProblemOut"]["properties"]
    create = document["paths"]["/api/v1/tests"]["post"]
    assert "409" in create["responses"] and "new_sample" in create["description"]
    assert 'id="problem-possible-duplicate-test"' in client.get("/api/v1/docs").content.decode()
