"""Account e-mails go through the database queue: written in the caller's transaction,
encrypted at rest, sent by the worker to a real SMTP server, retried, dead-lettered,
erased once sent, and never lost to a restart."""

import datetime
import os
import sys
import threading

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from relais import worker
from relais.accounts import mail
from relais.accounts.models import QueuedEmail
from tests.accounts.onboarding_helpers import delivered, link_in, nothing_delivered
from tests.support.drain import RELAIS, Drain

pytestmark = pytest.mark.django_db

State = QueuedEmail.State
ADDED = {"pharmacy_name": "Pharmacie des Tests", "login_url": "https://relais.test/login/"}


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


def raw_columns(email: QueuedEmail) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT recipient, subject, body FROM accounts_queuedemail WHERE id = %s",
            [email.pk.hex if connection.vendor == "sqlite" else email.pk],
        )
        return cursor.fetchone()


def test_an_email_waits_for_the_worker_then_reaches_the_smtp_server(smtp_server):
    with transaction.atomic():
        email = mail.enqueue("owner@example.org", "added", ADDED)
    assert smtp_server.messages == []  # nothing leaves before the worker's round
    (message,) = delivered(smtp_server)
    assert message["To"] == "owner@example.org"
    assert message["Subject"] and "Pharmacie des Tests" in message.get_content()
    assert "https://relais.test/login/" in message.get_content()
    email.refresh_from_db()
    assert (email.state, email.attempts, email.last_error) == (State.SENT, 1, "")
    assert email.sent_at is not None
    assert raw_columns(email) == (None, None, None)  # erased once sent
    worker.run_round()
    assert len(smtp_server.messages) == 1  # sent once


def test_recipient_and_text_are_encrypted_at_rest(settings):
    settings.BASE_URL = "https://relais.test"
    email = mail.enqueue("owner@example.org", "reset", {"link": "https://relais.test/r?t=SECRET",
                                                        "minutes": 30})  # fmt: skip
    stored = b"".join(bytes(column) for column in raw_columns(email))
    for plain in (b"owner@example.org", b"SECRET", b"relais.test"):
        assert plain not in stored
    assert "SECRET" in QueuedEmail.objects.get().body  # readable through the keyset


def test_a_rolled_back_change_queues_nothing(smtp_server):
    with pytest.raises(RuntimeError), transaction.atomic():
        mail.enqueue("owner@example.org", "added", ADDED)
        raise RuntimeError("the change failed")
    assert not QueuedEmail.objects.exists()
    assert nothing_delivered(smtp_server)


def test_a_mail_server_that_is_down_is_retried_then_dead_lettered(settings, monkeypatch):
    from tests.support.ports import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = (
        "127.0.0.1",
        free_port(),
        False,
    )
    monkeypatch.setattr(mail, "MAX_ATTEMPTS", 2)
    email = mail.enqueue("owner@example.org", "added", ADDED)
    before = timezone.now()
    assert mail.send_due() == 1
    email.refresh_from_db()
    assert (email.state, email.attempts) == (State.PENDING, 1)
    assert email.last_error == QueuedEmail.Error.MAIL_SERVER
    ceiling = datetime.timedelta(seconds=mail.BACKOFF_BASE_SECONDS)
    assert before <= email.next_attempt_at <= timezone.now() + ceiling
    assert mail.send_due() in (0, 1)  # due again only after its backoff (which may be ~0)
    QueuedEmail.objects.update(next_attempt_at=timezone.now())
    mail.send_due()
    email.refresh_from_db()
    assert (email.state, email.attempts) == (State.DEAD, 2)
    assert raw_columns(email) == (None, None, None)  # its reset or activation link too


def test_a_row_without_recipient_is_discarded_unsent(smtp_server):
    email = mail.enqueue("", "added", ADDED)
    assert nothing_delivered(smtp_server)
    email.refresh_from_db()
    assert email.state == State.DISCARDED
    assert raw_columns(email) == (None, None, None)


def test_the_reset_request_starts_no_thread_and_only_writes_a_row(smtp_server, pharmacy):
    """Before the queue, the reset e-mail left from a daemon thread that a restart lost.
    Now the request only writes a row, which the worker sends."""
    from tests.accounts.test_password_reset import ask_reset
    from tests.support.factories import make_member

    member = make_member(pharmacy, "member@example.org")
    threads = set(threading.enumerate())
    ask_reset(Client(), member.email)
    assert set(threading.enumerate()) <= threads
    assert QueuedEmail.objects.get().state == State.PENDING
    (message,) = delivered(smtp_server)
    assert message["To"] == member.email and "password-reset" in link_in(message)


class MailDrain(Drain):
    """A throwaway installation whose e-mail goes to the test's SMTP server."""

    def __init__(self, workdir, smtp_port: int):
        super().__init__(workdir, postgres_url=os.environ.get("RELAIS_TEST_DATABASE_URL", ""))
        self.smtp_port = smtp_port

    def env(self) -> dict[str, str]:
        return {
            **super().env(),
            "RELAIS_EMAIL_BACKEND": "smtp",
            "RELAIS_EMAIL_HOST": "127.0.0.1",
            "RELAIS_EMAIL_PORT": str(self.smtp_port),
            "RELAIS_EMAIL_USE_TLS": "0",
        }


ENQUEUE = (
    "from relais.accounts import mail; "
    "mail.enqueue('owner@example.org', 'added', "
    "{'pharmacy_name': 'Pharmacie des Tests', 'login_url': 'https://relais.test/login/'})"
)


def test_an_email_queued_by_one_process_is_sent_by_a_later_one(tmp_path, smtp_server, settings):
    """Two real processes: the first queues an e-mail and exits; the second, a fresh
    `relais worker --once`, sends it."""
    install = MailDrain(tmp_path / "install", settings.EMAIL_PORT)
    install.create_database()
    try:
        install.run(RELAIS, "migrate", "--verbosity", "0")
        install.run(sys.executable, "-m", "relais", "shell", "-c", ENQUEUE)
        assert smtp_server.messages == []
        install.run(RELAIS, "worker", "--once")
        (message,) = smtp_server.wait_for(1)
        assert message["To"] == "owner@example.org"
        assert "https://relais.test/login/" in message.get_content()
    finally:
        install.drop_database()
