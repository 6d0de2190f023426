import datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from relais.audit.models import AuditEvent
from relais.screening import retention
from relais.screening.models import Patient, ScreeningTest
from relais.screening.services import find_patients
from relais.transmission.models import Transmission
from tests.support.factories import days_ago, make_patient, old_patient
from tests.support.fictitious import PATIENT_DATA


def raw_identity(patient) -> list:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT birth_name, given_names, birth_date, nir, phone, email, nir_index, "
            "identity_index FROM screening_patient WHERE id = %s",
            [patient.pk.hex if connection.vendor == "sqlite" else patient.pk],
        )
        return list(cursor.fetchone())


def test_boundaries_day_89_and_90_kept_day_91_purged(pharmacy, pharmacist):
    day89, _ = old_patient(pharmacy, pharmacist, 89, nir="")
    day90, _ = old_patient(pharmacy, pharmacist, 90, nir="")
    day91, tests91 = old_patient(pharmacy, pharmacist, 91)
    report = retention.purge()
    assert report.erased_patient_ids == [str(day91.pk)]
    assert report.deidentified_tests == 1
    assert raw_identity(day91) == [None, None, None, None, None, None, "", ""]
    for kept in (day89, day90):
        assert Patient.objects.get(pk=kept.pk).birth_name == PATIENT_DATA["birth_name"]
    assert not find_patients(pharmacy, nir=PATIENT_DATA["nir"]).exists()
    test = ScreeningTest.objects.get(pk=tests91[0].pk)  # statistics survive
    assert (test.kind, test.result, test.pharmacy_id) == (
        "sars_cov_2_antigen",
        "negative",
        pharmacy.pk,
    )
    assert timezone.localtime(test.sampled_at).date() == days_ago(91).date()


def test_boundary_follows_the_retention_setting(settings, pharmacy, pharmacist):
    settings.RETENTION_DAYS = 30
    kept, _ = old_patient(pharmacy, pharmacist, 30)
    erased, _ = old_patient(pharmacy, pharmacist, 31)
    assert retention.purge().erased_patient_ids == [str(erased.pk)]
    assert Patient.objects.get(pk=kept.pk).nir == PATIENT_DATA["nir"]


def test_a_recent_test_keeps_the_whole_identity(pharmacy, pharmacist):
    patient, _ = old_patient(pharmacy, pharmacist, 200, 10)
    assert retention.purge().erased_patient_ids == []
    assert Patient.objects.get(pk=patient.pk).email == PATIENT_DATA["email"]


def test_a_recently_registered_patient_without_tests_is_kept(pharmacy, pharmacist):
    make_patient(pharmacy, pharmacist)
    assert retention.purge().erased_patient_ids == []


def test_unsent_results_are_kept_and_reported(pharmacy, pharmacist, capsys):
    waiting, waiting_tests = old_patient(pharmacy, pharmacist, 120, acknowledged=False)
    dead, dead_tests = old_patient(pharmacy, pharmacist, 150, acknowledged=False)
    Transmission.objects.filter(test__in=dead_tests).update(state=Transmission.State.DEAD)
    sent, _ = old_patient(pharmacy, pharmacist, 120)
    call_command("purge")
    out = capsys.readouterr().out
    assert "1 patient identit(y/ies) erased" in out
    assert "2 result(s) past retention are not acknowledged" in out
    assert str(waiting_tests[0].pk) in out and str(dead_tests[0].pk) in out
    assert Patient.objects.get(pk=waiting.pk).nir == waiting.nir
    assert Patient.objects.get(pk=dead.pk).nir == dead.nir
    assert Patient.objects.get(pk=sent.pk).nir == ""
    event = AuditEvent.objects.get(action="retention.unsent_kept")
    assert set(event.details["test_ids"]) == {str(waiting_tests[0].pk), str(dead_tests[0].pk)}


def test_purge_is_recorded_in_the_audit_log_without_personal_data(pharmacy, pharmacist):
    erased, _ = old_patient(pharmacy, pharmacist, 100)
    retention.purge()
    summary = AuditEvent.objects.get(action="retention.purge").details
    assert summary["patients_erased"] == 1 and summary["tests_deidentified"] == 1
    ids = AuditEvent.objects.get(action="retention.patients_erased").details["patient_ids"]
    assert ids == [str(erased.pk)]
    logged = str(list(AuditEvent.objects.values_list("details", flat=True)))
    for value in PATIENT_DATA.values():
        assert str(value) not in logged


def test_a_second_purge_finds_nothing(pharmacy, pharmacist):
    old_patient(pharmacy, pharmacist, 100)
    assert len(retention.purge().erased_patient_ids) == 1
    assert retention.purge().erased_patient_ids == []


def test_dry_run_changes_nothing(pharmacy, pharmacist, capsys):
    patient, _ = old_patient(pharmacy, pharmacist, 100)
    call_command("purge", "--dry-run")
    assert "1 patient identit(y/ies) would be erased" in capsys.readouterr().out
    assert Patient.objects.get(pk=patient.pk).nir == PATIENT_DATA["nir"]
    assert not AuditEvent.objects.filter(action="retention.purge").exists()


def test_retention_off_refuses_to_purge(settings, db):
    settings.RETENTION_DAYS = 0
    with pytest.raises(CommandError, match="retention is off"):
        call_command("purge")
    assert retention.purge_if_due() == 0


def test_worker_job_purges_once_a_day(pharmacy, pharmacist):
    old_patient(pharmacy, pharmacist, 100)
    assert retention.purge_if_due() == 1
    old_patient(pharmacy, pharmacist, 100)
    assert retention.purge_if_due() == 0  # already ran in the last 24 hours
    AuditEvent.objects.filter(action="retention.purge").update(
        created_at=timezone.now() - datetime.timedelta(hours=25)
    )
    assert retention.purge_if_due() == 1


def test_purged_patient_pages_still_render(pharmacist_client, pharmacy, pharmacist):
    patient, tests = old_patient(pharmacy, pharmacist, 100)
    retention.purge()
    assert pharmacist_client.get(f"/patients/{patient.pk}/").status_code == 200
    assert pharmacist_client.get(f"/tests/{tests[0].pk}/").status_code == 200
