"""One table of cases (stored state + submission -> accepted, or refused with these error
codes), each run through the three entry points: the web forms, `POST /api/v1/tests` and a
one-row CSV import. They call one submission service, so they must agree.

Where they cannot: the web's new-patient form asks before using a patient found by name
and birth date, or one the identity may be (close given names, another NIR); the API and
the CSV import cannot ask. Found by name, birth date and the same given names, with
nothing contradicting it: they use the record too. Close given names (another order,
fewer): they refuse (possible_duplicate_patient, a 409 for the API). The same given names
with another NIR: they refuse (identity_conflict, 409); the web offers only to register
another patient. `web` says what the web does where it differs (after the question, with
the choice the page proposes by default)."""

import datetime
from dataclasses import dataclass, field

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from stdnum.fr import nir as stdnum_nir

from relais.api.credentials import create_credential
from relais.audit.models import AuditEvent
from relais.screening import services
from relais.screening.models import Patient, ScreeningTest
from tests.support.factories import (
    ApiClient,
    form_guards,
    log_in,
    make_member,
    make_patient,
    make_pharmacy,
    make_test,
)
from tests.support.fictitious import csv_text, make_nir
from tests.support.imports import work_imports

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
class Earlier:
    """A test of the stored patient, sampled `minutes` before the new one (negative:
    after)."""

    minutes: int
    kind: str = "sars_cov_2_antigen"
    cancelled: bool = False
    in_progress: bool = False
    other_pharmacy: bool = False  # of the same person's record at another pharmacy


@dataclass
class Web:
    """What the web does where it cannot agree with the API and the CSV import."""

    asks_patient: bool = False  # the new-patient form shows stored patients and asks
    refused: set[str] = field(default_factory=set)
    creates_patient: bool = False


@dataclass
class Case:
    name: str
    stored: dict | None  # overrides of tests.conftest.PATIENT_DATA; None: nobody stored
    patient: dict = field(default_factory=dict)  # overrides of TYPED_PATIENT
    test: dict = field(default_factory=dict)  # overrides of the test below
    refused: set[str] = field(default_factory=set)  # error codes; empty: accepted
    creates_patient: bool = False
    earlier: list[Earlier] = field(default_factory=list)
    web: Web | None = None  # None: as the others


# The reported case: stored with accents and a hyphen, typed without.
ELOISE = {"birth_name": "Lefèvre-Müller", "given_names": "Éloïse", "nir": ""}
ELOISE_TYPED = {"birth_name": "LEFEVRE MULLER", "given_names": "eloise", "nir": ""}
ASKS_THEN_USES = Web(asks_patient=True)
ANOTHER_NIR = make_nir("F", datetime.date(1985, 3, 14), 124)
# INSEE writes 20 to 42 or 50 to 99 for the month when the civil record has none.
NIR_UNKNOWN_MONTH = "28562" + "75056" + "123"
NIR_UNKNOWN_MONTH += stdnum_nir.calc_check_digits(NIR_UNKNOWN_MONTH)


CASES = [
    Case("new patient", stored=None, creates_patient=True),
    Case("returning patient found by NIR", stored={}),
    Case(
        "returning patient found by name and birth date",
        stored={"nir": ""},
        patient={"nir": ""},
        web=ASKS_THEN_USES,
    ),
    Case(
        "duplicate patient: accents, hyphen and case differ (Lefevre-Muller Eloise)",
        stored=ELOISE,
        patient=ELOISE_TYPED,
        web=ASKS_THEN_USES,
    ),
    Case(
        "duplicate patient: stored with a NIR, typed without",
        stored={**ELOISE, "nir": TYPED_PATIENT["nir"].replace(" ", "")},
        patient=ELOISE_TYPED,
        web=ASKS_THEN_USES,
    ),
    Case(
        "duplicate patient: typed with a NIR, stored without",
        stored=ELOISE,
        patient={**ELOISE_TYPED, "nir": TYPED_PATIENT["nir"]},
        web=ASKS_THEN_USES,
    ),
    Case(
        "duplicate patient: a ligature typed as two letters (Lætitia, Laetitia)",
        stored={"nir": "", "given_names": "Lætitia"},
        patient={"nir": "", "given_names": "Laetitia"},
        web=ASKS_THEN_USES,
    ),
    Case(
        "duplicate patient: given names in another order",
        stored={"nir": ""},
        patient={"nir": "", "given_names": "Anne Elodie"},
        refused={"possible_duplicate_patient"},
        web=ASKS_THEN_USES,
    ),
    Case(
        "duplicate patient: first given name only",
        stored={"nir": ""},
        patient={"nir": "", "given_names": "ELODIE"},
        refused={"possible_duplicate_patient"},
        web=ASKS_THEN_USES,
    ),
    Case(
        "duplicate patient: same identity with another NIR",
        stored={},
        patient={"nir": ANOTHER_NIR},
        refused={"identity_conflict"},
        web=Web(asks_patient=True, creates_patient=True),
    ),
    Case(
        "same patient and analyte sampled 30 minutes before",
        stored={},
        earlier=[Earlier(30)],
        refused={"possible_duplicate_test"},
    ),
    Case(
        "same patient and analyte sampled 1 h 59 after (entered first)",
        stored={},
        earlier=[Earlier(-119)],
        refused={"possible_duplicate_test"},
    ),
    Case("same patient and analyte sampled 2 h 01 before", stored={}, earlier=[Earlier(121)]),
    Case(
        "same patient and analyte within 2 hours, said to be a new sample",
        stored={},
        earlier=[Earlier(30)],
        test={"new_sample": True},
    ),
    Case(
        "an earlier test in progress counts",
        stored={},
        earlier=[Earlier(10, in_progress=True)],
        refused={"possible_duplicate_test"},
    ),
    Case(
        "a cancelled earlier test does not count",
        stored={},
        earlier=[Earlier(30, cancelled=True)],
    ),
    Case(
        "a multiplex kit reading the same analyte counts",
        stored={},
        earlier=[Earlier(30, kind="sars_cov_2_influenza_ab_antigen")],
        refused={"possible_duplicate_test"},
    ),
    Case(
        "a test of other analytes does not count",
        stored={},
        earlier=[Earlier(30, kind="influenza_ab_antigen")],
    ),
    Case(
        "another pharmacy's test of the same person does not count",
        stored={},
        earlier=[Earlier(30, other_pharmacy=True)],
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
        "SMS to a mobile of Mayotte, typed as in France",
        stored=None,
        patient={"phone": "0639 01 23 45"},
        test={"notify_by": "sms"},
        creates_patient=True,
    ),
    Case(
        "SMS to a mobile of Martinique, typed as in France",
        stored=None,
        patient={"phone": "0697 12 34 56"},
        test={"notify_by": "sms"},
        creates_patient=True,
    ),
    Case(
        "NIR with birth month code 62 (month unknown to the civil record)",
        stored=None,
        patient={"nir": NIR_UNKNOWN_MONTH},
        creates_patient=True,
    ),
    Case(
        "birth date with a two-digit year",
        stored=None,
        patient={"birth_date": "14/03/85"},
        refused={"two_digit_year"},
    ),
    Case(
        "sample time with a two-digit year",
        stored={},
        test={"sampled_at": "two_digit_year"},
        refused={"two_digit_year"},
    ),
    Case(
        "sample date without its time (never read as midnight)",
        stored={},
        test={"sampled_at": "date_only"},
        refused={"no_time"},
    ),
    Case(
        "SMS for a stored patient with a phone number, not typed now",
        stored={},
        patient={"phone": ""},
        test={"notify_by": "sms"},
    ),
]


def sample_time(case: Case) -> datetime.datetime:
    """The new test's sample time, to the minute (as each entry point can write it)."""
    hours = 2 if case.test.get("sampled_at") == "future" else -1
    now = timezone.localtime().replace(second=0, microsecond=0)
    return now + datetime.timedelta(hours=hours)


# How each entry point writes the sample time, or (the case's test "sampled_at") with a
# two-digit year (Django read "05/06/26 09:30" as 5 June in French, 6 May in English), or
# without its time (once read as midnight).
SAMPLE_TIME_FORMATS = {"web": "%Y-%m-%dT%H:%M", "api": "iso", "csv": "%d/%m/%Y %H:%M"}


def written_sample_time(case: Case, entry_point: str) -> str:
    written = SAMPLE_TIME_FORMATS[entry_point]
    if case.test.get("sampled_at") == "two_digit_year":
        written = "%d/%m/%y %H:%M"
    elif case.test.get("sampled_at") == "date_only":
        written = "%d/%m/%Y" if entry_point == "csv" else "%Y-%m-%d"
    moment = sample_time(case)
    return moment.isoformat() if written == "iso" else moment.strftime(written)


def typed_test(case: Case) -> dict:
    return {
        "kind": "sars_cov_2_antigen",
        "device": "Demo AG Rapid",
        "specimen": "nasal_swab",
        "result": "positive",
        "notify_by": "none",
        **{
            name: value
            for name, value in case.test.items()
            if name not in ("sampled_at", "new_sample")
        },
    }


def make_earlier_tests(case: Case, stored: Patient, user) -> None:
    for earlier in case.earlier:
        patient = stored
        if earlier.other_pharmacy:
            other = make_pharmacy("Autre Pharmacie", "750000002")
            user = make_member(other, "other@example.org")
            patient = make_patient(other, user, **case.stored)
        test = make_test(
            patient,
            user,
            kind=earlier.kind,
            sampled_at=sample_time(case) - datetime.timedelta(minutes=earlier.minutes),
            result="" if earlier.in_progress else "negative",
        )
        if earlier.cancelled:
            services.cancel_test(test, user, "entered_in_error")


@dataclass
class Outcome:
    refused: set[str]
    test: ScreeningTest | None = None
    asked_patient: bool = False


def through_web(client, case: Case) -> Outcome:
    typed = {**TYPED_PATIENT, **case.patient}
    response = client.post(reverse("screening:patient_new"), {**typed, **form_guards()})
    asked = response.status_code == 200 and bool(response.context.get("duplicates"))
    if asked:
        # The question: go on with the choice the page proposes.
        choice = {"duplicate_choice": response.context["duplicate_choice"]}
        response = client.post(
            reverse("screening:patient_new"), {**typed, **choice, **form_guards()}
        )
    if response.status_code == 200:
        return Outcome(codes_of(response.context["form"]), asked_patient=asked)
    assert response.status_code == 302
    test_form = {
        **typed_test(case),
        "sampled_at": written_sample_time(case, "web"),
        "consent_transmission": "on",
        **({"new_sample": "on"} if case.test.get("new_sample") else {}),
        **form_guards(),
    }
    response = client.post(response["Location"], test_form)
    if response.status_code == 200:
        return Outcome(codes_of(response.context["form"]), asked_patient=asked)
    assert response.status_code == 302
    return Outcome(set(), latest_test(), asked_patient=asked)


def latest_test() -> ScreeningTest:
    return ScreeningTest.objects.order_by("-created_at").first()


def codes_of(form) -> set[str]:
    return {error.code for errors in form.errors.as_data().values() for error in errors}


def through_api(client, case: Case, pharmacy, user) -> Outcome:
    _, token = create_credential(pharmacy, "LGO", created_by=user)
    body = {
        "patient": {**TYPED_PATIENT, **case.patient},
        "test": {
            **typed_test(case),
            "performer_rpps": user.rpps,  # the pharmacist who did it, as at the counter
            "sampled_at": written_sample_time(case, "api"),
            "symptoms": False,
            "consent_transmission": True,
            **({"new_sample": True} if case.test.get("new_sample") else {}),
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
        "sampled_at": written_sample_time(case, "csv"),
        "symptoms": "non",
        "symptom_onset": "",
        "consent_transmission": "oui",
        "new_sample": "oui" if case.test.get("new_sample") else "",
    }
    upload = SimpleUploadedFile("results.csv", csv_text([cells]).encode(), "text/csv")
    response = client.post(reverse("imports:upload"), {"file": upload})
    assert response.status_code == 302, response.context["form"].errors
    work_imports()  # the worker checks the file
    review = client.get(response["Location"])
    if review.context["batch"].error_count:
        return Outcome({error["code"] for error in review.context["errors"]})
    response = client.post(response["Location"], {"import": "1"})
    assert response.status_code == 302
    work_imports()  # then imports it
    return Outcome(set(), latest_test())


@pytest.mark.parametrize("entry_point", ["web", "api", "csv"])
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_every_entry_point_applies_the_same_rules(case, entry_point, client, pharmacy, pharmacist):
    stored = make_patient(pharmacy, pharmacist, **case.stored) if case.stored is not None else None
    if stored is not None:
        make_earlier_tests(case, stored, pharmacist)
    patients_before = Patient.objects.count()
    tests_before = ScreeningTest.objects.count()
    client = log_in(client, pharmacist)
    if entry_point == "web":
        outcome = through_web(client, case)
    elif entry_point == "api":
        outcome = through_api(client, case, pharmacy, pharmacist)
    else:
        outcome = through_csv(client, case)

    expected = case.web if entry_point == "web" and case.web is not None else case
    assert outcome.asked_patient == (
        entry_point == "web" and bool(case.web and case.web.asks_patient)
    )
    assert outcome.refused == expected.refused
    if expected.refused:
        assert ScreeningTest.objects.count() == tests_before
        if entry_point != "web":  # the web registers a new patient before its test
            assert Patient.objects.count() == patients_before
        return
    test = outcome.test
    assert test.pharmacy == pharmacy and test.result == "positive"
    assert test.performed_by == pharmacist  # the pharmacist SI-DEP is told did the test
    if expected.creates_patient:
        assert Patient.objects.count() == patients_before + 1
        assert test.patient != stored
    else:
        assert Patient.objects.count() == patients_before
        assert test.patient == stored
    assert ScreeningTest.objects.count() == tests_before + 1
    assert test.transmissions.count() == 1
    assert AuditEvent.objects.filter(action="test.create", target_id=str(test.pk)).exists()
