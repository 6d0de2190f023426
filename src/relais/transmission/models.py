"""The transmission outbox: one row per HL7 message owed to SI-DEP.

A row is written in the same database transaction as the test it reports (see
outbox.py), so a validated test always has its message queued, and a rolled-back test
never does. The message itself is not stored: the worker builds it in memory from the
decrypted record when it sends, so a correction made before sending goes out at once.

Consent: SI-DEP is a legal reporting duty. The law that created it (loi n° 2020-546 of
11 May 2020, art. 11, and décret n° 2020-551) lets results be processed without the
patient's consent and excludes the right to object; the patient must only be informed.
So every validated result is transmitted; `ScreeningTest.consent_transmission` records
that the patient was informed, it is not a gate.
"""

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from relais.accounts.models import Pharmacy
from relais.accounts.scoping import PharmacyScopedQuerySet
from relais.crypto.fields import EncryptedTextField
from relais.lib import queue
from relais.screening.models import ScreeningTest

MESSAGE_ID_LENGTH = 20


def new_message_id() -> str:
    """MSH-10: generated once per row and never changed, so the receiver de-duplicates
    a message sent again after a crash. 20 characters, the most v2.5.1 allows: 80 random
    bits, and the column is unique. Rows made before have 32-character ids and keep them
    (a message SI-DEP may hold is sent again with the id it first had)."""
    return uuid.uuid4().hex[:MESSAGE_ID_LENGTH].upper()


class Transmission(queue.QueuedRow):
    class Kind(models.TextChoices):
        NEW = "new", _("new result")
        CORRECTION = "correction", _("correction")
        CANCELLATION = "cancellation", _("cancellation")

    class State(models.TextChoices):
        PENDING = "pending", _("waiting")
        IN_FLIGHT = "in_flight", _("being sent")
        ACKNOWLEDGED = "acknowledged", _("acknowledged")
        REJECTED = "rejected", _("rejected")
        DEAD = "dead", _("failed permanently")
        # A message never sent, made pointless by the test's cancellation.
        WITHDRAWN = "withdrawn", _("withdrawn before sending")

    class Error(models.TextChoices):
        """Why the last attempt failed (last_error), worded when shown."""

        UNREACHABLE = "unreachable", _("SI-DEP could not be reached")
        SERVER_ERROR = "server_error", _("SI-DEP answered with a server error")
        ACK_UNREADABLE = "ack_unreadable", _("SI-DEP's acknowledgement could not be read")
        CLIENT_ERROR = "client_error", _("SI-DEP refused the request")
        BUILD_FAILED = "build_failed", _("The record could not be written as an HL7 message")
        NO_ACK = "no_ack", _("SI-DEP's answer had no acknowledgement for this message")
        INTERNAL_ERROR = "internal_error", _("Internal error while sending")
        OPERATOR_RETRY = "operator_retry", _("Retried by the operator")
        LEASE_LOST = queue.LEASE_LOST, queue.LEASE_LOST_TEXT
        TRY_LATER = "try_later", _("SI-DEP asked to send it again later")
        TOO_LARGE = "too_large", _("The message is larger than SI-DEP accepts")
        # MSA-1 AR (HL7 table 0008, "application reject"): SI-DEP could not process the
        # message, for a reason not about its content. Sent again, like an outage.
        APPLICATION_REJECT = (
            "application_reject",
            _("SI-DEP could not process the message (AR): it is sent again later"),
        )
        # A failed TLS handshake needs someone to fix a certificate: worded apart from
        # an outage, on the pharmacist's and the operator's pages.
        TLS_SERVER_UNTRUSTED = (
            "tls_server_untrusted",
            _("TLS handshake with SI-DEP failed: SI-DEP's certificate is not trusted"),
        )
        TLS_CLIENT_REFUSED = (
            "tls_client_refused",
            _("TLS handshake with SI-DEP failed: SI-DEP refused our client certificate"),
        )
        TLS_CLIENT_EXPIRED = (
            "tls_client_expired",
            _("TLS handshake with SI-DEP failed: our client certificate has expired"),
        )
        TLS_FAILED = "tls_failed", _("TLS handshake with SI-DEP failed")

    # OBX-11 (HL7 table 0085) each kind of message carries: F final, C correction, D
    # deleted. A cancellation because the test was recorded for the wrong patient is W
    # ("post original as wrong, e.g. transmitted for wrong patient") instead of D.
    RESULT_STATUS: dict[str, str] = {Kind.NEW: "F", Kind.CORRECTION: "C", Kind.CANCELLATION: "D"}
    # screening.services.CANCEL_REASONS' code for "recorded for the wrong patient".
    WRONG_PATIENT = "wrong_patient"
    WAITING_STATES = (State.PENDING, State.IN_FLIGHT)
    TLS_ERRORS = (
        Error.TLS_SERVER_UNTRUSTED,
        Error.TLS_CLIENT_REFUSED,
        Error.TLS_CLIENT_EXPIRED,
        Error.TLS_FAILED,
    )
    FINAL_STATES = (State.ACKNOWLEDGED, State.REJECTED, State.DEAD, State.WITHDRAWN)
    # The longest reason kept (what SI-DEP writes is cut to this many characters).
    ACK_TEXT_LENGTH = 500

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    test = models.ForeignKey(ScreeningTest, on_delete=models.PROTECT, related_name="transmissions")
    pharmacy = models.ForeignKey(Pharmacy, on_delete=models.PROTECT, related_name="+")
    # Order of the test's messages: a correction is never sent before the result it corrects.
    sequence = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.NEW)
    # A cancellation's reason (a CANCEL_REASONS code; "" for other kinds): it chooses D or W.
    cancel_reason = models.CharField(max_length=32, blank=True)
    message_id = models.CharField(max_length=32, unique=True, default=new_message_id)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    # attempts, next_attempt_at, the lease and last_error come from queue.QueuedRow.
    # SI-DEP's acknowledgement (MSA-1 and its reason), shown to the pharmacy only. The
    # reason is SI-DEP's free text and may quote the patient's data: encrypted like the
    # identity (bound to this row), never logged, erased with the patient's identity.
    ack_code = models.CharField(max_length=2, blank=True)
    ack_text = EncryptedTextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # First time the message left (or may have left) for SI-DEP.
    sent_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # When `state` last changed (the API's `updated_since` lists tests by it).
    state_changed_at = models.DateTimeField(default=timezone.now)
    # When the platform administrators were e-mailed about this dead letter (None: not
    # yet, or retried since), so each dead letter is announced once.
    dead_letter_alerted_at = models.DateTimeField(null=True, blank=True)

    objects = PharmacyScopedQuerySet.as_manager()

    class Meta:
        ordering = ["test", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["test", "sequence"], name="one_sequence_per_test")
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="transmission_due"),
            models.Index(fields=["pharmacy", "state_changed_at"], name="transmission_changes"),
        ]

    def __str__(self):
        return f"Transmission {self.pk}"

    @property
    def result_status(self) -> str:
        if self.kind == self.Kind.CANCELLATION and self.cancel_reason == self.WRONG_PATIENT:
            return "W"
        return self.RESULT_STATUS[self.kind]

    @property
    def may_have_reached_sidep(self) -> bool:
        """True unless we know SI-DEP does not hold this message."""
        if self.state in (self.State.ACKNOWLEDGED, self.State.IN_FLIGHT):
            return True
        return self.state in (self.State.PENDING, self.State.DEAD) and self.sent_at is not None
