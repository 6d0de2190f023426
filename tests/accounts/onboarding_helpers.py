"""Helpers shared by the onboarding, staff, suspension, reset and recovery tests."""

import re
import time
from urllib.parse import urlsplit

from django.core.management import call_command
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from relais import worker
from relais.accounts.models import User
from relais.directory import SAMPLES_DIR
from tests.conftest import PASSWORD

NEW_PASSWORD = "Une phrase de passe assez longue 7"
LINK_RE = re.compile(r"(https?://\S+\?t=[A-Za-z0-9_\-]+)")
RECOVERY_RE = re.compile(r"\b([a-z2-7]{5}-[a-z2-7]{5})\b")


def import_sample_directory():
    call_command("directory", "import-finess", str(SAMPLES_DIR / "etalab-finess-demo.csv"))
    call_command(
        "directory", "import-rpps", str(SAMPLES_DIR / "PS_LibreAcces_Personne_activite_demo.txt")
    )


def make_platform_admin(email="admin@relais.test"):
    user = User.objects.create_user(email, PASSWORD, full_name="Admin", is_staff=True)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user


def log_in_admin(client, user):
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    session.save()
    return client


def delivered(smtp_server, count: int = 1) -> list:
    """The first `count` e-mails the SMTP server received, once a worker round has sent
    the queued ones (account e-mails leave through the worker)."""
    worker.run_round()
    return smtp_server.wait_for(count)


def nothing_delivered(smtp_server) -> bool:
    worker.run_round()
    return smtp_server.messages == []


def link_in(message) -> str:
    match = LINK_RE.search(message.get_content())
    assert match, "no link in the e-mail"
    return match.group(1)


def path_of(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def next_totp_code(device) -> str:
    """The code of the next 30-second step: accepted (tolerance 1) even when the current
    step's code was just used, which django-otp refuses to accept twice."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + device.step
    return f"{totp.token():0{device.digits}d}"


def current_totp_code(device) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def activate(client, link: str, password: str = NEW_PASSWORD) -> list[str]:
    """Follows an activation link to the end; returns the recovery codes shown."""
    response = client.get(path_of(link))
    assert response.status_code == 302 and "?t=" not in response["Location"]
    page = client.get(response["Location"])
    assert page.status_code == 200 and b"<svg" in page.content
    device = TOTPDevice.objects.filter(confirmed=False).order_by("-id").first()
    response = client.post(
        response["Location"],
        {"password1": password, "password2": password, "otp_token": current_totp_code(device)},
    )
    assert response.status_code == 200, response.content
    codes = RECOVERY_RE.findall(response.content.decode())
    assert len(codes) == 10
    return codes


def login(client, email, password, code):
    return client.post(
        "/accounts/login/", {"email": email, "password": password, "otp_token": code}
    )
