"""The identity status at the counter: provisional by default, validated when an identity
document was seen; qualified is never chosen here (it needs the INSi service)."""

import pytest
from django.urls import reverse

from relais.screening.models import IdentityStatus, Patient
from tests.support.factories import form_guards, log_in
from tests.support.fictitious import PATIENT_DATA

pytestmark = pytest.mark.django_db

NEW = reverse("screening:patient_new")
FORM = {
    **{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in PATIENT_DATA.items()},
    "used_name": "",
}


def edit_url(patient):
    return reverse("screening:patient_edit", args=[patient.pk])


def edit_form(patient, **changes):
    return {**FORM, **form_guards(patient), **changes}


def status_errors(response) -> list[str]:
    return [e.code for e in response.context["form"].errors.as_data().get("identity_status", [])]


def test_a_new_patient_is_provisional_unless_a_document_was_seen(pharmacist_client):
    pharmacist_client.post(NEW, {**FORM, **form_guards()})
    assert Patient.objects.get().identity_status == IdentityStatus.PROVISIONAL
    Patient.objects.all().delete()
    pharmacist_client.post(NEW, {**FORM, **form_guards(), "identity_status": "VALI"})
    assert Patient.objects.get().identity_status == IdentityStatus.VALIDATED


def test_the_counter_cannot_choose_qualified(pharmacist_client):
    page = pharmacist_client.get(NEW).content.decode()
    assert 'value="VALI"' in page and 'value="QUAL"' not in page
    response = pharmacist_client.post(NEW, {**FORM, **form_guards(), "identity_status": "QUAL"})
    assert response.status_code == 200
    assert status_errors(response) == ["invalid_choice"]
    assert not Patient.objects.exists()


def test_the_detail_page_shows_the_status(pharmacist_client, patient):
    Patient.objects.filter(pk=patient.pk).update(identity_status="VALI")
    pharmacist_client.cookies["django_language"] = "en"
    page = pharmacist_client.get(reverse("screening:patient_detail", args=[patient.pk]))
    assert "Validated (identity document seen)" in page.content.decode()


def test_an_edit_validates_the_identity(pharmacist_client, patient):
    response = pharmacist_client.post(edit_url(patient), edit_form(patient, identity_status="VALI"))
    assert response.status_code == 302
    assert Patient.objects.get(pk=patient.pk).identity_status == IdentityStatus.VALIDATED


def test_a_qualified_record_keeps_its_status_but_not_with_changed_traits(
    pharmacist_client, patient
):
    Patient.objects.filter(pk=patient.pk).update(identity_status="QUAL")
    patient.refresh_from_db()
    kept = edit_form(patient, identity_status="QUAL", city="Lyon", postal_code="69001")
    assert pharmacist_client.post(edit_url(patient), kept).status_code == 302
    patient.refresh_from_db()
    assert (patient.identity_status, patient.city) == ("QUAL", "Lyon")
    typed = edit_form(patient, identity_status="QUAL", city="Lyon", postal_code="69001",
                      given_names="Élodie")  # fmt: skip
    response = pharmacist_client.post(edit_url(patient), typed)
    assert status_errors(response) == ["qualified_traits_changed"]
    assert Patient.objects.get(pk=patient.pk).given_names == "Élodie Anne"
    # Corrected as a validated identity, it no longer travels as INS.
    corrected = edit_form(patient, identity_status="VALI", city="Lyon", postal_code="69001",
                          given_names="Élodie")  # fmt: skip
    assert pharmacist_client.post(edit_url(patient), corrected).status_code == 302
    assert Patient.objects.get(pk=patient.pk).identity_status == IdentityStatus.VALIDATED


def test_another_pharmacy_cannot_change_the_status(client, patient, other_pharmacist):
    form = edit_form(patient, identity_status="VALI")
    response = log_in(client, other_pharmacist).post(edit_url(patient), form)
    assert response.status_code == 404
    assert Patient.objects.get(pk=patient.pk).identity_status == IdentityStatus.PROVISIONAL
