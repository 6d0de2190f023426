"""The test form refuses a message channel the patient record has no address for."""

from django.utils import timezone

from relais.patient_access.models import Notification
from relais.screening.forms import ScreeningTestForm
from relais.screening.models import ScreeningTest
from tests.support.factories import form_guards, make_patient
from tests.support.patient_pages import in_english


def form_data(notify_by: str) -> dict:
    return {
        "kind": "sars_cov_2_antigen",
        "specimen": "nasal_swab",
        "sampled_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        "result": "negative",
        "consent_transmission": "on",
        "notify_by": notify_by,
        **form_guards(),
    }


def test_sms_without_a_phone_is_a_field_error(pharmacy, pharmacist):
    patient = make_patient(pharmacy, pharmacist, phone="", nir="")
    form = ScreeningTestForm(form_data("sms"), patient=patient)
    assert not form.is_valid()
    assert [e.code for e in form.errors.as_data()["notify_by"]] == ["notify_no_phone"]
    form = ScreeningTestForm(form_data("both"), patient=patient)
    assert not form.is_valid() and "notify_by" in form.errors
    assert ScreeningTestForm(form_data("email"), patient=patient).is_valid()


def test_email_without_an_address_is_a_field_error(pharmacy, pharmacist):
    patient = make_patient(pharmacy, pharmacist, email="", nir="")
    form = ScreeningTestForm(form_data("email"), patient=patient)
    assert [e.code for e in form.errors.as_data()["notify_by"]] == ["notify_no_email"]
    assert ScreeningTestForm(form_data("sms"), patient=patient).is_valid()


def test_callers_without_a_patient_keep_working(patient):
    form = ScreeningTestForm(form_data("sms"), birth_date=patient.birth_date)
    assert form.is_valid(), form.errors


def test_the_test_page_refuses_the_channel_and_saves_nothing(
    pharmacist_client, pharmacy, pharmacist
):
    patient = make_patient(pharmacy, pharmacist, phone="", nir="")
    response = in_english(pharmacist_client).post(
        f"/patients/{patient.pk}/tests/new/", form_data("sms")
    )
    assert response.status_code == 200
    assert "no mobile phone number" in response.content.decode()
    assert ScreeningTest.objects.count() == 0
    assert Notification.objects.count() == 0


def test_the_test_page_queues_the_message(pharmacist_client, patient):
    response = pharmacist_client.post(f"/patients/{patient.pk}/tests/new/", form_data("email"))
    assert response.status_code == 302
    notification = Notification.objects.get()
    assert notification.channel == "email" and notification.state == "pending"
