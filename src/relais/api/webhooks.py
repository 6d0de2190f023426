"""Signed webhooks: a credential's software hears when one of its tests' SI-DEP message is
acknowledged, rejected or given up on, instead of polling `updated_since`.

- The pharmacy owner gives a credential an https address; Relais makes its secret (shown
  once, kept encrypted) and can make a new one (rotation). Both are audited by the caller.
- Each settled transmission queues one delivery per credential of the test's pharmacy that
  has a webhook and may read the test (the credential that recorded it, and those granted
  `read_all`), in the transaction that settled it (transmission's `transmissions_settled`).
- The worker's job `deliver_due` POSTs each event, signed with HMAC-SHA256 over
  "<timestamp>.<body>", through relais.lib.outbound (public addresses only, no redirects,
  short timeouts, a bounded read), and retries with backoff until a 2xx answer or the
  last attempt. The body has ids and a state only: the software then reads the test.
"""

import datetime
import hashlib
import hmac
import http.client
import json
import logging
import secrets
import ssl
import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from relais.api.models import ApiCredential, WebhookDelivery
from relais.lib import outbound, queue
from relais.lib.clock import database_now

log = logging.getLogger(__name__)

State = WebhookDelivery.State
Error = WebhookDelivery.Error

SECRET_PREFIX = "whsec_"  # noqa: S105 (not a secret: the visible start of every secret)
SECRET_BYTES = 32
SIGNATURE_HEADER = "Relais-Signature"
EVENT_ID_HEADER = "Relais-Event-Id"
USER_AGENT = "Relais-Webhooks/1"
TIMEOUT_SECONDS = 5.0
BATCH_SIZE = 10
# Worst case a batch holds its rows 10 × (connect + send + read) timeouts.
LEASE = datetime.timedelta(minutes=5)
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3 * 3600
KEEP_DAYS = 7  # delivered, dead and discarded rows are deleted after this

# The transmission states announced, and the event each one is.
EVENTS = {
    "acknowledged": "test.acknowledged",
    "rejected": "test.rejected",
    "dead": "test.rejected",
}

REFUSALS = {
    "malformed": _("Enter a complete https:// address."),
    "not_https": _("The address must start with https://."),
    "unresolved": _("This address's host name could not be found."),
    "forbidden_address": _(
        "This address leads to a private, local or reserved network: only public addresses "
        "may receive webhooks."
    ),
}

RECORDED_FIELDS = [
    "state", "delivered_at", "next_attempt_at", "last_error", "last_error_status",
    "claimed_until", "claim_token",
]  # fmt: skip


def webhook_queue() -> queue.Queue:
    return queue.Queue(
        model=WebhookDelivery,
        waiting=State.PENDING,
        claimed=State.SENDING,
        dead=State.DEAD,
        max_attempts=settings.WEBHOOK_MAX_ATTEMPTS,
        lease=LEASE,
        backoff_base_seconds=BACKOFF_BASE_SECONDS,
        backoff_max_seconds=BACKOFF_MAX_SECONDS,
    )


# --- The owner's settings ---------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def check_url(url: str) -> str:
    """The address, if it may receive webhooks now; else a ValidationError saying why."""
    url = url.strip()
    try:
        outbound.check(url, allow_loopback=settings.WEBHOOK_ALLOW_LOOPBACK)
    except outbound.Refused as refused:
        raise ValidationError(REFUSALS[refused.code], code=refused.code) from None
    return url


def set_url(credential: ApiCredential, url: str) -> str | None:
    """Points the credential's webhook at `url` (checked by check_url). Returns the new
    secret when the credential had none (shown once), else None: the secret is kept."""
    secret = None
    credential.webhook_url = url
    fields = ["webhook_url"]
    if not credential.webhook_secret:
        secret = credential.webhook_secret = new_secret()
        fields.append("webhook_secret")
    credential.save(update_fields=fields)
    return secret


def clear(credential: ApiCredential) -> bool:
    """Removes the webhook and its secret; events not yet delivered are dropped. False
    when there was none."""
    if not credential.webhook_url and not credential.webhook_secret:
        return False
    credential.webhook_url, credential.webhook_secret = "", ""
    credential.save(update_fields=["webhook_url", "webhook_secret"])
    WebhookDelivery.objects.filter(credential=credential, state=State.PENDING).update(
        state=State.DISCARDED
    )
    return True


def rotate_secret(credential: ApiCredential) -> str:
    """A new secret (shown once); events not yet delivered are signed with it."""
    secret = credential.webhook_secret = new_secret()
    credential.save(update_fields=["webhook_secret"])
    return secret


# --- Events, queued with the transmission's new state --------------------------------


def on_transmissions_settled(sender, settled, **kwargs) -> None:
    """Receiver of transmission's `transmissions_settled`, inside its transaction."""
    events = [item for item in settled if item.state in EVENTS]
    if not events:
        return
    listening = ApiCredential.objects.filter(
        pharmacy_id__in={item.pharmacy_id for item in events},
        revoked_at__isnull=True,
    ).exclude(webhook_url="")
    by_pharmacy: dict = {}
    for credential in listening.only("id", "pharmacy_id", "service_user_id", "read_all"):
        by_pharmacy.setdefault(credential.pharmacy_id, []).append(credential)
    deliveries = [
        WebhookDelivery(
            credential=credential,
            event=EVENTS[item.state],
            test_id=item.test_id,
            transmission_state=item.state,
            occurred_at=item.occurred_at,
            next_attempt_at=item.occurred_at,  # due now, by the database's clock
        )
        for item in events
        for credential in by_pharmacy.get(item.pharmacy_id, [])
        # The events a credential hears are about the tests it may read.
        if credential.read_all or credential.service_user_id == item.recorded_by_id
    ]
    WebhookDelivery.objects.bulk_create(deliveries)


# --- Signing and delivery ---------------------------------------------------------------


def body(delivery: WebhookDelivery) -> bytes:
    occurred = delivery.occurred_at.astimezone(datetime.UTC)
    event = {
        "id": str(delivery.pk),
        "type": delivery.event,
        "occurred_at": occurred.isoformat().replace("+00:00", "Z"),
        "test": {
            "id": str(delivery.test_id),
            "transmission": {"state": delivery.transmission_state},
        },
    }
    return json.dumps(event, separators=(",", ":")).encode()


def signature(secret: str, timestamp: int, payload: bytes) -> str:
    """HMAC-SHA256 of "<timestamp>.<payload>" keyed with the secret's UTF-8 bytes, in hex."""
    signed = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def headers(delivery: WebhookDelivery, secret: str, payload: bytes, timestamp: int) -> dict:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: str(delivery.pk),
        SIGNATURE_HEADER: f"t={timestamp},v1={signature(secret, timestamp, payload)}",
    }


def deliver(delivery: WebhookDelivery, now: datetime.datetime) -> None:
    credential = delivery.credential
    if credential.is_revoked or not credential.webhook_url or not credential.pharmacy.is_active:
        queue.succeed(delivery, State.DISCARDED)
        return
    payload = body(delivery)
    timestamp = int(time.time())  # the receiver compares it with its own clock
    try:
        status = outbound.post(
            credential.webhook_url,
            payload,
            headers(delivery, credential.webhook_secret, payload, timestamp),
            timeout=TIMEOUT_SECONDS,
            allow_loopback=settings.WEBHOOK_ALLOW_LOOPBACK,
        )
    except outbound.Refused as refused:
        # The host resolves elsewhere than at registration: never connected to.
        log.warning("webhook delivery %s refused (%s)", delivery.pk, refused.code)
        queue.fail(webhook_queue(), delivery, now, Error.ADDRESS_REFUSED)
        return
    except (OSError, http.client.HTTPException) as error:
        # The class names the cause; never the address, which may carry a token.
        log.warning("webhook delivery %s failed (%s)", delivery.pk, type(error).__name__)
        queue.fail(webhook_queue(), delivery, now, failure_code(error))
        return
    except Exception as error:
        # Our bug: this event waits for the next attempt, the rest of the batch goes on.
        # The type only: an exception's text could quote the address.
        log.error("webhook delivery %s failed unexpectedly (%s)", delivery.pk,
                  type(error).__name__)  # fmt: skip
        queue.fail(webhook_queue(), delivery, now, Error.INTERNAL_ERROR)
        return
    if 200 <= status < 300:
        queue.succeed(delivery, State.DELIVERED)
        delivery.delivered_at = now
        return
    log.warning("webhook delivery %s answered HTTP %d", delivery.pk, status)
    queue.fail(webhook_queue(), delivery, now, Error.HTTP_STATUS, status)


def failure_code(error: Exception) -> str:
    if isinstance(error, ssl.SSLError | ssl.CertificateError):
        return Error.TLS
    if isinstance(error, TimeoutError):
        return Error.TIMEOUT
    return Error.UNREACHABLE


def deliver_due() -> int:
    """The worker's job: one batch of due events. Returns how many were handled."""
    token = queue.claim(webhook_queue(), BATCH_SIZE, database_now())
    if token is None:
        return 0
    deliveries = list(
        WebhookDelivery.objects.filter(claim_token=token).select_related("credential__pharmacy")
    )
    for delivery in deliveries:
        deliver(delivery, database_now())
    queue.record(webhook_queue(), token, deliveries, RECORDED_FIELDS)
    delivered = sum(delivery.state == State.DELIVERED for delivery in deliveries)
    log.info("webhooks: %d handled, %d delivered", len(deliveries), delivered)
    return len(deliveries)


def purge_done() -> int:
    """The worker's job: deletes events that left the queue more than KEEP_DAYS ago."""
    cutoff = database_now() - datetime.timedelta(days=KEEP_DAYS)
    deleted, _ = WebhookDelivery.objects.filter(
        state__in=(State.DELIVERED, State.DEAD, State.DISCARDED), created_at__lt=cutoff
    ).delete()
    return deleted
