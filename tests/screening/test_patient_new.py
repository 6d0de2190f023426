from django.urls import reverse

from relais.audit.models import AuditEvent
from relais.screening.models import Patient
from tests.support.factories import form_guards

NEW = reverse("screening:patient_new")

FORM = {
    "birth_name": "Durand",
    "used_name": "",
    "given_names": "Marc",
    "birth_date": "1970-07-01",
    "sex": "M",
    "birthplace_code": "2A004",
    "nir": "1 70 07 2A 004 001 72",
    "address": "3 cours Napoléon",
    "postal_code": "20000",
    "city": "Ajaccio",
    "phone": "06 12 34 56 78",
    "email": "Marc.Durand@Example.ORG",
}


def test_registers_a_patient_and_goes_to_the_test_form(pharmacist_client, pharmacy):
    response = pharmacist_client.post(NEW, {**FORM, **form_guards()})
    patient = Patient.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("screening:test_new", args=[patient.pk])
    assert patient.pharmacy == pharmacy
    assert patient.nir == "170072A00400172"
    assert patient.phone == "+33612345678"
    assert patient.email == "Marc.Durand@example.org"
    assert AuditEvent.objects.filter(action="patient.create", target_id=str(patient.pk)).exists()


def test_malformed_input_gives_field_errors_and_saves_nothing(pharmacist_client):
    bad = {
        **FORM,
        "birth_name": "R2D2",
        "birth_date": "2999-01-01",
        "nir": "170072A00400198",
        "phone": "12",
        "email": "nope@",
        "postal_code": "ABC",
    }
    response = pharmacist_client.post(NEW, {**bad, **form_guards()})
    assert response.status_code == 200
    errors = response.context["form"].errors
    for field in ("birth_name", "birth_date", "nir", "phone", "email", "postal_code"):
        assert errors[field], field
    assert not Patient.objects.exists()


def test_nir_inconsistent_with_sex_is_refused(pharmacist_client):
    response = pharmacist_client.post(NEW, {**form_guards(), **FORM, "sex": "F"})
    assert [e.code for e in response.context["form"].errors.as_data()["nir"]] == ["nir_sex"]
    assert not Patient.objects.exists()


def test_errors_are_in_french_by_default(pharmacist_client):
    response = pharmacist_client.post(NEW, {**form_guards(), **FORM, "birth_name": ""})
    assert "Ce champ est obligatoire." in response.context["form"].errors["birth_name"]


def test_anonymous_cannot_register(client, db):
    assert client.post(NEW, {**FORM, **form_guards()}).status_code == 302
    assert not Patient.objects.exists()
