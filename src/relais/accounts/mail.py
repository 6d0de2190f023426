"""E-mails of the onboarding: activation, invitation, password reset, decisions.

`enqueue` renders the e-mail and queues it in the caller's transaction (an approval
that rolls back sends nothing; a committed one is never lost, even if the process
stops); the worker's job `send_due` sends it through Django's e-mail backend, retrying
with backoff. Bodies carry a link and no personal data beyond the recipient's own address.
"""

import datetime
import logging

from django.core.mail import EmailMessage
from django.db.models.functions import Now
from django.template.loader import render_to_string

from relais.accounts.models import QueuedEmail
from relais.lib import queue
from relais.lib.clock import database_now

log = logging.getLogger(__name__)

State = QueuedEmail.State
BATCH_SIZE = 20
MAX_ATTEMPTS = 10  # about 9 hours of retries with the backoff below
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
LEASE = datetime.timedelta(minutes=5)
RECORDED_FIELDS = [
    "state", "sent_at", "next_attempt_at", "last_error", "last_error_status",
    "claimed_until", "claim_token",
]  # fmt: skip


def email_queue() -> queue.Queue:
    return queue.Queue(
        model=QueuedEmail,
        waiting=State.PENDING,
        claimed=State.SENDING,
        dead=State.DEAD,
        max_attempts=MAX_ATTEMPTS,
        lease=LEASE,
        backoff_base_seconds=BACKOFF_BASE_SECONDS,
        backoff_max_seconds=BACKOFF_MAX_SECONDS,
        erase_when_done=("recipient", "subject", "body"),
    )


def render(template: str, context: dict) -> tuple[str, str]:
    # In the language of the request that sends it (French unless the sender chose English).
    subject = render_to_string(f"accounts/email/{template}_subject.txt", context).strip()
    body = render_to_string(f"accounts/email/{template}.txt", context)
    return " ".join(subject.split()), body


def enqueue(to: str, template: str, context: dict) -> QueuedEmail:
    """Queues the e-mail; `to` "" queues the same work for nobody (see QueuedEmail)."""
    subject, body = render(template, context)
    # Due now by the database's clock, the one workers go by (not this host's).
    return QueuedEmail.objects.create(
        recipient=to, subject=subject, body=body, next_attempt_at=Now()
    )


def deliver(email: QueuedEmail, now: datetime.datetime) -> None:
    if not email.recipient:
        queue.succeed(email, State.DISCARDED)
        return
    message = EmailMessage(subject=email.subject, body=email.body, to=[email.recipient])
    try:
        message.send(fail_silently=False)
    except Exception as error:  # SMTP and socket errors; the class names the cause
        log.warning("e-mail %s not sent (%s)", email.pk, type(error).__name__)
        queue.fail(email_queue(), email, now, QueuedEmail.Error.MAIL_SERVER)
    else:
        queue.succeed(email, State.SENT)
        email.sent_at = now


def send_due() -> int:
    """The worker's job: one batch of due e-mails. Returns how many were handled."""
    # What is due, the lease and the retry times go by the database's clock.
    token = queue.claim(email_queue(), BATCH_SIZE, database_now())
    if token is None:
        return 0
    emails = list(QueuedEmail.objects.filter(claim_token=token))
    for email in emails:
        deliver(email, database_now())
    queue.record(email_queue(), token, emails, RECORDED_FIELDS)
    sent = sum(email.state == State.SENT for email in emails)
    log.info("account e-mails: %d handled, %d sent", len(emails), sent)  # no address
    return len(emails)
