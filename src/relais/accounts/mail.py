"""E-mails of the onboarding: activation, invitation, password reset, decisions.

Bodies carry a link and no personal data beyond the recipient's own address.
"""

import logging
import threading

from django.core.mail import EmailMessage
from django.template.loader import render_to_string

log = logging.getLogger(__name__)


def build(to: str, template: str, context: dict) -> EmailMessage:
    # In the language of the request that sends it (French unless the sender chose English).
    subject = render_to_string(f"accounts/email/{template}_subject.txt", context).strip()
    body = render_to_string(f"accounts/email/{template}.txt", context)
    return EmailMessage(subject=" ".join(subject.split()), body=body, to=[to])


def send(to: str, template: str, context: dict) -> None:
    build(to, template, context).send()


def send_in_background(message: EmailMessage) -> threading.Thread:
    """Used where the response time must not reveal whether a message was sent."""

    def deliver():
        try:
            message.send()
        except Exception:
            log.exception("sending an e-mail failed")  # no address in the log

    thread = threading.Thread(target=deliver, daemon=True)
    thread.start()
    return thread
