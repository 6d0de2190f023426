"""The worker job that drains the outbox: claim a batch, build, send, record the ACKs.

The outbox is a relais.lib.queue queue: claiming sets a lease and a token in one short
transaction (FOR UPDATE SKIP LOCKED on PostgreSQL), so any number of workers share it
without ever holding the same row. A worker killed mid-batch loses its rows when the
lease passes; they are sent again with the same MSH-10, which the receiver
de-duplicates: at-least-once sending, exactly-once recording.
"""

import datetime
import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Value
from django.db.models.functions import Coalesce

from relais.accounts.models import Pharmacy
from relais.lib import queue
from relais.lib.clock import database_now
from relais.transmission import hl7, retry, transport
from relais.transmission.models import Transmission
from relais.transmission.signals import Settled, transmissions_settled

log = logging.getLogger(__name__)

State = Transmission.State
Error = Transmission.Error

# Our own code for each failure: never the exception's text, which could quote data.
# A TLSError carries its own code (whose certificate failed). Most specific class first.
ERROR_CODES = {
    transport.TransportError: Error.UNREACHABLE,
    transport.ServerError: Error.SERVER_ERROR,
    transport.TryLater: Error.TRY_LATER,
    transport.AckError: Error.ACK_UNREADABLE,
    transport.BatchTooLarge: Error.TOO_LARGE,  # before its base class, ClientError
    transport.ClientError: Error.CLIENT_ERROR,
}
ACK_TEXT_LENGTH = Transmission.ACK_TEXT_LENGTH


@dataclass
class Outcome:
    state: str
    ack_code: str = ""
    ack_text: str = ""
    error: str = ""
    error_status: int | None = None
    # Seconds SI-DEP asked us to wait (Retry-After) before sending again.
    retry_after: float | None = None


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


def transmission_queue() -> queue.Queue:
    return queue.Queue(
        model=Transmission,
        waiting=State.PENDING,
        claimed=State.IN_FLIGHT,
        dead=State.DEAD,
        max_attempts=settings.TRANSMISSION_MAX_ATTEMPTS,
        lease=datetime.timedelta(seconds=settings.TRANSMISSION_LEASE_SECONDS),
        backoff_base_seconds=settings.TRANSMISSION_BACKOFF_BASE_SECONDS,
        backoff_max_seconds=settings.TRANSMISSION_BACKOFF_MAX_SECONDS,
        eligible=sendable,
        state_changed_field="state_changed_at",
        on_lapsed_dead=lambda now: announce_settled(now, state=State.DEAD),
    )


SETTLED_STATES = (State.ACKNOWLEDGED, State.REJECTED, State.DEAD)


def announce_settled(now: datetime.datetime, **which) -> None:
    """Sends `transmissions_settled` for the rows (among `which`) this worker has just
    settled: their state changed at `now`, the time it wrote (a row another worker holds
    since has another). Called inside the transaction that wrote them."""
    rows = Transmission.objects.filter(
        state__in=SETTLED_STATES, state_changed_at=now, **which
    ).values_list("test_id", "pharmacy_id", "test__recorded_by_id", "state")
    announce([Settled(*row, occurred_at=now) for row in rows])


def announce(settled: list[Settled]) -> None:
    if settled:
        transmissions_settled.send(sender=Transmission, settled=settled)


def due_ids(now: datetime.datetime, limit: int) -> list[uuid.UUID]:
    """Up to `limit` rows to send now: lapsed leases first, then pending rows in the
    order they fell due, each only when sendable."""
    return queue.due_ids(transmission_queue(), now, limit)


def claim(batch_size: int, now: datetime.datetime) -> uuid.UUID | None:
    # sent_at: the first time the message left (or may have left) for SI-DEP.
    return queue.claim(
        transmission_queue(), batch_size, now, sent_at=Coalesce("sent_at", Value(now))
    )


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
            failures[row.pk] = Outcome(State.REJECTED, error=Error.BUILD_FAILED)
    return messages, failures


def error_code(error: Exception) -> tuple[str, int | None]:
    """Our code for a failure, and the HTTP status that came with it."""
    if isinstance(error, transport.TLSError):
        return error.code, None
    status = getattr(error, "status", None)
    status = status if isinstance(status, int) else None
    for kind, code in ERROR_CODES.items():
        if isinstance(error, kind):
            return code, status
    return Error.INTERNAL_ERROR, None


def outcome_of_ack(ack) -> Outcome:
    """HL7 table 0008: AA accepted; AE an error in the content, a rejection the pharmacy
    fixes; AR a failure not about the content (SI-DEP could not process it now): the same
    message goes again after a backoff, and becomes a dead letter after the last attempt."""
    if ack is None:
        return Outcome(State.PENDING, error=Error.NO_ACK)
    text = ack.text[:ACK_TEXT_LENGTH]
    if ack.code == "AA":
        return Outcome(State.ACKNOWLEDGED, ack_code="AA", ack_text=text)
    if ack.code == "AR":
        return Outcome(State.PENDING, ack_code="AR", ack_text=text, error=Error.APPLICATION_REJECT)
    return Outcome(State.REJECTED, ack_code=ack.code, ack_text=text)


def send(rows, messages) -> dict[uuid.UUID, Outcome]:
    """Each row's outcome. A batch SI-DEP finds too large (413) is split in halves, down
    to single messages; a single message still too large is rejected. Every other
    failure of the request leaves its rows waiting: only SI-DEP's verdict on a message's
    content (its AE acknowledgement) or its size rejects it."""
    if not messages:
        return {}
    try:
        acks = transport.send_batch(messages)
    except transport.BatchTooLarge as error:
        if len(rows) > 1:
            half = len(rows) // 2
            log.info("SI-DEP refused a batch of %d as too large: splitting it", len(rows))
            return {**send(rows[:half], messages[:half]), **send(rows[half:], messages[half:])}
        log.warning("transmission %s: rejected, larger than SI-DEP accepts", rows[0].pk)
        reason = f"HTTP {error.status}: {error.reason}"[:ACK_TEXT_LENGTH]
        outcome = Outcome(State.REJECTED, ack_text=reason, error=Error.TOO_LARGE, error_status=413)
        return {rows[0].pk: outcome}
    except Exception as error:
        return dict.fromkeys([row.pk for row in rows], failed(error, len(messages)))
    by_message_id = {ack.message_id: ack for ack in acks}
    return {row.pk: outcome_of_ack(by_message_id.get(row.message_id)) for row in rows}


def failed(error: Exception, count: int) -> Outcome:
    """The outcome of a batch whose request failed: waiting, for the same message (same
    MSH-10) to go again, since SI-DEP may have stored it before the failure."""
    code, status = error_code(error)
    if retry.classify(error) is None:
        # Our bug or configuration (certificates...): loud in the log, and retried.
        log.exception("transmission batch of %d failed unexpectedly", count)
    elif isinstance(error, transport.TLSError):
        # Distinct from an outage: someone has to fix a certificate. "TLS handshake with
        # SI-DEP failed: <code> (<OpenSSL's alert or verification error>)": no content.
        log.error("transmission batch of %d failed: %s", count, error)
    else:
        log.warning("transmission batch of %d failed: %s%s", count, type(error).__name__,
                    f" (HTTP {status})" if status else "")  # fmt: skip
    retry_after = getattr(error, "retry_after", None)
    return Outcome(State.PENDING, error=code, error_status=status, retry_after=retry_after)


def apply(row: Transmission, outcome: Outcome, now: datetime.datetime) -> None:
    queue.release(row)
    row.ack_code, row.ack_text = outcome.ack_code, outcome.ack_text
    row.last_error, row.last_error_status = outcome.error, outcome.error_status
    row.state = outcome.state
    row.state_changed_at = now
    if outcome.state == State.ACKNOWLEDGED:
        row.acknowledged_at = now
    elif outcome.state == State.PENDING:
        queue.retry_later(transmission_queue(), row, now)
        if outcome.retry_after is not None and row.state == State.PENDING:
            not_before = now + datetime.timedelta(seconds=outcome.retry_after)
            row.next_attempt_at = max(row.next_attempt_at, not_before)


RECORDED_FIELDS = [
    "state", "ack_code", "ack_text", "last_error", "last_error_status", "acknowledged_at",
    "state_changed_at", "next_attempt_at", "claimed_until", "claim_token",
]  # fmt: skip


def record(token: uuid.UUID, rows, outcomes: dict[uuid.UUID, Outcome]) -> None:
    now = database_now()  # after the send: backoff and acknowledgement times start here
    for row in rows:
        apply(row, outcomes[row.pk], now)
    with transaction.atomic():  # the new states and what they announce commit together
        written = queue.record(transmission_queue(), token, rows, RECORDED_FIELDS)
        settled = [row for row in rows if row.state in SETTLED_STATES]
        if written == len(rows):
            # Every row was still held under this claim: the states just written are
            # the ones in hand (no need to read them back).
            announce([settled_now(row, now) for row in settled])
        elif settled:  # some lease lapsed: announce only the rows written
            announce_settled(now, pk__in=[row.pk for row in settled])


def settled_now(row: Transmission, now: datetime.datetime) -> Settled:
    return Settled(row.test_id, row.pharmacy_id, row.test.recorded_by_id, row.state, now)


def pause_for_retry_after(outcomes, now: datetime.datetime) -> None:
    """SI-DEP's Retry-After is about SI-DEP, not one batch: no waiting message is sent
    before it passes, whichever worker holds it."""
    delays = [outcome.retry_after for outcome in outcomes if outcome.retry_after]
    if not delays:
        return
    until = now + datetime.timedelta(seconds=max(delays))
    postponed = Transmission.objects.filter(state=State.PENDING, next_attempt_at__lt=until).update(
        next_attempt_at=until
    )
    log.warning("SI-DEP asked to wait %.0f s: %d waiting messages postponed", max(delays),
                postponed)  # fmt: skip


def send_due(batch_size: int | None = None) -> int:
    """One batch: returns how many rows were handled (0 when nothing is due)."""
    now = database_now()  # what is due and the lease go by the clock every worker shares
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
    pause_for_retry_after(outcomes.values(), now)
    counts: dict[str, int] = {}
    for outcome in outcomes.values():
        counts[str(outcome.state)] = counts.get(str(outcome.state), 0) + 1
    log.info("transmission batch: %d rows, %s", len(rows), counts)
    return len(rows)
