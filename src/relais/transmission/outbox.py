"""Queueing messages for SI-DEP, inside the transaction that changes the test.

The screening app sends its signals inside its atomic blocks; the receivers below write
the outbox rows, so the test and its message commit or roll back together.
"""

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from relais.bulk_insert import insert_all
from relais.transmission.models import Transmission

State = Transmission.State
Kind = Transmission.Kind


def new_row(test, kind: str, sequence: int) -> Transmission:
    return Transmission(
        test=test,
        pharmacy_id=test.pharmacy_id,
        sequence=sequence,
        kind=kind,
        next_attempt_at=timezone.now(),
    )


def enqueue(test, kind: str, last: int | None = None) -> Transmission:
    """Queue a message after the test's others (`last`: their highest sequence, when the
    caller knows it)."""
    if last is None:
        last = test.transmissions.aggregate(last=Max("sequence"))["last"] or 0
    row = new_row(test, kind, last + 1)
    row.save(force_insert=True)
    return row


def enqueue_many(tests, kind: str) -> list[Transmission]:
    """enqueue for many tests: one query for their last sequences, one insert."""
    last = dict(
        Transmission.objects.filter(test__in=[test.pk for test in tests])
        .order_by()
        .values("test")
        .annotate(last=Max("sequence"))
        .values_list("test", "last")
    )
    rows = [new_row(test, kind, last.get(test.pk, 0) + 1) for test in tests]
    return insert_all(rows)


def locked_rows(test) -> list[Transmission]:
    """The test's rows, locked so no worker claims one while we decide (PostgreSQL)."""
    return list(Transmission.objects.select_for_update().filter(test=test).order_by("sequence"))


def may_have_reached_sidep(test) -> bool:
    """Whether SI-DEP may hold a version of this result (so a change must go as C or D)."""
    return any(row.may_have_reached_sidep for row in test.transmissions.all())


def patient_results_may_be_at_sidep(patient) -> bool:
    """Whether SI-DEP may hold a live result of this patient (so editing the patient
    corrects it there too)."""
    rows = Transmission.objects.filter(test__patient=patient, test__cancelled_at__isnull=True)
    return any(row.may_have_reached_sidep for row in rows)


def on_test_validated(sender, test, **kwargs) -> None:
    # The test was inserted in this transaction, so it has no message yet (and the
    # unique (test, sequence) constraint would refuse a second sequence 1).
    enqueue(test, Kind.NEW, last=0)


def on_tests_validated(sender, tests, **kwargs) -> None:
    """on_test_validated for tests saved in bulk."""
    if tests:
        enqueue_many(tests, Kind.NEW)


# The test's fields SI-DEP receives; changing only the others (the patient's
# notification choice...) sends nothing.
REPORTED_FIELDS = {
    "kind", "device", "specimen", "sampled_at", "result", "symptoms", "symptom_onset",
}  # fmt: skip


def on_test_corrected(sender, test, fields=None, **kwargs) -> None:
    """A message not sent yet is built from the record when it goes, so it already
    carries the correction; otherwise the correction goes as a new message (OBX-11 C),
    or as a fresh result (F) when SI-DEP never accepted the earlier one."""
    if fields is not None and not REPORTED_FIELDS.intersection(fields):
        return
    rows = locked_rows(test)
    if rows and rows[-1].state == State.PENDING and rows[-1].sent_at is None:
        return
    if any(row.may_have_reached_sidep for row in rows):
        enqueue(test, Kind.CORRECTION)
    else:
        enqueue(test, Kind.NEW)


def on_test_cancelled(sender, test, **kwargs) -> None:
    """Messages that never left are withdrawn; if SI-DEP may hold the result, a
    cancellation (OBX-11 D) follows the messages already sent."""
    rows = locked_rows(test)
    for row in rows:
        if row.state == State.PENDING and row.sent_at is None:
            row.state = State.WITHDRAWN
            row.save(update_fields=["state"])
    if any(row.may_have_reached_sidep for row in rows):
        enqueue(test, Kind.CANCELLATION)


def on_patient_corrected(sender, patient, **kwargs) -> None:
    """Every message carries the patient (PID), so an edited identity or contact follows
    each live result the same way as a corrected test: unsent messages already carry
    it; a result SI-DEP may hold gets a correction (OBX-11 C). Results that never reached
    it wait for their own resend (rejected) or the operator (dead)."""
    for test in patient.tests.filter(cancelled_at__isnull=True).order_by("pk"):
        rows = locked_rows(test)
        if rows and rows[-1].state == State.PENDING and rows[-1].sent_at is None:
            continue
        if any(row.may_have_reached_sidep for row in rows):
            enqueue(test, Kind.CORRECTION, last=rows[-1].sequence)


@transaction.atomic
def resend_rejected(test) -> bool:
    """The pharmacist's "correct and resend" when the fix was elsewhere (the patient's
    identity): a rejected latest message goes out again, under a new MSH-10."""
    rows = locked_rows(test)
    if not rows or rows[-1].state != State.REJECTED:
        return False
    reached = any(row.may_have_reached_sidep for row in rows)
    enqueue(test, Kind.CORRECTION if reached else Kind.NEW)
    return True


@transaction.atomic
def retry_dead(transmission: Transmission) -> bool:
    """The operator's "retry": a dead-lettered row is due again with a fresh count."""
    updated = Transmission.objects.filter(pk=transmission.pk, state=State.DEAD).update(
        state=State.PENDING,
        attempts=0,
        next_attempt_at=timezone.now(),
        claimed_until=None,
        claim_token=None,
        last_error=Transmission.Error.OPERATOR_RETRY,
        last_error_status=None,
    )
    return updated == 1
