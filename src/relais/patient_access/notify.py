"""The worker's job: send the due notifications, retrying with backoff.

Rows are claimed in a short transaction (SKIP LOCKED where the database has it) and
leased by pushing their next attempt forward, so several workers never send the same
message twice at once; the sending itself happens outside any transaction.
"""

import datetime
import logging
import random

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from relais.patient_access.channels import SendError, channel
from relais.patient_access.models import Notification, ResultLink

log = logging.getLogger(__name__)

BATCH_SIZE = 20
LEASE = datetime.timedelta(minutes=5)
MAX_BACKOFF = datetime.timedelta(hours=6)


def first_name(given_names: str) -> str:
    parts = given_names.split()
    return parts[0] if parts else ""


def link_url(token: str) -> str:
    return settings.BASE_URL + reverse("patient_access:link", kwargs={"token": token})


def message_text(link: ResultLink, token: str) -> str:
    """What the patient reads: first name, pharmacy, link. No result, nothing medical."""
    test = link.test
    with translation.override(settings.LANGUAGE_CODE):
        return _(
            "Hello %(first_name)s, a result is ready for you at %(pharmacy)s. "
            "Open it with your date of birth before %(expiry)s: %(url)s"
        ) % {
            "first_name": first_name(test.patient.given_names),
            "pharmacy": test.pharmacy.name,
            "expiry": date_format(timezone.localtime(link.expires_at), "SHORT_DATE_FORMAT"),
            "url": link_url(token),
        }


def backoff(attempts: int) -> datetime.timedelta:
    delay = datetime.timedelta(seconds=settings.NOTIFY_RETRY_SECONDS * 2 ** max(attempts - 1, 0))
    return min(delay, MAX_BACKOFF) * random.uniform(0.9, 1.1)


def claim_due(limit: int = BATCH_SIZE) -> list[Notification]:
    now = timezone.now()
    with transaction.atomic():
        due = Notification.objects.filter(
            state=Notification.State.PENDING, next_attempt_at__lte=now
        ).order_by("next_attempt_at")
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("pk", flat=True)[:limit])
        Notification.objects.filter(pk__in=ids).update(
            next_attempt_at=now + LEASE, attempts=F("attempts") + 1
        )
    return list(
        Notification.objects.filter(pk__in=ids).select_related(
            "link__test__patient", "link__test__pharmacy"
        )
    )


def address_for(notification: Notification) -> str:
    patient = notification.link.test.patient
    return patient.phone if notification.channel == Notification.Channel.SMS else patient.email


def deliver(notification: Notification) -> None:
    now = timezone.now()
    try:
        if notification.link.closed_reason(now):
            raise SendError("the link was replaced or has closed")
        if not settings.BASE_URL:
            raise SendError("RELAIS_BASE_URL is not set")
        address = address_for(notification)
        if not address:
            raise SendError(f"no {notification.channel} address on the patient record")
        text = message_text(notification.link, notification.token)
        channel(notification.channel).send(address, text)
    except SendError as error:
        notification.last_error = str(error)[:200]
        final = notification.attempts >= settings.NOTIFY_MAX_ATTEMPTS or (
            notification.link.closed_reason(now) != ""
        )
        if final:
            notification.state = Notification.State.FAILED
            notification.token = ""
        else:
            notification.next_attempt_at = now + backoff(notification.attempts)
    else:
        notification.state = Notification.State.SENT
        notification.sent_at = now
        notification.last_error = ""
        notification.token = ""
    notification.save()
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
