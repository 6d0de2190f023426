"""Queueing messages for SI-DEP, inside the transaction that changes the test.

The screening app sends its signals inside its atomic blocks; the receivers below write
the outbox rows, so the test and its message commit or roll back together.
"""

import datetime

from django.db import transaction
from django.db.models import Max
from django.db.models.functions import Now

from relais.bulk_insert import insert_all
from relais.lib.clock import database_now
from relais.transmission.models import Transmission

State = Transmission.State
Kind = Transmission.Kind


def new_row(
    test, kind: str, sequence: int, due: datetime.datetime, cancel_reason: str = ""
) -> Transmission:
    return Transmission(
        test=test,
        pharmacy_id=test.pharmacy_id,
        sequence=sequence,
        kind=kind,
        cancel_reason=cancel_reason,
        next_attempt_at=due,
    )


def enqueue(
    tests, kind: str, last: dict | None = None, cancel_reason: str = ""
) -> list[Transmission]:
    """Queue one message of `kind` for each test, after the test's others: one query for
    their highest sequences (skipped when the caller knows them: `last`, test id ->
    sequence, empty for tests inserted in this transaction), one insert."""
    if last is None:
        last = dict(
            Transmission.objects.filter(test__in=[test.pk for test in tests])
            .order_by()
            .values("test")
            .annotate(last=Max("sequence"))
            .values_list("test", "last")
        )
    # Due now by the database's clock, the one workers go by (not this host's).
    due = database_now()
    rows = [new_row(test, kind, last.get(test.pk, 0) + 1, due, cancel_reason) for test in tests]
    return insert_all(rows)


def locked_rows(test) -> list[Transmission]:
    """The test's rows, locked so no worker claims one while we decide (PostgreSQL)."""
    return list(Transmission.objects.select_for_update().filter(test=test).order_by("sequence"))


def last_sequence(test, rows: list[Transmission]) -> dict:
    """`enqueue`'s `last` from the test's rows as `locked_rows` read them."""
    return {test.pk: rows[-1].sequence} if rows else {}


# The message just queued for a test recorded in this request: the answer describing
# the test takes it (relais.transmission.services.load_transmissions) instead of reading
# back the row it inserted.
QUEUED_MESSAGE = "_queued_message"


def on_tests_validated(sender, tests, **kwargs) -> None:
    # The tests were inserted in this transaction, so they have no message yet (and the
    # unique (test, sequence) constraint would refuse a second sequence 1).
    if tests:
        for test, row in zip(tests, enqueue(tests, Kind.NEW, last={}), strict=True):
            setattr(test, QUEUED_MESSAGE, row)  # noqa: B010 (not a model field)


# The test's fields SI-DEP receives; changing only the others (the patient's
# notification choice...) sends nothing.
REPORTED_FIELDS = {
    "kind", "device", "device_code", "specimen", "sampled_at", "result", "other_results",
    "symptoms", "symptom_onset",
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
    kind = Kind.CORRECTION if any(row.may_have_reached_sidep for row in rows) else Kind.NEW
    enqueue([test], kind, last=last_sequence(test, rows))


def on_test_cancelled(sender, test, reason: str = "", **kwargs) -> None:
    """Messages that never left are withdrawn; if SI-DEP may hold the result, a
    cancellation follows the messages already sent: OBX-11 W when the test was recorded
    for the wrong patient, D otherwise (the row keeps the reason: see result_status)."""
    rows = locked_rows(test)
    for row in rows:
        if row.state == State.PENDING and row.sent_at is None:
            row.state = State.WITHDRAWN
            row.state_changed_at = database_now()
            row.save(update_fields=["state", "state_changed_at"])
    if any(row.may_have_reached_sidep for row in rows):
        enqueue([test], Kind.CANCELLATION, last=last_sequence(test, rows), cancel_reason=reason)


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
            enqueue([test], Kind.CORRECTION, last=last_sequence(test, rows))


@transaction.atomic
def retry_dead(transmission: Transmission) -> bool:
    """The operator's "retry": a dead-lettered row is due again with a fresh count."""
    updated = Transmission.objects.filter(pk=transmission.pk, state=State.DEAD).update(
        state=State.PENDING,
        state_changed_at=Now(),
        attempts=0,
        next_attempt_at=Now(),  # due at once by the clock the workers go by
        claimed_until=None,
        claim_token=None,
        last_error=Transmission.Error.OPERATOR_RETRY,
        last_error_status=None,
        dead_letter_alerted_at=None,  # if it dies again, that is news
    )
    return updated == 1


def on_patients_purged(sender, patient_ids, **kwargs) -> None:
    """SI-DEP's reasons may quote the patient's data: erased with the identity."""
    Transmission.objects.filter(test__patient__in=patient_ids, ack_text__isnull=False).update(
        ack_text=None
    )
