import datetime

from django.urls import reverse
from django.utils import timezone

from relais.audit.models import AuditEvent
from relais.screening.models import ScreeningTest
from tests.support.factories import log_in, screening_test_form


def url(patient):
    return reverse("screening:test_new", args=[patient.pk])


def form(**changes):
    """A test with symptoms since two days ago."""
    onset = (timezone.localdate() - datetime.timedelta(days=2)).isoformat()
    return screening_test_form(**{"symptoms": "on", "symptom_onset": onset, **changes})


def test_records_a_test(pharmacist_client, patient, pharmacist):
    response = pharmacist_client.post(url(patient), form())
    assert response.status_code == 302
    test = ScreeningTest.objects.get()
    assert (test.patient, test.pharmacy, test.performed_by) == (
        patient,
        patient.pharmacy,
        pharmacist,
    )
    assert test.result == "positive" and test.symptoms
    assert AuditEvent.objects.filter(action="test.create", target_id=str(test.pk)).exists()


def test_future_sample_time_is_refused(pharmacist_client, patient):
    future = (timezone.localtime() + datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    response = pharmacist_client.post(url(patient), form(sampled_at=future))
    assert response.context["form"].errors["sampled_at"]
    assert not ScreeningTest.objects.exists()


def test_sample_before_birth_is_refused(pharmacist_client, patient):
    response = pharmacist_client.post(url(patient), form(sampled_at="1980-01-01T10:00"))
    assert response.context["form"].errors["sampled_at"]
    assert not ScreeningTest.objects.exists()


def test_specimen_must_fit_the_test(pharmacist_client, patient):
    response = pharmacist_client.post(url(patient), form(specimen="throat_swab"))
    assert response.context["form"].errors["specimen"]


def test_symptoms_need_an_onset_date(pharmacist_client, patient):
    response = pharmacist_client.post(url(patient), form(symptom_onset=""))
    assert response.context["form"].errors["symptom_onset"]


def test_unknown_kind_and_result_are_refused(pharmacist_client, patient):
    response = pharmacist_client.post(url(patient), form(kind="<script>", result="maybe"))
    errors = response.context["form"].errors
    assert errors["kind"] and errors["result"]
    assert not ScreeningTest.objects.exists()


def test_another_pharmacys_patient_is_404(client, patient, other_pharmacist):
    response = log_in(client, other_pharmacist).post(url(patient), form())
    assert response.status_code == 404
    assert not ScreeningTest.objects.exists()
