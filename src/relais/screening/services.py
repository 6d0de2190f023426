"""Saving and finding patients and tests, for the web views, the API and imports."""

from django.db import transaction

from relais.crypto.blind_index import blind_index_candidates
from relais.screening.models import IDENTITY_INDEX, NIR_INDEX, Patient, ScreeningTest, identity_key
from relais.screening.signals import test_validated

PATIENT_FIELDS = (
    "birth_name", "used_name", "given_names", "birth_date", "sex", "birthplace_code", "nir",
    "address", "postal_code", "city", "phone", "email",
)  # fmt: skip
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


def create_patient(pharmacy, user, data: dict) -> Patient:
    patient = Patient(pharmacy=pharmacy, created_by=user)
    for name in PATIENT_FIELDS:
        setattr(patient, name, data.get(name) or "")
    patient.save()
    return patient


def update_patient(patient: Patient, data: dict) -> Patient:
    for name in PATIENT_FIELDS:
        setattr(patient, name, data.get(name) or "")
    patient.save()
    return patient


@transaction.atomic
def record_test(patient: Patient, user, data: dict) -> ScreeningTest:
    test = ScreeningTest(pharmacy=patient.pharmacy, patient=patient, performed_by=user)
    for name in TEST_FIELDS:
        if name in data:
            setattr(test, name, data[name])
    test.save()
    test_validated.send(sender=ScreeningTest, test=test)
    return test
