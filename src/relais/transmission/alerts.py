"""The alert an operator actually receives when transmissions are dead-lettered.

Dead letters need a human (the pharmacist's page says "the platform team has been
alerted"): the worker job below e-mails every active platform administrator through the
account e-mail queue (accounts.mail, sent by the worker with retries), once per new batch
of dead letters: the rows it announces are marked (`dead_letter_alerted_at`), so a row is
announced once, and again only if it dies again after an operator's retry. The e-mail
holds counts and a link to the operator's page, never a patient's data.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from relais.accounts import mail
from relais.accounts.models import User
from relais.lib import queue
from relais.transmission.models import Transmission

log = logging.getLogger(__name__)

TEMPLATE = "dead_letters"
# Rows marked per round: a larger backlog is announced by the same e-mail's total.
MARK_LIMIT = 1000


def platform_admin_addresses() -> list[str]:
    return list(
        User.objects.filter(is_staff=True, is_active=True)
        .exclude(email="")
        .order_by("email")
        .values_list("email", flat=True)
    )


def alert_new_dead_letters() -> int:
    """Worker job: one e-mail to each platform administrator if rows were dead-lettered
    since the last alert. Returns how many rows it announced."""
    with transaction.atomic():
        new = Transmission.objects.filter(
            state=Transmission.State.DEAD, dead_letter_alerted_at__isnull=True
        ).order_by("created_at")
        # Rows another worker is announcing right now are skipped (PostgreSQL).
        ids = queue.lock_free(new, MARK_LIMIT)
        if not ids:
            return 0
        Transmission.objects.filter(pk__in=ids).update(dead_letter_alerted_at=timezone.now())
        context = {
            "new_count": len(ids),
            "dead_count": Transmission.objects.filter(state=Transmission.State.DEAD).count(),
            "link": settings.BASE_URL + reverse("transmission:operations"),
        }
        recipients = platform_admin_addresses()
        for address in recipients:
            mail.enqueue(address, TEMPLATE, context)
    if recipients:
        log.warning("%d transmissions dead-lettered: %d platform administrators alerted",
                    len(ids), len(recipients))  # fmt: skip
    else:
        log.error("%d transmissions dead-lettered and no platform administrator to alert",
                  len(ids))  # fmt: skip
    return len(ids)
