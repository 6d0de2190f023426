"""The one way a test result enters Relais.

The web form, the API (`POST /api/v1/tests`) and each row of a CSV import call `check`,
`record` or `submit` here; none of them applies a rule of its own. A submission is the
patient as typed (or the patient chosen at the counter) and the test as typed. Checking
it:

1. validates both with the forms of `screening.forms` (formats, NIR key, dates, catalogue);
2. finds the patient: by NIR when one is given, else by birth name + birth date (blind
   index) and the same given names, never onto a record whose NIR differs;
3. refuses a found patient whose identity traits differ from the typed ones (a NIR
   already known for someone else): the result is never attached to another person;
4. refuses to create a patient who may be a stored one: same birth name and birth date,
   and the same given names with another NIR (`identity_conflict`), or close given names
   (another order, or fewer: `possible_duplicate_patient`). The API and the CSV import
   cannot ask; the web's patient form asks instead (`find_or_register`): use the stored
   record, or confirm another patient;
5. checks the test against the stored record when the patient is found (a notification
   channel needs a phone number or an e-mail address on that record), else against the
   new one;
6. asks before a second test: a non-cancelled test of the same patient reading one of
   the same analytes, sampled within DUPLICATE_TEST_WINDOW (stored, or an earlier
   submission of the same batch), refuses the submission (`possible_duplicate_test`)
   unless it says `new_sample`. One query per batch (`TestsNearby`).

Recording writes, in one transaction, the new patients, the tests and, through the
`tests_validated` signal, their outbox rows and result links; then the audit events.
A single submission is a batch of one: every entry point runs the same code.

Patient creation is serialised per identity: a unique index allows one record per NIR
in a pharmacy. When two submissions for the same new person race (a double click, two
API calls), the second one's insert waits for the first and fails; it is then checked
again, and finds the patient the first one created (retry-as-find).
"""

import datetime
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from relais.accounts.models import Pharmacy, User
from relais.audit.events import event, record_many
from relais.bulk_insert import insert_all
from relais.crypto.blind_index import blind_index_candidates
from relais.screening import catalogue, services
from relais.screening.forms import CheckingPatientForm, CheckingScreeningTestForm
from relais.screening.models import (
    IDENTITY_INDEX,
    NIR_INDEX,
    Patient,
    ScreeningTest,
    identity_key,
    is_duplicate_nir,
)
from relais.screening.validation import normalise_name

# The traits a stored patient must share with a submission to receive its result (a NIR
# only when both have one).
TRAITS = {
    "birth_date": _("birth date"),
    "sex": _("sex"),
    "birth_name": _("birth name"),
    "nir": _("NIR"),
}

# Codes of the errors that name a stored patient the submission contradicts, or may be.
CONFLICT_CODES = frozenset({"nir_conflict", "identity_conflict", "possible_duplicate_patient"})
# A second test of the same patient and analyte sampled this close to a first one is
# asked about: most often the same sample entered twice.
DUPLICATE_TEST_WINDOW = datetime.timedelta(hours=2)
DUPLICATE_TEST = "possible_duplicate_test"
# The choice of the web's patient form that confirms a new patient despite the stored
# ones it may be (find_or_register).
NEW_PATIENT = "new"


@dataclass(frozen=True)
class Caller:
    """Who submits: the pharmacy, the user the tests are recorded by, and what the audit
    log says of the request (the web request, or the API credential / import batch)."""

    pharmacy: Pharmacy
    user: User
    request: HttpRequest | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Submission:
    """One result: the test as typed, and either the patient as typed (API, CSV) or the
    stored patient chosen at the counter (web)."""

    test: Mapping[str, Any]
    patient: Mapping[str, Any] | None = None
    stored_patient: Patient | None = None
    # Errors the entry point found in its own format (a CSV cell that is neither yes nor
    # no): the forms' errors on those fields are then left out.
    errors: list["FieldError"] = field(default_factory=list)
    # A test started at the counter may come without its result: it is then in
    # progress until the reading is entered (screening.services.validate_test).
    may_be_in_progress: bool = False
    # Who did the test, when not the caller's user (the member the API names by RPPS).
    performer: User | None = None


@dataclass(frozen=True)
class FieldError:
    section: str  # "patient" or "test"
    field: str  # a form field name, or "" for the whole section
    code: str  # stable, for software and tests
    message: str  # for people, in the active language


@dataclass
class Checked:
    """A checked submission: its forms, its patient (found, or new and unsaved), and
    either no errors (ready to record) or every error found."""

    submission: Submission
    patient_form: forms.Form | None
    test_form: forms.Form
    patient: Patient | None
    patient_created: bool
    errors: list[FieldError]
    test: ScreeningTest | None = None  # once recorded
    # The test this one may duplicate: the question asked, or confirmed (new_sample).
    earlier_test: "EarlierTest | None" = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def patient_and_test_data(self) -> tuple[Patient, dict[str, Any]]:
        """What recording needs; only a submission without errors has it."""
        if self.errors or self.patient is None:
            raise ValueError("only submissions without errors can be recorded")
        data = self.test_form.cleaned_data
        if self.submission.performer is not None:
            data = {**data, "performed_by": self.submission.performer}
        return self.patient, data

    @property
    def recorded_test(self) -> ScreeningTest:
        if self.test is None:
            raise ValueError("this submission was not recorded")
        return self.test


class PatientLookup:
    """Finds the patients of many submissions with one query, then applies the matching
    rule row by row. Patients created for earlier rows are found by later ones, so two
    tests of one new person in a batch make one patient."""

    def __init__(self, pharmacy: Pharmacy, rows: Iterable[Mapping[str, Any]]):
        scope = str(pharmacy.pk)
        self.nir_keys: dict[str, list[str]] = {}
        self.identity_keys: dict[str, list[str]] = {}
        for data in rows:
            if data.get("nir"):
                self.nir_keys[data["nir"]] = blind_index_candidates(NIR_INDEX, scope, data["nir"])
            key = identity_key(data["birth_name"], data["birth_date"])
            self.identity_keys[key] = blind_index_candidates(IDENTITY_INDEX, scope, key)
        # Patients by index, in the order found then added (the first one wins).
        self.by_nir: dict[str, list[Patient]] = {}
        self.by_identity: dict[str, list[Patient]] = {}
        self.order: dict[int, int] = {}
        nir_indexes = [i for candidates in self.nir_keys.values() for i in candidates]
        identity_indexes = [i for candidates in self.identity_keys.values() for i in candidates]
        if not nir_indexes and not identity_indexes:
            return
        found = (
            Patient.objects.for_pharmacy(pharmacy)
            .filter(Q(nir_index__in=nir_indexes) | Q(identity_index__in=identity_indexes))
            .order_by("created_at")
        )
        for patient in found:
            self.add(patient)

    def add(self, patient: Patient) -> None:
        """A stored patient, or one created for an earlier row."""
        self.order[id(patient)] = len(self.order)
        if patient.nir_index:
            self.by_nir.setdefault(patient.nir_index, []).append(patient)
        self.by_identity.setdefault(patient.identity_index, []).append(patient)

    def first(self, index: dict, candidates: list[str], data: Mapping | None = None):
        patients = [
            p
            for i in candidates
            for p in index.get(i, ())
            if data is None or same_person_by_name(p, data)
        ]
        return min(patients, key=lambda p: self.order[id(p)], default=None)

    def find(self, data: Mapping[str, Any]) -> tuple[Patient | None, str]:
        """(the patient, "nir" or "identity": how it was found), or (None, "")."""
        if data.get("nir"):
            by_nir = self.first(self.by_nir, self.nir_keys[data["nir"]])
            if by_nir is not None:
                return by_nir, "nir"
        key = identity_key(data["birth_name"], data["birth_date"])
        found = self.first(self.by_identity, self.identity_keys[key], data)
        return found, "identity" if found is not None else ""

    def near(self, data: Mapping[str, Any]) -> list[Patient]:
        """The patients this identity may be: same birth name and birth date, and the
        same or close given names (`close_given_names`), whatever their NIR; in the
        order found then added."""
        key = identity_key(data["birth_name"], data["birth_date"])
        patients = {
            id(p): p
            for i in self.identity_keys[key]
            for p in self.by_identity.get(i, ())
            if close_given_names(p.given_names, data["given_names"])
        }
        return sorted(patients.values(), key=lambda p: self.order[id(p)])


def same_person_by_name(candidate: Patient, data: Mapping[str, Any]) -> bool:
    """Same birth name and birth date (the index) is not enough: the given names must
    agree too (twins), and a stored NIR must not differ from the typed one."""
    if normalise_name(candidate.given_names) != normalise_name(data["given_names"]):
        return False
    return not (candidate.nir and data.get("nir") and candidate.nir != data["nir"])


def close_given_names(stored: str, typed: str) -> bool:
    """The same given names, maybe in another order, or some left out at the end
    ("Éloïse" for "Eloise Marie"): one person typed twice, more likely than two."""
    first, second = normalise_name(stored).split(), normalise_name(typed).split()
    shorter, longer = sorted((first, second), key=len)
    return sorted(first) == sorted(second) or longer[: len(shorter)] == shorter


def differing_traits(stored: Patient, data: Mapping[str, Any]) -> list[str]:
    differing = []
    if stored.birth_date != data["birth_date"]:
        differing.append("birth_date")
    if stored.sex != data["sex"]:
        differing.append("sex")
    if normalise_name(stored.birth_name) != normalise_name(data["birth_name"]):
        differing.append("birth_name")
    if stored.nir and data.get("nir") and stored.nir != data["nir"]:
        differing.append("nir")
    return differing


def identity_conflict(stored: Patient, data: Mapping[str, Any], found_by: str):
    """The error for a found patient (or, found_by "near", a patient with the same
    identity) whose traits differ, or None."""
    differing = differing_traits(stored, data)
    if not differing:
        return None
    traits = ", ".join(str(TRAITS[name]) for name in differing)
    if found_by == "nir":
        message = _(
            "This NIR is already registered for a patient with another %(traits)s. "
            "Check the NIR and the identity: nothing was recorded."
        )
        return FieldError("patient", "nir", "nir_conflict", str(message % {"traits": traits}))
    message = _(
        "A patient with this name and birth date is registered with another %(traits)s. "
        "Check the identity: nothing was recorded."
    )
    name = "nir" if "nir" in differing else "sex"
    return FieldError("patient", name, "identity_conflict", str(message % {"traits": traits}))


def possible_duplicate(stored: Patient, data: Mapping[str, Any]) -> FieldError:
    """The error for a new patient who may be `stored` (see PatientLookup.near), where no one
    can be asked (API, CSV): the same given names with another NIR contradict it; close
    given names may be the same person."""
    if normalise_name(stored.given_names) == normalise_name(data["given_names"]):
        conflict = identity_conflict(stored, data, "near")
        assert conflict is not None  # not found, so the NIRs differ
        return conflict
    message = _(
        "A patient with this birth name and birth date is registered with close given names "
        "(in another order, or fewer). Send the given names as registered; a different "
        "person of that name is registered at the counter. Nothing was recorded."
    )
    return FieldError("patient", "given_names", "possible_duplicate_patient", str(message))


def form_errors(section: str, form: forms.Form) -> list[FieldError]:
    found = []
    for name, errors in form.errors.as_data().items():
        for error in errors:
            for message in error.messages:
                found.append(
                    FieldError(
                        section, "" if name == "__all__" else name, error.code or "invalid", message
                    )
                )
    return found


def match_patient(
    pharmacy: Pharmacy, data: Mapping[str, Any], lookup: PatientLookup | None = None
) -> tuple[Patient | None, FieldError | None]:
    """The stored patient cleaned patient data designate (or None), or the conflict that
    forbids using it."""
    if lookup is None:
        lookup = PatientLookup(pharmacy, [data])
    found, found_by = lookup.find(data)
    if found is None:
        near = lookup.near(data)
        return None, possible_duplicate(near[0], data) if near else None
    conflict = identity_conflict(found, data, found_by)
    return (None, conflict) if conflict else (found, None)


def nir_held_by_another(patient: Patient, data: Mapping[str, Any]) -> FieldError | None:
    """An edited identity must not take a NIR another patient of the pharmacy holds: one
    NIR, one record (else results would be filed under either)."""
    if not data.get("nir"):
        return None
    found, found_by = PatientLookup(patient.pharmacy, [data]).find(data)
    if found is None or found_by != "nir" or found.pk == patient.pk:
        return None
    return nir_taken()


def nir_taken() -> FieldError:
    """The error of an edited NIR another patient of the pharmacy holds (found before
    saving, or refused by the one-patient-per-NIR index when both edits raced)."""
    message = _("This NIR is registered for another patient of the pharmacy.")
    return FieldError("patient", "nir", "nir_taken", str(message))


def check(
    caller: Caller, submissions: list[Submission], nearby: "TestsNearby | None" = None
) -> list[Checked]:
    """Check every submission; nothing is written. `nearby` carries the tests of earlier
    batches of the same file (the CSV import checks a file by blocks)."""
    patient_forms = [
        CheckingPatientForm(data=s.patient) if s.stored_patient is None else None
        for s in submissions
    ]
    lookup = PatientLookup(
        caller.pharmacy, [form.cleaned_data for form in patient_forms if form and form.is_valid()]
    )
    checked = [
        check_one(caller, lookup, submission, patient_form)
        for submission, patient_form in zip(submissions, patient_forms, strict=True)
    ]
    if nearby is None:
        nearby = TestsNearby()
    nearby.load(caller.pharmacy, checked)
    for item in checked:
        check_duplicate_test(item, nearby)
    # A later batch makes patients of its own for the same new people (a CSV file's next
    # block): this one's are no use to it, and forgetting them bounds the memory.
    nearby.forget([item.patient for item in checked if item.patient and item.patient_created])
    return checked


def check_one(
    caller: Caller, lookup: PatientLookup, submission: Submission, patient_form
) -> Checked:
    errors = list(submission.errors)
    patient, created = submission.stored_patient, False
    birth_date = patient.birth_date if patient is not None else None
    if patient_form is not None:
        errors += form_errors("patient", patient_form)
        # The test's dates are checked against a valid birth date even if another
        # patient field is wrong, so that every error is reported at once.
        birth_date = patient_form.cleaned_data.get("birth_date")
        if patient_form.is_valid():
            data = patient_form.cleaned_data
            patient, conflict = match_patient(caller.pharmacy, data, lookup)
            if conflict is not None:
                errors.append(conflict)
            elif patient is None:
                patient, created = services.new_patient(caller.pharmacy, caller.user, data), True
    test_form = CheckingScreeningTestForm(
        data=submission.test,
        patient=patient,
        birth_date=birth_date,
        require_result=not submission.may_be_in_progress,
    )
    already = {(error.section, error.field) for error in errors}
    errors += [e for e in form_errors("test", test_form) if (e.section, e.field) not in already]
    if patient is not None and created and not errors:
        lookup.add(patient)  # later rows of the same new person find it
    return Checked(submission, patient_form, test_form, patient, created, errors)


@dataclass(frozen=True, slots=True)
class EarlierTest:
    """A test a new one may duplicate: stored (`id`), or an earlier submission of the
    same batch (no id)."""

    kind: str
    sampled_at: datetime.datetime
    id: uuid.UUID | None = None

    def message(self) -> str:
        text = _(
            "This patient already has a test reading the same analyte, sampled at %(time)s: "
            "%(kind)s. Less than 2 hours apart, it may be the same sample entered twice. If "
            "this is a new sample, say so (new sample) and save again."
        )
        time = timezone.localtime(self.sampled_at).strftime("%d/%m/%Y %H:%M")
        return str(text % {"kind": catalogue.TEST_KINDS[self.kind].label, "time": time})


def undisclosed_duplicate_message() -> str:
    """The question without the earlier test's kind and time, for a caller that may not
    read that test (an API credential without "read all")."""
    return str(
        _(
            "This patient already has a test reading the same analyte sampled less than 2 "
            "hours from this one: it may be the same sample entered twice. If this is a new "
            "sample, say so (new sample) and save again."
        )
    )


def analytes_of(kind: str) -> set[str]:
    return {analyte.code for analyte in catalogue.TEST_KINDS[kind].analytes}


class TestsNearby:
    """The non-cancelled tests (validated or in progress) of a batch's patients sampled
    near its sample times, read with one query per batch; then the batch's own tests as
    they are accepted, so that two submissions of one test in a batch are caught too."""

    def __init__(self, lock: bool = True) -> None:
        """`lock=False` for a check that records nothing (a CSV file before its import)."""
        self.by_patient: dict[uuid.UUID, list[EarlierTest]] = {}
        self.loaded: set[uuid.UUID] = set()
        self.lock = lock

    def load(self, pharmacy: Pharmacy, checked: list[Checked]) -> None:
        stored = {
            item.patient.pk
            for item in checked
            if item.patient is not None and not item.patient_created
        }
        times = [
            item.test_form.cleaned_data["sampled_at"]
            for item in checked
            if item.patient is not None and item.test_form.cleaned_data.get("sampled_at")
        ]
        if not stored or not times:
            return
        if self.lock and transaction.get_connection().in_atomic_block:
            # Two submissions of one test at once (two workstations, a retry) would each
            # miss the other's: the second waits here until the first is committed, and
            # then finds its test (on PostgreSQL; SQLite serialises writing transactions).
            list(Patient.objects.filter(pk__in=stored).select_for_update().values_list("pk"))
        found = (
            ScreeningTest.objects.for_pharmacy(pharmacy)
            .filter(
                patient_id__in=stored,
                cancelled_at__isnull=True,
                sampled_at__gte=min(times) - DUPLICATE_TEST_WINDOW,
                sampled_at__lte=max(times) + DUPLICATE_TEST_WINDOW,
            )
            .values_list("pk", "patient_id", "kind", "sampled_at")
        )
        for pk, patient_id, kind, sampled_at in found:
            if pk in self.loaded:  # read for an earlier batch
                continue
            self.loaded.add(pk)
            self.by_patient.setdefault(patient_id, []).append(EarlierTest(kind, sampled_at, pk))

    def earlier(self, patient_id: uuid.UUID, kind: str, sampled_at) -> EarlierTest | None:
        """The closest test of the patient reading an analyte of `kind` within the window."""
        analytes = analytes_of(kind)
        close = [
            test
            for test in self.by_patient.get(patient_id, ())
            if abs(test.sampled_at - sampled_at) <= DUPLICATE_TEST_WINDOW
            and analytes & analytes_of(test.kind)
        ]
        return min(close, key=lambda test: abs(test.sampled_at - sampled_at), default=None)

    def add(self, patient_id: uuid.UUID, kind: str, sampled_at) -> None:
        self.by_patient.setdefault(patient_id, []).append(EarlierTest(kind, sampled_at))

    def forget(self, patients: list[Patient]) -> None:
        for patient in patients:
            self.by_patient.pop(patient.pk, None)


def check_duplicate_test(item: Checked, nearby: TestsNearby) -> None:
    """Ask before a second test of the same patient and analyte (see DUPLICATE_TEST_WINDOW);
    the answer is the test's `new_sample`. An accepted test counts for the next ones."""
    data = item.test_form.cleaned_data
    kind, sampled_at = data.get("kind"), data.get("sampled_at")
    if item.patient is None or not kind or not sampled_at:
        return
    earlier, error = duplicate_test(nearby, item.patient.pk, kind, sampled_at, data)
    item.earlier_test = earlier
    if error is not None:
        item.errors.append(error)
        item.test_form.add_error("new_sample", ValidationError(error.message, code=error.code))
    if item.ok:
        nearby.add(item.patient.pk, kind, sampled_at)


def duplicate_test(
    nearby: TestsNearby, patient_id: uuid.UUID, kind: str, sampled_at, data: Mapping[str, Any]
) -> tuple[EarlierTest | None, FieldError | None]:
    """The rule of check_duplicate_test for a test of cleaned `data` (its `new_sample`):
    the earlier test it may duplicate, and the question to ask (None when there is no
    such test or the data answer it). The CSV import also applies it across the blocks
    of a file checked in parallel. The caller adds an accepted test to `nearby`."""
    earlier = nearby.earlier(patient_id, kind, sampled_at)
    if earlier is None or data.get("new_sample"):
        return earlier, None
    return earlier, FieldError("test", "new_sample", DUPLICATE_TEST, earlier.message())


def record(caller: Caller, checked: list[Checked]) -> None:
    """Save checked submissions (all without errors): new patients, tests, their
    outbox rows and links, and the audit events, in one transaction."""
    rows = [item.patient_and_test_data() for item in checked]
    with transaction.atomic(savepoint=False):
        insert_all([item.patient for item in checked if item.patient_created])
        tests = services.record_tests(caller.user, rows)
        events = []
        for item, test in zip(checked, tests, strict=True):
            item.test = test
            if item.patient_created:
                events.append(audit_event(caller, "patient.create", item.patient))
            # A second test confirmed as a new sample names the one it is not a copy of.
            earlier = item.earlier_test
            details: dict[str, Any] = {"new_sample": True} if earlier else {}
            if earlier is not None and earlier.id is not None:
                details["earlier_test"] = str(earlier.id)
            events.append(audit_event(caller, "test.create", test, details))
        record_many(events)


def submit(caller: Caller, submissions: list[Submission]) -> list[Checked]:
    """Check, then record those without errors, in one transaction; checked again once
    if another submission created one of the new patients meanwhile."""

    def check_and_record() -> list[Checked]:
        with transaction.atomic():
            checked = check(caller, submissions)
            valid = [item for item in checked if item.ok]
            if valid:
                record(caller, valid)
        return checked

    return found_on_retry(check_and_record)


def found_on_retry(attempt):
    """`attempt()`, and once more if the one-patient-per-NIR index refused its new
    patient: the second attempt matches the patient the concurrent one committed (the
    insert only fails once that one has committed). Each attempt runs in its own
    savepoint."""
    try:
        return attempt()
    except IntegrityError as error:
        if not is_duplicate_nir(error):
            raise
    return attempt()


@dataclass
class Registration:
    """What the web's patient form leads to: a patient (found, or `created`), or the
    `conflict` that forbids using the matching record, or a question: the stored
    `candidates` this identity may be, of which `usable` may receive the result."""

    patient: Patient | None = None
    created: bool = False
    conflict: FieldError | None = None
    candidates: list[Patient] = field(default_factory=list)
    usable: list[Patient] = field(default_factory=list)


def find_or_register(caller: Caller, data: Mapping[str, Any], choice: str = "") -> Registration:
    """The patient cleaned PatientForm data designate, registered if no one matches (the
    web's patient form, before the test). A patient found by NIR is used; one the
    identity may be (`PatientLookup.near`: same birth name, birth date and same or close
    given names) is a question, answered by `choice`: the id of one of the usable
    candidates, or NEW_PATIENT to register another patient anyway (audited with the
    candidates it is not)."""

    def attempt() -> Registration:
        lookup = PatientLookup(caller.pharmacy, [data])
        found, found_by = lookup.find(data)
        if found is not None:
            conflict = identity_conflict(found, data, found_by)
            if conflict is not None:
                return Registration(conflict=conflict)
            if found_by == "nir":
                return Registration(found)
        candidates = lookup.near(data)
        if found is not None:
            candidates = [found] + [p for p in candidates if p is not found]
        if candidates and choice != NEW_PATIENT:
            usable = [p for p in candidates if not differing_traits(p, data)]
            chosen = next((p for p in usable if str(p.pk) == choice), None)
            if chosen is not None:
                return Registration(chosen)
            return Registration(candidates=candidates, usable=usable)
        details = {"confirmed_despite": [str(p.pk) for p in candidates]} if candidates else {}
        with transaction.atomic():
            [patient] = insert_all([services.new_patient(caller.pharmacy, caller.user, data)])
            record_many([audit_event(caller, "patient.create", patient, details)])
        return Registration(patient, created=True)

    return found_on_retry(attempt)


def audit_event(caller: Caller, action: str, target, details: Mapping[str, Any] | None = None):
    return event(
        action,
        request=caller.request,
        actor=caller.user,
        pharmacy=caller.pharmacy,
        target=target,
        details={**caller.details, **(details or {})},
    )


def add_errors(form: forms.Form, errors: list[FieldError]) -> None:
    """Show errors found beyond the form's own checks (a conflict) on a bound form."""
    for error in errors:
        name = error.field if error.field in form.fields else None
        form.add_error(name, ValidationError(error.message, code=error.code))
