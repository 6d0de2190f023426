import uuid

from django.urls import reverse

from relais.audit.models import AuditEvent
from tests.support.factories import log_in


def url(patient_id):
    return reverse("screening:patient_detail", args=[patient_id])


def test_shows_the_patient_and_writes_an_audit_event(pharmacist_client, patient, pharmacist):
    response = pharmacist_client.get(url(patient.pk))
    assert response.status_code == 200
    assert "Lefèvre" in response.content.decode()
    event = AuditEvent.objects.get(action="patient.view")
    assert event.target_id == str(patient.pk) and event.actor_id == pharmacist.pk


def test_another_pharmacys_patient_is_404(client, patient, other_pharmacist):
    assert log_in(client, other_pharmacist).get(url(patient.pk)).status_code == 404
    assert not AuditEvent.objects.filter(action="patient.view").exists()


def test_unknown_id_is_404(pharmacist_client):
    assert pharmacist_client.get(url(uuid.uuid4())).status_code == 404


def test_anonymous_is_sent_to_login(client, patient):
    assert client.get(url(patient.pk)).status_code == 302


def test_phone_numbers_are_shown_in_the_national_format(pharmacist_client, patient):
    page = pharmacist_client.get(url(patient.pk)).content.decode()
    assert "06 12 34 56 78" in page and "+33612345678" not in page
    patient.phone = "+262692123456"
    patient.save()
    assert "0692 12 34 56" in pharmacist_client.get(url(patient.pk)).content.decode()
    # The edit form shows it the same way (PatientForm reads it back to E.164).
    edit = pharmacist_client.get(reverse("screening:patient_edit", args=[patient.pk]))
    assert 'value="0692 12 34 56"' in edit.content.decode()
