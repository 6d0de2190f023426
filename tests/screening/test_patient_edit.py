from django.urls import reverse

from relais.audit.models import AuditEvent
from relais.screening.models import Patient
from tests.support.factories import form_guards, log_in, make_patient
from tests.support.fictitious import PATIENT_DATA


def url(patient):
    return reverse("screening:patient_edit", args=[patient.pk])


def form(patient, **changes):
    """The edit page's form of `patient` as it is now, with `changes` typed in."""
    data = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in PATIENT_DATA.items()}
    return {**data, **form_guards(patient), **changes}


def test_updates_the_patient(pharmacist_client, patient):
    response = pharmacist_client.post(url(patient), form(patient, city="Lyon", postal_code="69001"))
    assert response.status_code == 302
    assert Patient.objects.get(pk=patient.pk).city == "Lyon"
    assert AuditEvent.objects.filter(action="patient.update").exists()


def test_invalid_change_saves_nothing(pharmacist_client, patient):
    response = pharmacist_client.post(url(patient), form(patient, city="Lyon", phone="0"))
    assert response.context["form"].errors["phone"]
    assert Patient.objects.get(pk=patient.pk).city == "Paris"


def test_another_pharmacy_gets_404(client, patient, other_pharmacist):
    response = log_in(client, other_pharmacist).post(url(patient), form(patient, city="Lyon"))
    assert response.status_code == 404
    assert Patient.objects.get(pk=patient.pk).city == "Paris"


def test_a_nir_another_patient_holds_is_refused(pharmacist_client, patient, pharmacy, pharmacist):
    patient.nir = ""
    patient.save()
    other = make_patient(
        pharmacy, pharmacist, birth_name="Durand", nir="285037505612306", given_names="Anne"
    )
    response = pharmacist_client.post(url(patient), form(patient, nir=other.nir))
    assert [e.code for e in response.context["form"].errors.as_data()["nir"]] == ["nir_taken"]
    assert Patient.objects.get(pk=patient.pk).nir == ""
    # Its own NIR, unchanged, is of course fine.
    response = pharmacist_client.post(url(other), form(other, nir=other.nir, birth_name="Durand"))
    assert response.status_code == 302
