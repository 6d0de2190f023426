"""The worker job that drains the outbox: claim a batch, build, send, record the ACKs.

Claiming sets a lease (claimed_until) and a token in one short transaction; on
PostgreSQL the claim query uses FOR UPDATE SKIP LOCKED, so any number of workers share
the queue without ever holding the same row. On SQLite the claim transaction takes the
database's single write lock, which serialises claims the same way. A worker killed
mid-batch loses its rows when the lease passes; they are sent again with the same
MSH-10, which the receiver de-duplicates: at-least-once sending, exactly-once recording.
"""

import datetime
import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from relais.accounts.models import Pharmacy
from relais.transmission import hl7, retry, transport
from relais.transmission.models import Transmission

log = logging.getLogger(__name__)

State = Transmission.State

BUILD_FAILED = "The record could not be written as an HL7 message."
NO_ACK = "SI-DEP's answer had no acknowledgement for this message."
LEASE_LOST_TOO_OFTEN = "A worker stopped while sending it too many times."
# Our own short wordings of each failure: never the exception's text, which could quote data.
ERROR_WORDING = {
    transport.TransportError: "SI-DEP could not be reached.",
    transport.ServerError: "SI-DEP answered with a server error.",
    transport.AckError: "SI-DEP's acknowledgement could not be read.",
    transport.ClientError: "SI-DEP refused the request.",
}
ACK_TEXT_LENGTH = Transmission._meta.get_field("ack_text").max_length


@dataclass
class Outcome:
    state: str
    ack_code: str = ""
    ack_text: str = ""
    error: str = ""


def sendable(rows):
    """Never a suspended pharmacy's rows (they wait), never a message before an earlier
    one of the same test (a test's first message has none: the check is skipped)."""
    earlier_unfinished = Transmission.objects.filter(
        test=OuterRef("test"),
        sequence__lt=OuterRef("sequence"),
        state__in=Transmission.WAITING_STATES,
    )
    return rows.exclude(pharmacy__status=Pharmacy.Status.SUSPENDED).filter(
        Q(sequence=1) | ~Exists(earlier_unfinished)
    )


def pick(rows, limit: int) -> list[uuid.UUID]:
    if limit <= 0:
        return []
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True, of=("self",))
    return list(rows.values_list("pk", flat=True)[:limit])


def due_ids(now: datetime.datetime, limit: int) -> list[uuid.UUID]:
    """Up to `limit` rows to send now (inside the claim's transaction): rows whose
    worker died (lapsed lease) first, then pending rows in the order they fell due.
    Two queries rather than one with OR, so each walks the (state, next_attempt_at)
    index in order and stops at `limit`."""
    lapsed = pick(
        sendable(Transmission.objects.filter(state=State.IN_FLIGHT, claimed_until__lt=now)),
        limit,
    )
    pending = Transmission.objects.filter(state=State.PENDING, next_attempt_at__lte=now)
    return lapsed + pick(sendable(pending).order_by("next_attempt_at"), limit - len(lapsed))


def claim(batch_size: int, now: datetime.datetime) -> uuid.UUID | None:
    token = uuid.uuid4()
    lease = datetime.timedelta(seconds=settings.TRANSMISSION_LEASE_SECONDS)
    with transaction.atomic():
        Transmission.objects.filter(
            state=State.IN_FLIGHT,
            claimed_until__lt=now,
            attempts__gte=settings.TRANSMISSION_MAX_ATTEMPTS,
        ).update(state=State.DEAD, last_error=LEASE_LOST_TOO_OFTEN, claimed_until=None)
        ids = due_ids(now, batch_size)
        if not ids:
            return None
        Transmission.objects.filter(pk__in=ids).update(
            state=State.IN_FLIGHT,
            claimed_until=now + lease,
            claim_token=token,
            attempts=F("attempts") + 1,
            sent_at=Coalesce("sent_at", Value(now)),
        )
    return token


def build_messages(rows, now) -> tuple[list[str], dict[uuid.UUID, Outcome]]:
    messages, failures = [], {}
    for row in rows:
        try:
            messages.append(
                hl7.build_oru_r01(
                    row.test,
                    message_id=row.message_id,
                    result_status=row.result_status,
                    created_at=now,
                )
            )
        except Exception as error:
            # The type names the problem; its text could quote the patient's data.
            log.warning("transmission %s: message not built (%s)", row.pk, type(error).__name__)
            failures[row.pk] = Outcome(State.REJECTED, error=BUILD_FAILED)
    return messages, failures


def wording(error: Exception) -> str:
    for kind, text in ERROR_WORDING.items():
        if isinstance(error, kind):
            status = getattr(error, "status", None)
            return f"{text[:-1]} (HTTP {status})." if isinstance(status, int) else text
    return f"Internal error while sending ({type(error).__name__})."


def outcome_of_ack(ack) -> Outcome:
    if ack is None:
        return Outcome(State.PENDING, error=NO_ACK)
    if ack.code == "AA":
        return Outcome(State.ACKNOWLEDGED, ack_code="AA", ack_text=ack.text[:ACK_TEXT_LENGTH])
    return Outcome(State.REJECTED, ack_code=ack.code, ack_text=ack.text[:ACK_TEXT_LENGTH])


def send(rows, messages) -> dict[uuid.UUID, Outcome]:
    if not messages:
        return {}
    try:
        acks = transport.send_batch(messages)
    except Exception as error:
        decision = retry.classify(error)
        if decision is None:
            # Our bug or configuration (certificates...): loud in the log, and retried.
            log.exception("transmission batch of %d failed unexpectedly", len(messages))
        else:
            log.warning("transmission batch of %d failed: %s", len(messages), type(error).__name__)
        if decision == retry.REJECT:
            assert isinstance(error, transport.ClientError)  # the only error classify rejects
            reason = f"HTTP {error.status}: {error.reason}"[:ACK_TEXT_LENGTH]
            return {
                row.pk: Outcome(State.REJECTED, ack_text=reason, error=wording(error))
                for row in rows
            }
        return {row.pk: Outcome(State.PENDING, error=wording(error)) for row in rows}
    by_message_id = {ack.message_id: ack for ack in acks}
    return {row.pk: outcome_of_ack(by_message_id.get(row.message_id)) for row in rows}


def apply(row: Transmission, outcome: Outcome, now: datetime.datetime) -> None:
    row.claimed_until = None
    row.claim_token = None
    row.ack_code, row.ack_text = outcome.ack_code, outcome.ack_text
    row.last_error = outcome.error
    row.state = outcome.state
    if outcome.state == State.ACKNOWLEDGED:
        row.acknowledged_at = now
    elif outcome.state == State.PENDING:
        if retry.gives_up(row.attempts):
            row.state = State.DEAD
            log.error("transmission %s dead-lettered after %d attempts", row.pk, row.attempts)
        else:
            row.next_attempt_at = retry.next_attempt_at(row.attempts, now)


RECORDED_FIELDS = [
    "state", "ack_code", "ack_text", "last_error", "acknowledged_at", "next_attempt_at",
    "claimed_until", "claim_token",
]  # fmt: skip


def record(token: uuid.UUID, rows, outcomes: dict[uuid.UUID, Outcome]) -> None:
    now = timezone.now()
    groups: dict[tuple, list[uuid.UUID]] = {}
    for row in rows:
        apply(row, outcomes[row.pk], now)
        values = tuple(getattr(row, name) for name in RECORDED_FIELDS)
        groups.setdefault(values, []).append(row.pk)
    updated = 0
    with transaction.atomic():
        # One UPDATE per distinct outcome (a whole acknowledged batch is one statement),
        # and only on rows still held under this claim: a row whose lease lapsed belongs
        # to whoever claimed it since.
        for values, ids in groups.items():
            updated += Transmission.objects.filter(
                pk__in=ids, claim_token=token, state=State.IN_FLIGHT
            ).update(**dict(zip(RECORDED_FIELDS, values, strict=True)))
    if updated != len(rows):
        lost = len(rows) - updated
        log.warning("transmission batch: %d of %d rows had lost their lease", lost, len(rows))


def send_due(batch_size: int | None = None) -> int:
    """One batch: returns how many rows were handled (0 when nothing is due)."""
    now = timezone.now()
    token = claim(batch_size or settings.SIDEP_BATCH_SIZE, now)
    if token is None:
        return 0
    rows = list(
        Transmission.objects.filter(claim_token=token).select_related(
            "test__patient", "test__pharmacy", "test__performed_by"
        )
    )
    messages, outcomes = build_messages(rows, now)
    sendable = [row for row in rows if row.pk not in outcomes]
    outcomes.update(send(sendable, messages))
    record(token, rows, outcomes)
    counts: dict[str, int] = {}
    for outcome in outcomes.values():
        counts[str(outcome.state)] = counts.get(str(outcome.state), 0) + 1
    log.info("transmission batch: %d rows, %s", len(rows), counts)
    return len(rows)
