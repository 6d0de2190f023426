"""Ways to tell a patient their result is ready. Each one is `send(to, text, subject)`
(the subject is the e-mail's; an SMS has none), which returns when the provider
accepted the message and raises SendError otherwise.

Errors carry a code of Notification.Error (and an HTTP status), never the address or
the text.
"""

import datetime
import os
from typing import Protocol

import httpx
from django.conf import settings
from django.core.mail import EmailMessage
from django.utils.translation import gettext as _

from relais.patient_access.models import Notification

Error = Notification.Error


class SendError(Exception):
    """The provider did not take the message: `code` (a Notification.Error) says why."""

    def __init__(self, code: str, status: int | None = None):
        super().__init__(code)
        self.code, self.status = code, status


class Channel(Protocol):
    def send(self, to: str, text: str, subject: str = "") -> None: ...


class EmailChannel:
    def send(self, to: str, text: str, subject: str = "") -> None:
        message = EmailMessage(subject=subject or _("Your result is ready"), body=text, to=[to])
        try:
            message.send(fail_silently=False)
        except Exception:  # SMTP and socket errors
            raise SendError(Error.EMAIL_FAILED) from None


class HttpSmsChannel:
    """An SMS provider's HTTP API: POST {"to", "text"} as JSON with a bearer token."""

    def __init__(self, url: str, token: str, timeout: float):
        self.url, self.token, self.timeout = url, token, timeout

    def send(self, to: str, text: str, subject: str = "") -> None:
        if not self.url:
            raise SendError(Error.SMS_NOT_CONFIGURED)
        try:
            response = httpx.post(
                self.url,
                json={"to": to, "text": text},
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=self.timeout,
            )
        except httpx.HTTPError:
            raise SendError(Error.SMS_UNREACHABLE) from None
        if not response.is_success:
            raise SendError(Error.SMS_REFUSED, response.status_code)


class FileSmsChannel:
    """The demo's phone: each message is appended to a file readable by its owner only."""

    def __init__(self, path):
        self.path = path

    def send(self, to: str, text: str, subject: str = "") -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        line = f"{datetime.datetime.now(datetime.UTC).isoformat()} to={to} {text}\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as outbox:
            outbox.write(line)


def channel(name: str) -> Channel:
    if name == "email":
        return EmailChannel()
    if settings.SMS_BACKEND == "file":
        return FileSmsChannel(settings.SMS_OUTBOX_FILE)
    return HttpSmsChannel(settings.SMS_URL, settings.SMS_TOKEN, settings.SMS_TIMEOUT_SECONDS)
