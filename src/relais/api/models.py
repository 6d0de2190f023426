"""API credentials of a pharmacy's software, and the idempotency keys of its requests."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from relais.accounts.models import Pharmacy
from relais.accounts.scoping import PharmacyScopedQuerySet
from relais.crypto.fields import EncryptedTextField
from relais.lib import queue


class ApiCredential(models.Model):
    """One bearer token of one pharmacy. Only a SHA-256 hash of the secret is stored.

    The token is `rl_<prefix>_<secret>`: the prefix identifies the row (and is shown to
    the owner), the secret is 256 random bits. Tests recorded through the API are
    performed by `service_user`, an inactive account that cannot log in, so every test
    and audit event names the credential that wrote it.

    A credential reads only the tests it wrote (`recorded_by` is its service user) unless
    the pharmacy owner grants it `read_all`: a leaked credential then shows only what the
    software sent through it, never the pharmacy's whole history.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    pharmacy = models.ForeignKey(Pharmacy, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    service_user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_credential"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    read_all = models.BooleanField(_("reads every test of the pharmacy"), default=False)
    # Optional webhook (relais.api.webhooks): where to announce its tests' transmission
    # outcomes, and the secret that signs them. The secret is ours, shown once, and kept
    # encrypted (bound to this row): both ends need it in clear to compute the signature.
    webhook_url = models.CharField(_("webhook address"), max_length=500, blank=True)
    webhook_secret = EncryptedTextField(blank=True)

    objects = PharmacyScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"ApiCredential {self.prefix}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class IdempotencyKey(models.Model):
    """The first answer to a POST sent with an `Idempotency-Key` header.

    The row is inserted first, inside the request's transaction, so concurrent retries
    wait on the unique constraint and then read the committed answer.
    """

    id = models.BigAutoField(primary_key=True)
    pharmacy = models.ForeignKey(Pharmacy, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    # The answer exactly as sent (text, not JSON: jsonb would reorder its keys).
    response_body = models.TextField(blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pharmacy", "key"], name="one_idempotency_key")
        ]

    def __str__(self):
        return f"IdempotencyKey {self.pk}"


class WebhookDelivery(queue.QueuedRow):
    """One event owed to one credential's webhook, written in the transaction that
    settled the transmission it reports (relais.api.webhooks). Its id is the event's id.
    Ids and a state only: the software reads the test itself through the API."""

    class State(models.TextChoices):
        PENDING = "pending", _("waiting to be delivered")
        SENDING = "sending", _("being delivered")
        DELIVERED = "delivered", _("delivered")
        DEAD = "dead", _("failed permanently")
        # The credential was revoked or its webhook removed before delivery.
        DISCARDED = "discarded", _("discarded")

    class Error(models.TextChoices):
        """Why the last attempt failed (last_error), worded when shown."""

        UNREACHABLE = "unreachable", _("The webhook address could not be reached")
        TIMEOUT = "timeout", _("The webhook address did not answer in time")
        TLS = "tls", _("The webhook address's TLS certificate was refused")
        HTTP_STATUS = "http_status", _("The webhook address did not answer with success")
        ADDRESS_REFUSED = "address_refused", _("The webhook address is not allowed")
        INTERNAL_ERROR = "internal_error", _("Internal error while delivering")
        LEASE_LOST = queue.LEASE_LOST, queue.LEASE_LOST_TEXT

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    credential = models.ForeignKey(ApiCredential, on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=32)
    test_id = models.UUIDField()
    transmission_state = models.CharField(max_length=16)
    occurred_at = models.DateTimeField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    # attempts, next_attempt_at, the lease and last_error come from queue.QueuedRow.
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="webhook_delivery_due"),
            models.Index(fields=["created_at"], name="webhook_delivery_created"),
        ]

    def __str__(self):
        return f"WebhookDelivery {self.pk}"
