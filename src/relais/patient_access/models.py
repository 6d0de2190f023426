"""Result links (one test, one patient, a short time) and the messages that carry them."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from relais.crypto.fields import EncryptedTextField
from relais.lib import queue
from relais.screening.models import ScreeningTest


class ResultLink(models.Model):
    """A link to one test's result. Only the SHA-256 of its 256-bit token is stored, and
    for a printed slip the keyed digest of its short code (see relais.patient_access.codes)."""

    class Purpose(models.TextChoices):
        """Why a link was issued (its message says so; a link it replaces tells why)."""

        RESULT = "result", _("result validated")
        RESEND = "resend", _("new link sent")
        CORRECTION = "correction", _("result corrected")
        SLIP = "slip", _("result slip printed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    test = models.ForeignKey(ScreeningTest, on_delete=models.CASCADE, related_name="result_links")
    token_hash = models.CharField(max_length=64, unique=True)
    # The short code printed on a slip, as a blind-index digest (PRF key id first); none
    # for a link sent by message.
    code_digest = models.CharField(max_length=64, unique=True, null=True, blank=True)
    issued_for = models.CharField(max_length=12, choices=Purpose.choices, default=Purpose.RESULT)
    # The purpose of the link that replaced this one ("" unless it was replaced).
    revoked_for = models.CharField(max_length=12, choices=Purpose.choices, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    failures = models.PositiveIntegerField(default=0)
    locked_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"ResultLink {self.pk}"

    @property
    def tries_left(self) -> int:
        return tries_left(self.failures)

    def closed_reason(self, now=None) -> str:
        return closed_reason(
            self.test.cancelled_at,
            self.revoked_at,
            self.revoked_for,
            self.locked_at,
            self.expires_at,
            now,
        )


def tries_left(failures: int) -> int:
    """Wrong dates of birth a link still takes before it locks."""
    return max(settings.PATIENT_LINK_MAX_TRIES - failures, 0)


def closed_reason(
    test_cancelled_at, revoked_at, revoked_for: str, locked_at, expires_at, now=None
) -> str:
    """Why a link no longer opens ("" while it does): revoked (or its test cancelled),
    corrected (replaced by the link of a corrected result), locked or expired."""
    now = now or timezone.now()
    if test_cancelled_at is not None:
        return "revoked"
    if revoked_at is not None:
        return "corrected" if revoked_for == ResultLink.Purpose.CORRECTION else "revoked"
    if locked_at is not None:
        return "locked"
    if expires_at <= now:
        return "expired"
    return ""


class Notification(queue.QueuedRow):
    """One message telling a patient their result is ready, sent by the worker."""

    class Channel(models.TextChoices):
        SMS = "sms", _("SMS")
        EMAIL = "email", _("e-mail")

    class State(models.TextChoices):
        PENDING = "pending", _("waiting to be sent")
        SENDING = "sending", _("being sent")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    class Error(models.TextChoices):
        """Why the last attempt failed (last_error), worded when shown."""

        LINK_CLOSED = "link_closed", _("The link was replaced or has closed")
        NO_BASE_URL = "no_base_url", _("RELAIS_BASE_URL is not set")
        NO_ADDRESS = "no_address", _("No address for this channel on the patient record")
        EMAIL_FAILED = "email_failed", _("The mail server did not take the message")
        SMS_NOT_CONFIGURED = "sms_not_configured", _("RELAIS_SMS_URL is not set")
        SMS_UNREACHABLE = "sms_unreachable", _("The SMS provider could not be reached")
        SMS_REFUSED = "sms_refused", _("The SMS provider refused the message")
        LEASE_LOST = queue.LEASE_LOST, queue.LEASE_LOST_TEXT

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    link = models.ForeignKey(ResultLink, on_delete=models.CASCADE, related_name="notifications")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    # The worker needs the token to write the message; it is kept encrypted only until
    # the message is sent or given up on, then erased (the link keeps only its hash).
    token = EncryptedTextField()
    # attempts, next_attempt_at, the lease and last_error come from queue.QueuedRow.
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self):
        return f"Notification {self.pk}"
