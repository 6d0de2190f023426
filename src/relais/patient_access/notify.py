"""The worker's job: send the due notifications, retrying with backoff.

Notifications are a relais.lib.queue queue: rows are claimed under a lease in a short
transaction (SKIP LOCKED on PostgreSQL), so several workers never send the same message
at once; the sending itself happens outside any transaction.
"""

import datetime
import logging

from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from relais.lib import queue
from relais.lib.clock import database_now
from relais.patient_access.channels import SendError, channel
from relais.patient_access.models import Notification, ResultLink

log = logging.getLogger(__name__)

BATCH_SIZE = 20
LEASE = datetime.timedelta(minutes=5)
MAX_BACKOFF = datetime.timedelta(hours=6)
State = Notification.State
Error = Notification.Error


def notification_queue() -> queue.Queue:
    return queue.Queue(
        model=Notification,
        waiting=State.PENDING,
        claimed=State.SENDING,
        dead=State.FAILED,
        max_attempts=settings.NOTIFY_MAX_ATTEMPTS,
        lease=LEASE,
        backoff_base_seconds=settings.NOTIFY_RETRY_SECONDS,
        backoff_max_seconds=MAX_BACKOFF.total_seconds(),
        # The token is kept only until the message is sent or given up on.
        erase_when_done=("token",),
    )


def first_name(given_names: str) -> str:
    parts = given_names.split()
    return parts[0] if parts else ""


def link_url(token: str, base: str | None = None) -> str:
    """The link's address (from RELAIS_BASE_URL unless `base` is given)."""
    start = settings.BASE_URL if base is None else base
    return start + reverse("patient_access:link", kwargs={"token": token})


def message_text(link: ResultLink, token: str) -> str:
    """What the patient reads: first name, pharmacy, link. No result, nothing medical;
    a corrected result says it was corrected (the earlier link then no longer opens)."""
    test = link.test
    values = {
        "first_name": first_name(test.patient.given_names),
        "pharmacy": test.pharmacy.name,
        "expiry": date_format(timezone.localtime(link.expires_at), "SHORT_DATE_FORMAT"),
        "url": link_url(token),
    }
    with translation.override(settings.LANGUAGE_CODE):
        if link.issued_for == ResultLink.Purpose.CORRECTION:
            return (
                _(
                    "Hello %(first_name)s, your result at %(pharmacy)s was corrected. Open the "
                    "corrected result with your date of birth before %(expiry)s: %(url)s"
                )
                % values
            )
        return (
            _(
                "Hello %(first_name)s, a result is ready for you at %(pharmacy)s. "
                "Open it with your date of birth before %(expiry)s: %(url)s"
            )
            % values
        )


def message_subject(link: ResultLink) -> str:
    """The e-mail's subject line (an SMS has none)."""
    with translation.override(settings.LANGUAGE_CODE):
        if link.issued_for == ResultLink.Purpose.CORRECTION:
            return _("Your corrected result is ready")
        return _("Your result is ready")


def claim_due(limit: int = BATCH_SIZE) -> list[Notification]:
    # What is due, the lease and the retry times go by the database's clock.
    token = queue.claim(notification_queue(), limit, database_now())
    if token is None:
        return []
    return list(
        Notification.objects.filter(claim_token=token).select_related(
            "link__test__patient", "link__test__pharmacy"
        )
    )


def address_for(notification: Notification) -> str:
    patient = notification.link.test.patient
    return patient.phone if notification.channel == Notification.Channel.SMS else patient.email


RECORDED_FIELDS = [
    "state", "sent_at", "next_attempt_at", "last_error", "last_error_status",
    "claimed_until", "claim_token",
]  # fmt: skip


def attempt(notification: Notification, now: datetime.datetime) -> None:
    """Sends the message; raises SendError when it did not leave."""
    if notification.link.closed_reason(now):
        raise SendError(Error.LINK_CLOSED)
    if not settings.BASE_URL:
        raise SendError(Error.NO_BASE_URL)
    address = address_for(notification)
    if not address:
        raise SendError(Error.NO_ADDRESS)
    text = message_text(notification.link, notification.token)
    channel(notification.channel).send(address, text, message_subject(notification.link))


def deliver(notification: Notification) -> None:
    now = database_now()
    token = notification.claim_token
    if token is None:
        raise ValueError("only a claimed notification is delivered")
    try:
        attempt(notification, now)
    except SendError as error:
        queue.fail(notification_queue(), notification, now, error.code, error.status)
        if notification.link.closed_reason(now):
            notification.state = State.FAILED  # a closed link's message is pointless
    else:
        queue.succeed(notification, State.SENT)
        notification.sent_at = now
    queue.record(notification_queue(), token, [notification], RECORDED_FIELDS)
    if notification.state != State.PENDING:
        notification.token = ""
    # Ids and states only: no address, no text.
    log.info(
        "notification %s via %s: %s (attempt %s)",
        notification.pk,
        notification.channel,
        notification.state,
        notification.attempts,
    )


def send_due_notifications() -> int:
    claimed = claim_due()
    for notification in claimed:
        deliver(notification)
    return len(claimed)
