"""Unsaved screening tests with everything an HL7 message reads, for fast unit tests."""

import datetime
from zoneinfo import ZoneInfo

from relais.accounts.models import Pharmacy, User
from relais.screening.models import Patient, ScreeningTest

PARIS = ZoneInfo("Europe/Paris")
SAMPLED_AT = datetime.datetime(2026, 11, 23, 9, 30, tzinfo=PARIS)
CREATED_AT = datetime.datetime(2026, 11, 23, 10, 5, 12, tzinfo=PARIS)

PHARMACY = {"name": "Pharmacie des Lilas", "finess": "750000001", "address": "1 rue de Test"}
PHARMACIST = {"email": "pharmacist@example.org", "full_name": "Jean Dupont", "rpps": "10001234567"}
PATIENT = {
    "birth_name": "Lefèvre",
    "used_name": "Martin",
    "given_names": "Élodie Anne",
    "birth_date": datetime.date(1985, 3, 14),
    "sex": "F",
    "birthplace_code": "75056",
    "nir": "285037505612306",
    "address": "12 rue des Lilas",
    "postal_code": "75011",
    "city": "Paris",
    "phone": "+33612345678",
    "email": "elodie.lefevre@example.org",
}


def sample_test(
    patient_fields=None, pharmacy_fields=None, pharmacist_fields=None, **test_fields
) -> ScreeningTest:
    pharmacy = Pharmacy(**{**PHARMACY, **(pharmacy_fields or {})})
    user = User(**{**PHARMACIST, **(pharmacist_fields or {})})
    patient = Patient(pharmacy=pharmacy, **{**PATIENT, **(patient_fields or {})})
    fields = {
        "kind": "sars_cov_2_antigen",
        "device": "Demo AG Rapid",
        "specimen": "nasal_swab",
        "sampled_at": SAMPLED_AT,
        "result": "negative",
        "consent_transmission": True,
        **test_fields,
    }
    return ScreeningTest(pharmacy=pharmacy, patient=patient, performed_by=user, **fields)
