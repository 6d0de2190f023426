"""Saving and finding patients and tests. New results enter through `submissions`, which
checks them and calls `new_patient` and `record_tests` here."""

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from relais.bulk_insert import insert_all
from relais.crypto.blind_index import blind_index, blind_index_candidates
from relais.screening.models import (
    IDENTITY_INDEX,
    NIR_INDEX,
    IdentityStatus,
    Patient,
    ScreeningTest,
    Versioned,
    identity_key,
    is_duplicate_nir,
)
from relais.screening.signals import (
    patient_corrected,
    test_cancelled,
    test_corrected,
    tests_validated,
)

PATIENT_FIELDS = (
    "birth_name", "used_name", "given_names", "birth_date", "sex", "birthplace_code", "nir",
    "address", "postal_code", "city", "phone", "email", "identity_status",
)  # fmt: skip
# Why a test is cancelled: fixed codes, so the audit log never holds free text.
CANCEL_REASONS = {
    "entered_in_error": _("Recorded in error"),
    "wrong_patient": _("Recorded for the wrong patient"),
    "duplicate": _("Duplicate of another test"),
    "not_performed": _("The test was not performed"),
}
TEST_FIELDS = (
    "kind", "device", "device_code", "lot", "lot_expiry", "specimen", "sampled_at", "result",
    "other_results", "symptoms", "symptom_onset", "consent_transmission", "notify_by",
)  # fmt: skip
# A correction may also name another performer (the API's performer RPPS; the web's
# performer is whoever recorded the test).
CORRECTED_FIELDS = (*TEST_FIELDS, "performed_by")
# What entering the reading of a test in progress sets.
RESULT_FIELDS = ("result", "other_results")


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


def reindex_identities(model=Patient, batch_size: int = 500) -> int:
    """Recompute the identity index of every patient whose index no longer matches their
    birth name and birth date (after a change of `validation.normalise_name`), by
    batches; returns how many changed. `model` may be a migration's historical Patient
    (same table and encrypted fields)."""
    changed = 0
    rows = model._base_manager.exclude(identity_index="").order_by("pk")
    batch = []
    for patient in rows.iterator(chunk_size=batch_size):
        key = identity_key(patient.birth_name, patient.birth_date)
        scope = str(patient.pharmacy_id)
        if patient.identity_index not in blind_index_candidates(IDENTITY_INDEX, scope, key):
            patient.identity_index = blind_index(IDENTITY_INDEX, scope, key)
            batch.append(patient)
        if len(batch) == batch_size:
            changed += model._base_manager.bulk_update(batch, ["identity_index"])
            batch = []
    if batch:
        changed += model._base_manager.bulk_update(batch, ["identity_index"])
    return changed


def new_patient(pharmacy, user, data: Mapping[str, Any]) -> Patient:
    """An unsaved patient with its blind indexes, for `insert_all` (which calls no save();
    the encrypted fields still encrypt themselves under the row's id)."""
    patient = Patient(pharmacy=pharmacy, created_by=user)
    for name in PATIENT_FIELDS:
        setattr(patient, name, data.get(name) or "")
    patient.identity_status = data.get("identity_status") or IdentityStatus.PROVISIONAL
    patient.refresh_indexes()
    return patient


def create_patient(pharmacy, user, data: Mapping[str, Any]) -> Patient:
    """A patient saved as it is, without matching (tests and fixtures; results come in
    through `submissions`, which matches first)."""
    return insert_all([new_patient(pharmacy, user, data)])[0]


class NirTaken(Exception):
    """The edited NIR is another patient's of the same pharmacy (one NIR, one record)."""


def update_patient(patient: Patient, data: Mapping[str, Any], built_from: "BuiltFrom") -> list[str]:
    """Apply edited identity and contact data, made from the record at `built_from`;
    returns the names of the fields that changed (`patient` gets the saved state). SI-DEP
    is told through the patient_corrected signal. Raises ChangedMeanwhile or NirTaken."""
    typed = {name: data.get(name) or "" for name in PATIENT_FIELDS}
    try:
        with transaction.atomic():
            fresh, changed = apply_changes(Patient, patient.pk, PATIENT_FIELDS, typed, built_from)
            if changed:
                patient_corrected.send(sender=Patient, patient=fresh, fields=changed)
    except IntegrityError as error:
        if is_duplicate_nir(error):
            raise NirTaken from None
        raise
    copy_state(fresh, patient, [*changed, "version"])
    return changed


def new_test(patient: Patient, user, data: dict, now: datetime.datetime) -> ScreeningTest:
    """An unsaved test recorded by `user`; validated at `now` when the data carry its
    result, else in progress (the forms accept every result of a kit or none). Its
    performer is `user` unless the data name another (`performed_by`, the API's)."""
    performer = data.get("performed_by") or user
    test = ScreeningTest(
        pharmacy=patient.pharmacy, patient=patient, performed_by=performer, recorded_by=user
    )
    for name in TEST_FIELDS:
        if name in data:
            setattr(test, name, data[name])
    test.validated_at = now if test.result else None
    return test


def record_tests(user, rows: list[tuple[Patient, dict[str, Any]]]) -> list[ScreeningTest]:
    """Save tests for (saved patient, cleaned test data) with one insert; the receivers of
    tests_validated queue the messages and links of those with a result in the same
    transaction (a test in progress waits for `validate_test`). Called by
    `submissions.record`, for one test as for a file of them."""
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        tests = insert_all([new_test(patient, user, data, now) for patient, data in rows])
        validated = [test for test in tests if test.validated_at is not None]
        if validated:
            tests_validated.send(sender=ScreeningTest, tests=validated)
    return tests


class AlreadyValidated(Exception):
    """The test's result was entered meanwhile (by a colleague, or a second click)."""

    def __init__(self, current: ScreeningTest):
        super().__init__("already validated")
        self.current = current


def validate_test(test: ScreeningTest, data: Mapping[str, Any]) -> None:
    """Enter the reading of a test in progress (`data`: cleaned RESULT_FIELDS): from now
    on it is validated, and its message and result link are queued (tests_validated), in
    one transaction. Raises AlreadyValidated, TestCancelled."""
    with transaction.atomic():
        current = ScreeningTest._base_manager.select_for_update().get(pk=test.pk)
        if current.cancelled_at is not None:
            raise TestCancelled
        if current.validated_at is not None:
            raise AlreadyValidated(current)
        for name in RESULT_FIELDS:
            setattr(current, name, data[name])
        current.validated_at = timezone.now()
        # Under the row lock the version cannot move: the condition only keeps the one rule.
        save_if_version(current, [*RESULT_FIELDS, "validated_at", "updated_at"], current.version)
        tests_validated.send(sender=ScreeningTest, tests=[current])
    copy_state(current, test, [*RESULT_FIELDS, "validated_at", "updated_at", "version"])


class TestCancelled(Exception):
    """A cancelled test is final: it cannot be corrected or cancelled again."""


# --- Versions: no change is made from a stale state -----------------------------------------


class ChangedMeanwhile(Exception):
    """The record changed after the form (or ETag) the change was made from. `current`
    is the record as saved now; `clashes` the fields both changes touched (empty when
    the caller gave no base values to merge with, as the API)."""

    def __init__(self, current, clashes: Sequence[str]):
        super().__init__("changed meanwhile")
        self.current = current
        self.clashes = list(clashes)


@dataclass(frozen=True)
class BuiltFrom:
    """What a change was made from: the record's version and, for a form, the values it
    showed (`values`, as `comparable` gives them), so that only the fields the user
    changed are applied to a newer version. Without values any newer version refuses."""

    version: int
    values: Mapping[str, Any] | None = None

    @classmethod
    def of(cls, record: Versioned, fields: Sequence[str]) -> "BuiltFrom":
        return cls(record.version, {name: comparable(getattr(record, name)) for name in fields})


def comparable(value):
    """A field's value as plain JSON data (forms carry their base values signed, as JSON)."""
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def fields_to_change(current, data: Mapping[str, Any], fields, built_from: BuiltFrom) -> list[str]:
    """The fields to write on `current`: those whose typed value differs from it when the
    form was built from this very version; on a newer version, only those the user
    changed from what the form showed, and none that the newer version changed too (a
    clash: ChangedMeanwhile)."""
    fields = [name for name in fields if name in data]
    differ = [
        name for name in fields if comparable(getattr(current, name)) != comparable(data[name])
    ]
    if built_from.version == current.version:
        return differ
    if built_from.values is None:
        raise ChangedMeanwhile(current, [])
    base = built_from.values
    mine = [name for name in fields if base.get(name) != comparable(data[name])]
    theirs = {name for name in fields if base.get(name) != comparable(getattr(current, name))}
    clashes = [name for name in mine if name in theirs and name in differ]
    if clashes:
        raise ChangedMeanwhile(current, clashes)
    return [name for name in mine if name in differ]


def save_if_version(record: Versioned, fields: Sequence[str], version: int, **conditions) -> bool:
    """Write `fields` of `record` with one UPDATE ... WHERE version = `version` (and
    `conditions`), adding one to the version: the one place a version changes. False
    when another change came first (nothing is written). Encrypted fields are encrypted
    under the row's id, as save() does."""
    model = type(record)
    values = {}
    for name in fields:
        field = model._meta.get_field(name)
        assert isinstance(field, models.Field)
        values[field.attname] = field.pre_save(record, False)  # sets auto_now times too
    updated = model._base_manager.filter(pk=record.pk, version=version, **conditions).update(
        version=F("version") + 1, **values
    )
    if updated:
        record.version = version + 1
    return bool(updated)


def apply_changes(model, pk, fields, data: Mapping[str, Any], built_from: BuiltFrom, **conditions):
    """Apply a change made from `built_from` to the row as it is now: (the saved record,
    the fields changed). A change that lands between our read and our write makes the
    conditional UPDATE miss; we read again and merge with that one the same way."""
    while True:
        current = model._base_manager.get(pk=pk)
        if isinstance(current, ScreeningTest) and current.cancelled_at is not None:
            raise TestCancelled  # the condition below then keeps a late cancellation
        changed = fields_to_change(current, data, fields, built_from)
        if not changed:
            return current, []
        for name in changed:
            setattr(current, name, data[name])
        written = list(changed)
        if isinstance(current, Patient):
            current.refresh_indexes()
            written += ["nir_index", "identity_index"]
        if isinstance(current, ScreeningTest):
            written.append("updated_at")
        if save_if_version(current, written, current.version, **conditions):
            return current, changed


def copy_state(source, target, fields) -> None:
    for name in fields:
        setattr(target, name, getattr(source, name))


def correct_test(
    test: ScreeningTest, user, data: Mapping[str, Any], built_from: BuiltFrom
) -> list[str]:
    """Apply corrected data, made from the test at `built_from`; SI-DEP is told through
    the test_corrected signal (an unsent message simply goes out corrected, a sent one is
    followed by a correction). Returns the names of the fields that changed (none:
    nothing is sent). Raises ChangedMeanwhile, TestCancelled."""
    with transaction.atomic():
        fresh, changed = apply_changes(
            ScreeningTest, test.pk, CORRECTED_FIELDS, data, built_from, cancelled_at__isnull=True
        )
        # A test in progress has sent nothing and told no one: its data simply change.
        if changed and fresh.validated_at is not None:
            test_corrected.send(sender=ScreeningTest, test=fresh, user=user, fields=changed)
    copy_state(fresh, test, [*changed, "updated_at", "version"])
    return changed


@transaction.atomic
def cancel_test(
    test: ScreeningTest, user, reason: str, built_from: BuiltFrom | None = None
) -> ScreeningTest:
    """Cancel a test recorded in error (`reason` is one of CANCEL_REASONS); SI-DEP is
    told through the test_cancelled signal. With `built_from` (the API's If-Match), a
    test whose version moved since raises ChangedMeanwhile."""
    if reason not in CANCEL_REASONS:
        raise ValueError("unknown cancellation reason")
    fresh = ScreeningTest.objects.select_for_update().get(pk=test.pk)
    if fresh.cancelled_at is not None:
        raise TestCancelled
    if built_from is not None and built_from.version != fresh.version:
        raise ChangedMeanwhile(fresh, [])
    fresh.cancelled_at = timezone.now()
    # Under the row lock the version cannot move: the condition only keeps the one rule.
    save_if_version(fresh, ["cancelled_at", "updated_at"], fresh.version)
    test_cancelled.send(sender=ScreeningTest, test=fresh, user=user, reason=reason)
    copy_state(fresh, test, ["cancelled_at", "updated_at", "version"])
    return fresh
