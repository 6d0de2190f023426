"""Helpers shared by the onboarding, staff, suspension, reset and recovery tests."""

import re
from urllib.parse import urlsplit

from django.core.management import call_command
from django_otp.plugins.otp_totp.models import TOTPDevice

from relais import worker
from relais.directory import SAMPLES_DIR
from tests.support.factories import device_code

NEW_PASSWORD = "Une phrase de passe assez longue 7"
LINK_RE = re.compile(r"(https?://\S+\?t=[A-Za-z0-9_\-]+)")
RECOVERY_RE = re.compile(r"\b([a-z2-7]{5}-[a-z2-7]{5})\b")


def import_sample_directory():
    call_command("directory", "import-finess", str(SAMPLES_DIR / "etalab-finess-demo.csv"))
    call_command(
        "directory", "import-rpps", str(SAMPLES_DIR / "PS_LibreAcces_Personne_activite_demo.txt")
    )


def approve(admin_client, application):
    """Approves an application whose checks all passed, as an administrator does: the
    review page's button, then its confirmation page (a POST with `confirmed`)."""
    url = f"/platform/applications/{application.pk}/"
    page = admin_client.post(url, {"decision": "approve"})
    assert page.status_code == 200 and b'name="confirmed"' in page.content, page.content
    return admin_client.post(url, {"decision": "approve", "confirmed": "1"})


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


def activate(client, link: str, password: str = NEW_PASSWORD) -> list[str]:
    """Follows an activation link to the end; returns the recovery codes shown."""
    response = client.get(path_of(link))
    assert response.status_code == 302 and "?t=" not in response["Location"]
    page = client.get(response["Location"])
    assert page.status_code == 200 and b"<svg" in page.content
    # The address with the token gives no Referer; the token-free page only to Relais
    # (no-referrer there would make browsers post the form with Origin: null).
    assert response["Referrer-Policy"] == "no-referrer"
    assert page["Referrer-Policy"] == "same-origin"
    device = TOTPDevice.objects.filter(confirmed=False).order_by("-id").first()
    response = client.post(
        response["Location"],
        {"password1": password, "password2": password, "otp_token": device_code(device)},
    )
    assert response.status_code == 200, response.content
    codes = RECOVERY_RE.findall(response.content.decode())
    assert len(codes) == 10
    return codes


def login(client, email, password, code):
    return client.post(
        "/accounts/login/", {"email": email, "password": password, "otp_token": code}
    )
