"""Tests in progress: started without a result, read when the kit is due, entered on one
screen; nothing reaches SI-DEP or the patient before."""

import datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from relais.audit.models import AuditEvent
from relais.patient_access.models import ResultLink
from relais.screening import devices
from relais.screening.models import ScreeningTest
from relais.transmission.hl7 import build_oru_r01
from relais.transmission.models import Transmission
from tests.support.factories import form_guards, log_in, screening_test_form

pytestmark = pytest.mark.django_db

MULTIPLEX = "FR-AAZ-COV-GRIP"  # SARS-CoV-2 + influenza A and B, nasal swab


def start(client, patient, **changes):
    """Start a test: the new-test form without any result."""
    data = screening_test_form(**{"result": "", "notify_by": "sms", **changes})
    return client.post(reverse("screening:test_new", args=[patient.pk]), data)


def result_url(test):
    return reverse("screening:test_result", args=[test.pk])


def test_a_test_started_without_result_is_in_progress_and_sends_nothing(pharmacist_client, patient):
    response = start(pharmacist_client, patient)

    assert response.status_code == 302 and response["Location"] == reverse("screening:day")
    test = ScreeningTest.objects.get()
    assert test.in_progress and test.result == "" and test.validated_at is None
    assert not Transmission.objects.exists()
    assert not ResultLink.objects.exists()
    day = pharmacist_client.get(reverse("screening:day"))
    assert result_url(test) in day.text
    assert "data-countdown" in day.text
    [listed] = AuditEvent.objects.filter(action="test.list")
    assert str(test.pk) in listed.details["test_ids"]


def test_entering_the_reading_validates_and_queues_once(pharmacist_client, patient):
    start(pharmacist_client, patient)
    test = ScreeningTest.objects.get()
    page = pharmacist_client.get(result_url(test))
    assert page.status_code == 200

    first = pharmacist_client.post(result_url(test), {"result": "positive", **form_guards()})
    again = pharmacist_client.post(result_url(test), {"result": "negative", **form_guards()})

    assert first.status_code == 302 and again.status_code == 302
    test.refresh_from_db()
    assert test.result == "positive" and test.validated_at is not None
    assert Transmission.objects.filter(test=test).count() == 1
    assert ResultLink.objects.filter(test=test).count() == 1
    assert AuditEvent.objects.filter(action="test.validate", target_id=str(test.pk)).count() == 1


def test_a_multiplex_kit_from_the_catalogue_needs_every_result(pharmacist_client, patient):
    kit = devices.get(MULTIPLEX)
    start(pharmacist_client, patient, kind="", device="", device_code=MULTIPLEX)
    test = ScreeningTest.objects.get()
    assert (test.kind, test.device, test.device_code) == (kit.kind, kit.label, kit.code)
    assert test.reading_due_at == test.sampled_at + datetime.timedelta(minutes=kit.reading_minutes)

    partial = pharmacist_client.post(result_url(test), {"result": "negative", **form_guards()})
    assert partial.status_code == 200
    assert set(partial.context["form"].errors) == {
        "result__influenza_a_antigen",
        "result__influenza_b_antigen",
    }
    pharmacist_client.post(
        result_url(test),
        {
            "result": "negative",
            "result__influenza_a_antigen": "positive",
            "result__influenza_b_antigen": "negative",
            **form_guards(),
        },
    )
    test.refresh_from_db()
    assert [(a.code, r) for a, r in test.analyte_results()] == [
        ("sars_cov_2_antigen", "negative"),
        ("influenza_a_antigen", "positive"),
        ("influenza_b_antigen", "negative"),
    ]
    message = build_oru_r01(test, message_id="M1", result_status="F", created_at=timezone.now())
    # Three results, then the answer "symptomatic" (95419-8).
    assert message.count("\rOBX|") == 4
    assert "\rOBX|4|CWE|95419-8^" in message


def test_part_of_a_kit_s_results_is_refused_at_the_start(pharmacist_client, patient):
    response = start(
        pharmacist_client, patient, kind="", device="", device_code=MULTIPLEX, result="positive"
    )
    assert response.status_code == 200
    assert "result__influenza_a_antigen" in response.context["form"].errors
    assert not ScreeningTest.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"device_code": "no-such-kit"}, "device_code", "device_unknown"),
        ({"device_code": MULTIPLEX, "kind": "strep_a_antigen"}, "device_code", "device_kind"),
        (
            {"device_code": MULTIPLEX, "specimen": "nasopharyngeal_swab"},
            "specimen",
            "device_specimen",
        ),
        ({"lot": "L1", "lot_expiry": "2020-01-31"}, "lot_expiry", "lot_expired"),
        ({"lot": "L1\x07"}, "lot", "printable"),
    ],
)
def test_a_wrong_device_or_lot_is_refused(pharmacist_client, patient, changes, field, code):
    response = start(pharmacist_client, patient, **changes)
    assert response.status_code == 200
    assert code in [e.code for e in response.context["form"].errors.as_data()[field]]
    assert not ScreeningTest.objects.exists()


def test_the_box_in_use_is_offered_again(pharmacist_client, patient):
    expiry = (timezone.localdate() + datetime.timedelta(days=200)).isoformat()
    start(pharmacist_client, patient, device_code="1232", device="", lot="AB12", lot_expiry=expiry)
    page = pharmacist_client.get(reverse("screening:test_new", args=[patient.pk]))
    initial = page.context["form"].initial
    assert (initial["device_code"], initial["lot"], str(initial["lot_expiry"])) == (
        "1232",
        "AB12",
        expiry,
    )
    assert "AB12" in page.text


def test_a_test_left_in_progress_past_its_day_is_flagged(pharmacist_client, patient):
    yesterday = timezone.localtime() - datetime.timedelta(days=1)
    start(pharmacist_client, patient, sampled_at=yesterday.strftime("%Y-%m-%dT%H:%M"))
    day = pharmacist_client.get(reverse("screening:day"))
    [test] = day.context["in_progress"]
    assert test.abandoned
    assert "in-progress__item--abandoned" in day.text


def test_another_pharmacy_cannot_enter_the_reading(patient, other_pharmacist, pharmacist_client):
    start(pharmacist_client, patient)
    test = ScreeningTest.objects.get()
    client = log_in(Client(), other_pharmacist)
    assert client.get(result_url(test)).status_code == 404
    response = client.post(result_url(test), {"result": "negative", **form_guards()})
    assert response.status_code == 404
    test.refresh_from_db()
    assert test.in_progress
    assert result_url(test) not in client.get(reverse("screening:day")).text


def test_a_cancelled_test_in_progress_sends_nothing(pharmacist_client, patient):
    start(pharmacist_client, patient)
    test = ScreeningTest.objects.get()
    pharmacist_client.post(
        reverse("screening:test_cancel", args=[test.pk]), {"reason": "not_performed"}
    )
    response = pharmacist_client.post(result_url(test), {"result": "negative", **form_guards()})
    assert response.status_code == 302
    test.refresh_from_db()
    assert test.cancelled_at is not None and test.result == ""
    assert not Transmission.objects.exists()


def test_a_test_in_progress_can_be_corrected_without_sending(pharmacist_client, patient):
    start(pharmacist_client, patient)
    test = ScreeningTest.objects.get()
    page = pharmacist_client.get(reverse("screening:test_correct", args=[test.pk]))
    data = {
        **screening_test_form(result="", notify_by="sms", lot="ZZ9"),
        "built_from": page.context["built_from"],
    }
    pharmacist_client.post(reverse("screening:test_correct", args=[test.pk]), data)
    test.refresh_from_db()
    assert test.lot == "ZZ9" and test.in_progress
    assert not Transmission.objects.exists()


def test_the_test_page_of_a_test_in_progress_leads_to_its_reading(pharmacist_client, patient):
    start(pharmacist_client, patient, device="Hand-typed kit")
    test = ScreeningTest.objects.get()
    page = pharmacist_client.get(reverse("screening:test_detail", args=[test.pk]))
    assert result_url(test) in page.text
    assert "absent du catalogue" in page.text  # French, the default language
