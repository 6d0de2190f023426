"""Saving and finding patients and tests. New results enter through `submissions`, which
checks them and calls `new_patient` and `record_tests` here."""

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from relais.bulk_insert import insert_all
from relais.crypto.blind_index import blind_index_candidates
from relais.screening.models import IDENTITY_INDEX, NIR_INDEX, Patient, ScreeningTest, identity_key
from relais.screening.signals import (
    patient_corrected,
    test_cancelled,
    test_corrected,
    tests_validated,
)

PATIENT_FIELDS = (
    "birth_name", "used_name", "given_names", "birth_date", "sex", "birthplace_code", "nir",
    "address", "postal_code", "city", "phone", "email",
)  # fmt: skip
# Why a test is cancelled: fixed codes, so the audit log never holds free text.
CANCEL_REASONS = {
    "entered_in_error": _("Recorded in error"),
    "wrong_patient": _("Recorded for the wrong patient"),
    "duplicate": _("Duplicate of another test"),
    "not_performed": _("The test was not performed"),
}
TEST_FIELDS = (
    "kind", "device", "specimen", "sampled_at", "result", "symptoms", "symptom_onset",
    "consent_transmission", "notify_by",
)  # fmt: skip


def find_patients(pharmacy, *, nir: str = "", birth_name: str = "", birth_date=None):
    patients = Patient.objects.for_pharmacy(pharmacy)
    if nir:
        return patients.filter(
            nir_index__in=blind_index_candidates(NIR_INDEX, str(pharmacy.pk), nir)
        )
    key = identity_key(birth_name, birth_date)
    return patients.filter(
        identity_index__in=blind_index_candidates(IDENTITY_INDEX, str(pharmacy.pk), key)
    )


def new_patient(pharmacy, user, data: Mapping[str, Any]) -> Patient:
    """An unsaved patient with its blind indexes, for `insert_all` (which calls no save();
    the encrypted fields still encrypt themselves under the row's id)."""
    patient = Patient(pharmacy=pharmacy, created_by=user)
    for name in PATIENT_FIELDS:
        setattr(patient, name, data.get(name) or "")
    patient.refresh_indexes()
    return patient


def create_patient(pharmacy, user, data: Mapping[str, Any]) -> Patient:
    """A patient saved as it is, without matching (tests and fixtures; results come in
    through `submissions`, which matches first)."""
    return insert_all([new_patient(pharmacy, user, data)])[0]


@transaction.atomic
def update_patient(patient: Patient, data: dict) -> list[str]:
    """Apply edited identity and contact data; returns the names of the fields that
    changed. SI-DEP is told through the patient_corrected signal."""
    changed = [name for name in PATIENT_FIELDS if getattr(patient, name) != (data.get(name) or "")]
    if not changed:
        return []
    for name in changed:
        setattr(patient, name, data.get(name) or "")
    patient.save()
    patient_corrected.send(sender=Patient, patient=patient, fields=changed)
    return changed


def new_test(patient: Patient, user, data: dict) -> ScreeningTest:
    test = ScreeningTest(pharmacy=patient.pharmacy, patient=patient, performed_by=user)
    for name in TEST_FIELDS:
        if name in data:
            setattr(test, name, data[name])
    return test


def record_tests(user, rows: list[tuple[Patient, dict[str, Any]]]) -> list[ScreeningTest]:
    """Save tests for (saved patient, cleaned test data) with one insert; the receivers of
    tests_validated queue their messages and links in the same transaction. Called by
    `submissions.record`, for one test as for a file of them."""
    with transaction.atomic(savepoint=False):
        tests = insert_all([new_test(patient, user, data) for patient, data in rows])
        tests_validated.send(sender=ScreeningTest, tests=tests)
    return tests


class TestCancelled(Exception):
    """A cancelled test is final: it cannot be corrected or cancelled again."""


def locked_test(test: ScreeningTest) -> ScreeningTest:
    """The test read again under a row lock, so two corrections cannot interleave."""
    fresh = ScreeningTest.objects.select_for_update().get(pk=test.pk)
    if fresh.cancelled_at is not None:
        raise TestCancelled
    return fresh


@transaction.atomic
def correct_test(test: ScreeningTest, user, data: dict) -> list[str]:
    """Apply corrected data; SI-DEP is told through the test_corrected signal (an
    unsent message simply goes out corrected, a sent one is followed by a correction).
    Returns the names of the fields that changed (none: nothing is sent)."""
    fresh = locked_test(test)
    changed = [name for name in TEST_FIELDS if name in data and getattr(fresh, name) != data[name]]
    if not changed:
        return []
    for name in changed:
        setattr(fresh, name, data[name])
    fresh.save()
    test_corrected.send(sender=ScreeningTest, test=fresh, user=user, fields=changed)
    for name in [*changed, "updated_at"]:
        setattr(test, name, getattr(fresh, name))
    return changed


@transaction.atomic
def cancel_test(test: ScreeningTest, user, reason: str) -> ScreeningTest:
    """Cancel a test recorded in error (`reason` is one of CANCEL_REASONS); SI-DEP is
    told through the test_cancelled signal."""
    if reason not in CANCEL_REASONS:
        raise ValueError("unknown cancellation reason")
    fresh = locked_test(test)
    fresh.cancelled_at = timezone.now()
    fresh.save(update_fields=["cancelled_at", "updated_at"])
    test_cancelled.send(sender=ScreeningTest, test=fresh, user=user, reason=reason)
    test.cancelled_at = fresh.cancelled_at
    return fresh
