import datetime
import json

from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from relais.audit.models import AuditEvent
from relais.screening import searches
from tests.support.factories import log_in, make_member
from tests.support.fictitious import PATIENT_DATA
from tests.support.patient_pages import in_english

SEARCH = reverse("screening:patient_search")


def test_search_by_nir_with_spaces(pharmacist_client, patient):
    response = pharmacist_client.post(SEARCH, {"nir": "2 85 03 75 056 123 06"}, follow=True)
    assert response.context["patients"] == [patient]
    event = AuditEvent.objects.get(action="patient.search")
    assert event.details == {"by": "nir", "found": 1, "patient_ids": [str(patient.pk)]}


def test_search_by_birth_name_and_birth_date(pharmacist_client, patient):
    response = pharmacist_client.post(
        SEARCH,
        {"birth_name": "LEFEVRE", "birth_date": PATIENT_DATA["birth_date"].isoformat()},
        follow=True,
    )
    assert response.context["patients"] == [patient]


def test_another_pharmacys_patient_is_not_found(client, patient, other_pharmacist):
    response = log_in(client, other_pharmacist).post(
        SEARCH, {"nir": PATIENT_DATA["nir"]}, follow=True
    )
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
    response = pharmacist_client.post(
        SEARCH, {"birth_name": "Inconnu", "birth_date": "1950-01-01"}, follow=True
    )
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


# --- Post/Redirect/Get: Back and Reload never send the search again -------------------------


def test_a_search_redirects_to_its_results_without_the_criteria(pharmacist_client, patient):
    response = pharmacist_client.post(SEARCH, {"nir": PATIENT_DATA["nir"]})
    assert response.status_code == 302
    results = response["Location"]
    assert results.startswith(f"{SEARCH}?search=")
    assert PATIENT_DATA["nir"] not in results and "Lef" not in results
    # Reloading the results page (a GET) shows them again, and each showing is audited.
    for _ in range(2):
        assert pharmacist_client.get(results).context["patients"] == [patient]
    assert AuditEvent.objects.filter(action="patient.search").count() == 2


def test_the_criteria_are_kept_encrypted_in_the_session(pharmacist_client, patient):
    pharmacist_client.post(SEARCH, {"nir": "2 85 03 75 056 123 06"})
    stored = Session.objects.get(session_key=pharmacist_client.session.session_key)
    raw = stored.session_data + json.dumps(stored.get_decoded())
    assert PATIENT_DATA["nir"] not in raw and "285037505612306" not in raw


def test_results_are_this_sessions_own(pharmacist_client, patient, client, pharmacy):
    results = pharmacist_client.post(SEARCH, {"nir": PATIENT_DATA["nir"]})["Location"]
    colleague = in_english(log_in(client, make_member(pharmacy, "colleague@example.org")))
    response = colleague.get(results)
    assert response.context["patients"] is None
    assert "expired" in response.content.decode()
    assert not AuditEvent.objects.filter(action="patient.search").exists()


def test_results_expire(pharmacist_client, patient):
    results = pharmacist_client.post(SEARCH, {"nir": PATIENT_DATA["nir"]})["Location"]
    session = pharmacist_client.session
    too_old = timezone.now() - datetime.timedelta(minutes=searches.SEARCH_MINUTES + 1)
    for entry in session[searches.SESSION_KEY].values():
        entry["at"] = too_old.isoformat()
    session.save()
    assert pharmacist_client.get(results).context["patients"] is None
    assert pharmacist_client.session[searches.SESSION_KEY] == {}  # forgotten
    assert pharmacist_client.get(f"{SEARCH}?search=made-up").context["patients"] is None
