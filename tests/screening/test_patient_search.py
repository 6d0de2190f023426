from django.urls import reverse

from relais.audit.models import AuditEvent
from tests.conftest import PATIENT_DATA

SEARCH = reverse("screening:patient_search")


def test_search_by_nir_with_spaces(pharmacist_client, patient):
    response = pharmacist_client.get(SEARCH, {"nir": "2 85 03 75 056 123 06"})
    assert response.context["patients"] == [patient]
    event = AuditEvent.objects.get(action="patient.search")
    assert event.details == {"by": "nir", "found": 1, "patient_ids": [str(patient.pk)]}


def test_search_by_birth_name_and_birth_date(pharmacist_client, patient):
    response = pharmacist_client.get(
        SEARCH, {"birth_name": "LEFEVRE", "birth_date": PATIENT_DATA["birth_date"].isoformat()}
    )
    assert response.context["patients"] == [patient]


def test_another_pharmacys_patient_is_not_found(client, patient, other_pharmacist):
    from tests.conftest import log_in

    response = log_in(client, other_pharmacist).get(SEARCH, {"nir": PATIENT_DATA["nir"]})
    assert response.context["patients"] == []


def test_invalid_nir_is_a_field_error(pharmacist_client, patient):
    response = pharmacist_client.get(SEARCH, {"nir": "285037505612399"})
    assert response.context["form"].errors["nir"]
    assert response.context["patients"] is None


def test_birth_name_alone_is_not_enough(pharmacist_client):
    response = pharmacist_client.get(SEARCH, {"birth_name": "Lefèvre"})
    assert response.context["form"].non_field_errors()


def test_anonymous_is_sent_to_login(client, db):
    assert client.get(SEARCH, {"nir": PATIENT_DATA["nir"]}).status_code == 302
