import datetime
import email
import email.policy
import socket
import threading
import time

import pytest
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from relais.accounts.models import Membership, Pharmacy, User
from relais.screening import services

PASSWORD = "correct horse battery staple 42"


def pytest_addoption(parser):
    parser.addoption(
        "--screenshots",
        action="store_true",
        help="browser tests save each page's screenshot under var/screenshots/",
    )


def make_pharmacy(name="Pharmacie Test", finess="750000001", status=Pharmacy.Status.ACTIVE):
    return Pharmacy.objects.create(
        name=name, finess=finess, address="1 rue de Test, 75001 Paris", status=status
    )


def make_member(pharmacy, email, role=Membership.Role.PHARMACIST):
    user = User.objects.create_user(email, PASSWORD, full_name=email.split("@")[0])
    Membership.objects.create(user=user, pharmacy=pharmacy, role=role)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user


def totp_code(user) -> str:
    device = TOTPDevice.objects.get(user=user)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():06d}"


def log_in(client, user):
    """A verified session (password and TOTP already checked) for `user`."""
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    session["pharmacy_id"] = str(user.memberships.get().pharmacy_id)
    session.save()
    return client


PATIENT_DATA = {
    "birth_name": "Lefèvre",
    "used_name": "Martin",
    "given_names": "Élodie Anne",
    "birth_date": datetime.date(1985, 3, 14),
    "sex": "F",
    "birthplace_code": "75056",
    "nir": "285037505612306",
    "address": "12 rue des Lilas",
    "postal_code": "75011",
    "city": "Paris",
    "phone": "+33612345678",
    "email": "elodie.lefevre@example.org",
}


def make_patient(pharmacy, user, **overrides):
    return services.create_patient(pharmacy, user, {**PATIENT_DATA, **overrides})


def make_test(patient, user, **overrides):
    data = {
        "kind": "sars_cov_2_antigen",
        "device": "Demo AG Rapid",
        "specimen": "nasal_swab",
        "sampled_at": timezone.now() - datetime.timedelta(minutes=20),
        "result": "negative",
        "symptoms": False,
        "symptom_onset": None,
        "consent_transmission": True,
        **overrides,
    }
    return services.record_tests(user, [(patient, data)])[0]


@pytest.fixture
def pharmacy(db):
    return make_pharmacy()


@pytest.fixture
def other_pharmacy(db):
    return make_pharmacy("Autre Pharmacie", "750000002")


@pytest.fixture
def pharmacist(pharmacy):
    return make_member(pharmacy, "pharmacist@example.org")


@pytest.fixture
def other_pharmacist(other_pharmacy):
    return make_member(other_pharmacy, "other@example.org")


@pytest.fixture
def pharmacist_client(client, pharmacist):
    return log_in(client, pharmacist)


@pytest.fixture
def patient(pharmacy, pharmacist):
    return make_patient(pharmacy, pharmacist)


@pytest.fixture
def screening_test(patient, pharmacist):
    return make_test(patient, pharmacist)


# --- A real SMTP server (aiosmtpd) for tests that send e-mail --------------------------------


class SmtpInbox:
    """Messages received by the test SMTP server, parsed."""

    def __init__(self):
        self.messages = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 5.0):
        """The first `count` messages, waiting for slow senders (background threads)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.messages) >= count, f"expected {count} e-mails, got {len(self.messages)}"
        return self.messages[:count]

    def body(self, index: int = -1) -> str:
        return self.messages[index].get_content()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    """Starts a real SMTP server on a free port and points Django's e-mail at it.
    `smtp_server.messages` holds what it received; `wait_for(n)` waits for n messages."""
    from aiosmtpd.controller import Controller

    inbox = SmtpInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS, settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = False, "", ""
    yield inbox
    controller.stop()
