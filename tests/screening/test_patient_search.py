from django.urls import reverse

from relais.audit.models import AuditEvent
from tests.support.factories import log_in
from tests.support.fictitious import PATIENT_DATA

SEARCH = reverse("screening:patient_search")


def test_search_by_nir_with_spaces(pharmacist_client, patient):
    response = pharmacist_client.post(SEARCH, {"nir": "2 85 03 75 056 123 06"})
    assert response.context["patients"] == [patient]
    event = AuditEvent.objects.get(action="patient.search")
    assert event.details == {"by": "nir", "found": 1, "patient_ids": [str(patient.pk)]}


def test_search_by_birth_name_and_birth_date(pharmacist_client, patient):
    response = pharmacist_client.post(
        SEARCH, {"birth_name": "LEFEVRE", "birth_date": PATIENT_DATA["birth_date"].isoformat()}
    )
    assert response.context["patients"] == [patient]


def test_another_pharmacys_patient_is_not_found(client, patient, other_pharmacist):
    response = log_in(client, other_pharmacist).post(SEARCH, {"nir": PATIENT_DATA["nir"]})
    assert response.context["patients"] == []


def test_invalid_nir_is_a_field_error(pharmacist_client, patient):
    response = pharmacist_client.post(SEARCH, {"nir": "285037505612399"})
    assert response.context["form"].errors["nir"]
    assert response.context["patients"] is None


def test_birth_name_alone_is_not_enough(pharmacist_client):
    response = pharmacist_client.post(SEARCH, {"birth_name": "Lefèvre"})
    assert response.context["form"].non_field_errors()


def test_anonymous_is_sent_to_login(client, db):
    assert client.post(SEARCH, {"nir": PATIENT_DATA["nir"]}).status_code == 302


def test_search_criteria_never_travel_in_the_url(pharmacist_client, patient):
    response = pharmacist_client.get(SEARCH, {"nir": PATIENT_DATA["nir"]})
    assert response.context["patients"] is None  # a GET never searches
    assert 'method="post"' in response.content.decode()


def test_no_result_offers_to_create_the_patient_with_the_criteria(pharmacist_client):
    response = pharmacist_client.post(SEARCH, {"birth_name": "Inconnu", "birth_date": "1950-01-01"})
    assert response.context["patients"] == []
    page = response.content.decode()
    assert 'name="prefill"' in page and 'value="Inconnu"' in page
    prefilled = pharmacist_client.post(
        reverse("screening:patient_new"),
        {"prefill": "1", "birth_name": "Inconnu", "birth_date": "1950-01-01", "nir": ""},
    )
    assert prefilled.status_code == 200
    assert not prefilled.context["form"].is_bound
    assert prefilled.context["form"].initial["birth_name"] == "Inconnu"
