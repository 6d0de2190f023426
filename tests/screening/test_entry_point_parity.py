"""One table of cases (stored state + submission -> accepted, or refused with these error
codes), each run through the three entry points: the web forms, `POST /api/v1/tests` and a
one-row CSV import. They call one submission service, so they must agree."""

import datetime
from dataclasses import dataclass, field

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from relais.api.credentials import create_credential
from relais.audit.models import AuditEvent
from relais.screening.models import Patient, ScreeningTest
from tests.support.factories import ApiClient, form_guards, log_in, make_patient
from tests.support.fictitious import csv_text

pytestmark = pytest.mark.django_db

# The person of tests.conftest.PATIENT_DATA, as typed at the counter.
TYPED_PATIENT = {
    "birth_name": "LEFEVRE",  # typed without accents: the same name
    "used_name": "Martin",
    "given_names": "Élodie Anne",
    "birth_date": "1985-03-14",
    "sex": "F",
    "birthplace_code": "75056",
    "nir": "2 85 03 75 056 123 06",
    "address": "12 rue des Lilas",
    "postal_code": "75011",
    "city": "Paris",
    "phone": "06 12 34 56 78",
    "email": "elodie.lefevre@example.org",
}


@dataclass
class Case:
    name: str
    stored: dict | None  # overrides of tests.conftest.PATIENT_DATA; None: nobody stored
    patient: dict = field(default_factory=dict)  # overrides of TYPED_PATIENT
    test: dict = field(default_factory=dict)  # overrides of the test below
    refused: set[str] = field(default_factory=set)  # error codes; empty: accepted
    creates_patient: bool = False


CASES = [
    Case("new patient", stored=None, creates_patient=True),
    Case("returning patient found by NIR", stored={}),
    Case(
        "returning patient found by name and birth date",
        stored={"nir": ""},
        patient={"nir": ""},
    ),
    Case(
        "a twin (same name and birth date, other given names) is another patient",
        stored={"nir": "", "given_names": "Camille"},
        patient={"nir": ""},
        creates_patient=True,
    ),
    Case(
        "NIR known for a patient with another birth date",
        stored={"birth_date": datetime.date(1985, 3, 20)},
        refused={"nir_conflict"},
    ),
    Case(
        "NIR known for a patient with another sex",
        stored={"sex": "U"},
        refused={"nir_conflict"},
    ),
    Case(
        "NIR known for a patient with another birth name",
        stored={"birth_name": "Dupont"},
        refused={"nir_conflict"},
    ),
    Case("bad NIR key", stored=None, patient={"nir": "285037505612307"}, refused={"nir_key"}),
    Case(
        "future sample time",
        stored=None,
        test={"sampled_at": "future"},
        refused={"sampled_future"},
    ),
    Case(
        "SMS without a phone number",
        stored=None,
        patient={"phone": ""},
        test={"notify_by": "sms"},
        refused={"notify_no_phone"},
    ),
    Case(
        "e-mail without an address",
        stored=None,
        patient={"email": ""},
        test={"notify_by": "email"},
        refused={"notify_no_email"},
    ),
    Case(
        "SMS for a stored patient without a phone number, typed now",
        stored={"phone": ""},
        test={"notify_by": "sms"},
        refused={"notify_no_phone"},
    ),
    Case(
        "SMS to a landline",
        stored=None,
        patient={"phone": "01 23 45 67 89"},
        test={"notify_by": "sms"},
        refused={"notify_landline"},
    ),
    Case(
        "SMS and e-mail for a stored patient whose phone is a landline",
        stored={"phone": "+33123456789"},
        test={"notify_by": "both"},
        refused={"notify_landline"},
    ),
    Case(
        "SMS to a mobile of Réunion, typed as in France",
        stored=None,
        patient={"phone": "0692 12 34 56"},
        test={"notify_by": "sms"},
        creates_patient=True,
    ),
    Case(
        "SMS for a stored patient with a phone number, not typed now",
        stored={},
        patient={"phone": ""},
        test={"notify_by": "sms"},
    ),
]


def sample_time(case: Case) -> datetime.datetime:
    hours = 2 if case.test.get("sampled_at") == "future" else -1
    return timezone.localtime() + datetime.timedelta(hours=hours)


def typed_test(case: Case) -> dict:
    return {
        "kind": "sars_cov_2_antigen",
        "device": "Demo AG Rapid",
        "specimen": "nasal_swab",
        "result": "positive",
        "notify_by": "none",
        **{name: value for name, value in case.test.items() if name != "sampled_at"},
    }


@dataclass
class Outcome:
    refused: set[str]
    test: ScreeningTest | None = None


def through_web(client, case: Case) -> Outcome:
    response = client.post(
        reverse("screening:patient_new"), {**TYPED_PATIENT, **case.patient, **form_guards()}
    )
    if response.status_code == 200:
        return Outcome(codes_of(response.context["form"]))
    assert response.status_code == 302
    test_form = {
        **typed_test(case),
        "sampled_at": sample_time(case).strftime("%Y-%m-%dT%H:%M"),
        "consent_transmission": "on",
        **form_guards(),
    }
    response = client.post(response["Location"], test_form)
    if response.status_code == 200:
        return Outcome(codes_of(response.context["form"]))
    assert response.status_code == 302
    return Outcome(set(), ScreeningTest.objects.get())


def codes_of(form) -> set[str]:
    return {error.code for errors in form.errors.as_data().values() for error in errors}


def through_api(client, case: Case, pharmacy, user) -> Outcome:
    _, token = create_credential(pharmacy, "LGO", created_by=user)
    body = {
        "patient": {**TYPED_PATIENT, **case.patient},
        "test": {
            **typed_test(case),
            "sampled_at": sample_time(case).isoformat(),
            "symptoms": False,
            "consent_transmission": True,
        },
    }
    response = ApiClient(client, token).post("/tests", body)
    if response.status_code in (409, 422):
        return Outcome({error["code"] for error in response.json()["errors"]})
    assert response.status_code == 201, response.content
    return Outcome(set(), ScreeningTest.objects.get(pk=response.json()["id"]))


def through_csv(client, case: Case) -> Outcome:
    cells = {
        **TYPED_PATIENT,
        **case.patient,
        **typed_test(case),
        "sampled_at": sample_time(case).strftime("%d/%m/%Y %H:%M"),
        "symptoms": "non",
        "symptom_onset": "",
        "consent_transmission": "oui",
    }
    upload = SimpleUploadedFile("results.csv", csv_text([cells]).encode(), "text/csv")
    response = client.post(reverse("imports:upload"), {"file": upload})
    assert response.status_code == 302, response.context["form"].errors
    review = client.get(response["Location"])
    if review.context["batch"].error_count:
        return Outcome({error["code"] for error in review.context["errors"]})
    response = client.post(response["Location"], {"import": "1"})
    assert response.status_code == 302
    return Outcome(set(), ScreeningTest.objects.get())


@pytest.mark.parametrize("entry_point", ["web", "api", "csv"])
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_every_entry_point_applies_the_same_rules(case, entry_point, client, pharmacy, pharmacist):
    stored = make_patient(pharmacy, pharmacist, **case.stored) if case.stored is not None else None
    patients_before = Patient.objects.count()
    client = log_in(client, pharmacist)
    if entry_point == "web":
        outcome = through_web(client, case)
    elif entry_point == "api":
        outcome = through_api(client, case, pharmacy, pharmacist)
    else:
        outcome = through_csv(client, case)

    assert outcome.refused == case.refused
    if case.refused:
        assert not ScreeningTest.objects.exists()
        return
    test = outcome.test
    assert test.pharmacy == pharmacy and test.result == "positive"
    if case.creates_patient:
        assert Patient.objects.count() == patients_before + 1
        assert test.patient != stored
    else:
        assert Patient.objects.count() == patients_before
        assert test.patient == stored
    assert test.transmissions.count() == 1
    assert AuditEvent.objects.filter(action="test.create", target_id=str(test.pk)).exists()
