"""The web's questions before a possible duplicate: a patient the typed identity may be
(the new-patient form), a second test of the same patient and analyte within 2 hours
(the new-test form). The API's and the CSV import's answers are in tests/api and
tests/imports; the cases all three share in test_entry_point_parity.py."""

import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from relais.audit.models import AuditEvent
from relais.crypto.blind_index import blind_index
from relais.screening import services, submissions
from relais.screening.models import IDENTITY_INDEX, Patient, ScreeningTest
from tests.support.factories import form_guards, make_patient, make_test, screening_test_form
from tests.support.fictitious import make_nir

pytestmark = pytest.mark.django_db

NEW = reverse("screening:patient_new")
STORED = {"birth_name": "Lefèvre-Müller", "given_names": "Éloïse", "nir": ""}
TYPED = {
    "birth_name": "Lefevre-Muller",
    "used_name": "",
    "given_names": "Eloise",
    "birth_date": "1985-03-14",
    "sex": "F",
    "birthplace_code": "",
    "nir": "",
    "address": "",
    "postal_code": "",
    "city": "",
    "phone": "",
    "email": "",
}


def ask(client, **changes):
    return client.post(NEW, {**TYPED, **form_guards(), **changes})


def test_a_typed_identity_that_may_be_a_stored_patient_shows_it_and_asks(
    pharmacist_client, pharmacy, pharmacist
):
    stored = make_patient(pharmacy, pharmacist, **STORED)
    response = ask(pharmacist_client)
    assert response.status_code == 200
    assert Patient.objects.count() == 1  # nothing saved yet
    page = response.content.decode()
    assert "LEFÈVRE-MÜLLER Éloïse" in page and 'name="duplicate_choice"' in page
    # Using the stored record is what the page proposes.
    assert response.context["duplicate_choice"] == str(stored.pk)
    assert f'value="{stored.pk}" checked' in page
    shown = AuditEvent.objects.get(action="patient.view", target_id=str(stored.pk))
    assert shown.details == {"as": "possible_duplicate"}


def test_using_the_stored_record_goes_to_its_test_form(pharmacist_client, pharmacy, pharmacist):
    stored = make_patient(pharmacy, pharmacist, **STORED)
    response = ask(pharmacist_client, duplicate_choice=str(stored.pk))
    assert response.status_code == 302
    assert response["Location"] == reverse("screening:test_new", args=[stored.pk])
    assert Patient.objects.count() == 1


def test_another_patient_anyway_is_registered_and_audited(pharmacist_client, pharmacy, pharmacist):
    stored = make_patient(pharmacy, pharmacist, **STORED)
    response = ask(pharmacist_client, duplicate_choice=submissions.NEW_PATIENT)
    assert response.status_code == 302
    created = Patient.objects.exclude(pk=stored.pk).get()
    assert response["Location"] == reverse("screening:test_new", args=[created.pk])
    event = AuditEvent.objects.get(action="patient.create", target_id=str(created.pk))
    assert event.details["confirmed_despite"] == [str(stored.pk)]


def test_close_given_names_are_asked_about_too(pharmacist_client, pharmacy, pharmacist):
    stored = make_patient(pharmacy, pharmacist, **{**STORED, "given_names": "Éloïse Marie"})
    for given_names in ("Marie Eloise", "ELOISE"):
        response = ask(pharmacist_client, given_names=given_names)
        assert [item["patient"] for item in response.context["duplicates"]] == [stored]
    # A twin's given names are not close: registered without a question.
    assert ask(pharmacist_client, given_names="Camille").status_code == 302


def test_only_a_record_asked_about_and_usable_can_be_chosen(
    pharmacist_client, pharmacy, pharmacist, other_pharmacy, other_pharmacist
):
    with_nir = make_patient(pharmacy, pharmacist, **{**STORED, "nir": "285037505612306"})
    elsewhere = make_patient(other_pharmacy, other_pharmacist, **STORED)
    another_nir = make_nir("F", datetime.date(1985, 3, 14), 124)
    # The same identity with another NIR: shown, but it cannot receive the result.
    response = ask(pharmacist_client, nir=another_nir)
    [item] = response.context["duplicates"]
    assert item == {"patient": with_nir, "usable": False}
    assert response.context["duplicate_choice"] == submissions.NEW_PATIENT
    for choice in (str(with_nir.pk), str(elsewhere.pk), "anything"):
        response = ask(pharmacist_client, nir=another_nir, duplicate_choice=choice)
        assert response.status_code == 200 and response.context["duplicates"]
    assert Patient.objects.filter(pharmacy=pharmacy).count() == 1


def test_a_patient_found_by_nir_is_used_without_a_question(pharmacist_client, pharmacy, pharmacist):
    stored = make_patient(pharmacy, pharmacist)
    response = ask(
        pharmacist_client,
        birth_name="LEFEVRE",
        given_names="Élodie Anne",
        nir="2 85 03 75 056 123 06",
    )
    assert response["Location"] == reverse("screening:test_new", args=[stored.pk])


def test_a_nir_conflict_names_the_differing_traits(pharmacist_client, pharmacy, pharmacist):
    make_patient(pharmacy, pharmacist, birth_date=datetime.date(1985, 3, 20), sex="U")
    response = ask(pharmacist_client, birth_name="Lefèvre", nir="2 85 03 75 056 123 06")
    [error] = response.context["form"].errors.as_data()["nir"]
    assert error.code == "nir_conflict"
    for trait in ("birth_date", "sex"):
        assert str(submissions.TRAITS[trait]) in error.messages[0]
    assert Patient.objects.count() == 1


@pytest.mark.parametrize("historical", [False, True])
def test_identity_indexes_made_before_ligatures_were_split_are_recomputed(
    pharmacy, pharmacist, historical
):
    """The migration that split ligatures recomputes the stored indexes (its historical
    model decrypts like the real one); then "Loeuillet" finds "Lœuillet"."""
    stored = make_patient(pharmacy, pharmacist, birth_name="Lœuillet", nir="")
    plain = make_patient(pharmacy, pharmacist, birth_name="Martin", nir="")
    before = blind_index(IDENTITY_INDEX, str(pharmacy.pk), "LŒUILLET|1985-03-14")
    Patient.objects.filter(pk=stored.pk).update(identity_index=before)
    model = Patient
    if historical:
        state = MigrationExecutor(connection).loader.project_state(
            ("screening", "0006_reindex_identities_ligatures")
        )
        model = state.apps.get_model("screening", "Patient")
    assert services.reindex_identities(model) == 1
    assert services.reindex_identities(model) == 0
    found = services.find_patients(pharmacy, birth_name="LOEUILLET", birth_date=stored.birth_date)
    assert list(found) == [stored]
    assert Patient.objects.get(pk=plain.pk).identity_index == plain.identity_index


# --- A second test within 2 hours --------------------------------------------------------


def new_test_url(patient):
    return reverse("screening:test_new", args=[patient.pk])


def test_a_second_test_within_two_hours_shows_the_first_and_asks(
    pharmacist_client, patient, pharmacist
):
    sampled = timezone.localtime().replace(second=0, microsecond=0) - datetime.timedelta(hours=3)
    earlier = make_test(
        patient, pharmacist, kind="sars_cov_2_influenza_ab_antigen", sampled_at=sampled
    )
    assert 'name="new_sample"' not in pharmacist_client.get(new_test_url(patient)).content.decode()
    typed_at = (sampled + datetime.timedelta(minutes=100)).strftime("%Y-%m-%dT%H:%M")
    response = pharmacist_client.post(
        new_test_url(patient), screening_test_form(sampled_at=typed_at)
    )
    assert response.status_code == 200
    [error] = response.context["form"].errors.as_data()["new_sample"]
    assert error.code == "possible_duplicate_test"
    page = response.content.decode()
    assert 'name="new_sample"' in page
    assert sampled.strftime("%d/%m/%Y %H:%M") in page
    assert "SARS-CoV-2 + influenza A and B" in page or "SARS-CoV-2 + grippe" in page
    assert ScreeningTest.objects.count() == 1

    confirmed = screening_test_form(sampled_at=typed_at, new_sample="on")
    assert pharmacist_client.post(new_test_url(patient), confirmed).status_code == 302
    second = ScreeningTest.objects.exclude(pk=earlier.pk).get()
    event = AuditEvent.objects.get(action="test.create", target_id=str(second.pk))
    assert event.details == {"new_sample": True, "earlier_test": str(earlier.pk)}
