"""Item 10 of issue 13, diagnostics: `relais check --deploy` and the operator's page warn
30 days before the SI-DEP client certificate expires and when host and database clocks
differ by more than relais.lib.clock.SKEW_LIMIT; dead letters e-mail the platform
administrators through the e-mail queue and the worker, once per new batch."""

import datetime
import re

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation

from relais.accounts.models import QueuedEmail
from relais.checks import check_clocks, sidep_certificate_expiry_rule
from relais.lib.clock import SKEW_LIMIT
from relais.transmission import outbox, pipeline
from relais.transmission.certs import make_certs
from relais.transmission.models import Transmission
from relais.transmission.worker import send_due
from relais.worker import run_round
from tests.support.factories import log_in, make_platform_admin, make_test
from tests.support.fictitious import PATIENT_DATA
from tests.support.servers import start_simulator

pytestmark = pytest.mark.django_db
State = Transmission.State
CLIENT_DAYS = 10


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture(scope="module")
def expiring_certs(tmp_path_factory):
    """A CA whose client certificate expires in CLIENT_DAYS days."""
    return make_certs(tmp_path_factory.mktemp("expiring-certs"), client_days=CLIENT_DAYS)


@pytest.fixture
def admin_client(client):
    admin = log_in(client, make_platform_admin())
    admin.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return admin


def operations_page(admin_client) -> str:
    return admin_client.get(reverse("transmission:operations")).content.decode()


def test_a_client_certificate_about_to_expire_still_works_and_is_warned_about(
    settings, expiring_certs, tmp_path, screening_test, admin_client
):
    simulator = start_simulator(expiring_certs, tmp_path / "sidep.sqlite3", tmp_path / "sidep.log",
                                ("--fast-validation",))  # fmt: skip
    try:
        settings.SIDEP_URL = simulator.url
        settings.SIDEP_CLIENT_CERT = str(expiring_certs.client_cert)
        settings.SIDEP_CLIENT_KEY = str(expiring_certs.client_key)
        settings.SIDEP_CA_FILE = str(expiring_certs.ca_cert)
        assert send_due() == 1
    finally:
        simulator.stop()
    assert screening_test.transmissions.get().state == State.ACKNOWLEDGED

    [warning] = sidep_certificate_expiry_rule(settings)
    assert warning.id == "relais.W110"
    assert "expires on" in warning.msg and "less than 30 days" in warning.msg
    assert "(in less than 30 days). Install the renewed certificate" in operations_page(
        admin_client
    )
    with time_machine.travel(timezone.now() + datetime.timedelta(days=CLIENT_DAYS + 1)):
        [error] = sidep_certificate_expiry_rule(settings)
        # (The page's own session would have expired by then: its figures instead.)
        certificate = pipeline.client_certificate(timezone.now())
    assert error.id == "relais.E110"
    assert certificate["expired"] and certificate["expires_soon"]


def test_a_certificate_far_from_its_end_or_unreadable_is_not_warned_about(
    settings, sidep_certs, tmp_path
):
    settings.SIDEP_CLIENT_CERT = str(sidep_certs.client_cert)  # 825 days
    assert sidep_certificate_expiry_rule(settings) == []
    (tmp_path / "not-a-certificate.crt").write_text("placeholder")
    settings.SIDEP_CLIENT_CERT = str(tmp_path / "not-a-certificate.crt")
    assert sidep_certificate_expiry_rule(settings) == []


def test_clock_skew_is_reported_by_the_check_and_the_operator_page(admin_client):
    assert check_clocks() == []
    assert "off the database" not in operations_page(admin_client)
    ahead = SKEW_LIMIT + datetime.timedelta(minutes=1)
    with time_machine.travel(timezone.now() + ahead, tick=True):
        [error] = check_clocks()
        page = operations_page(admin_client)
    assert error.id == "relais.E111"
    assert "purges refuse to run" in error.msg
    assert re.search(r"This server's clock is \d+ seconds off the database's", page)


def test_dead_letters_email_the_platform_administrators_once_per_new_batch(
    start_sidep, settings, smtp_server, patient, pharmacist
):
    """Through the worker's round (transmission, alert, e-mail jobs) to a real SMTP server."""
    start_sidep("--http-error", "503", "--fast-validation")  # SI-DEP down for good
    settings.TRANSMISSION_MAX_ATTEMPTS = 1
    admins = [make_platform_admin("ops1@relais.test"), make_platform_admin("ops2@relais.test")]
    first = [make_test(patient, pharmacist) for _ in range(3)]
    run_round()
    assert set(Transmission.objects.values_list("state", flat=True)) == {State.DEAD}
    received = smtp_server.wait_for(2)
    assert sorted(message["To"] for message in received) == [admin.email for admin in admins]
    subject = received[0]["Subject"]
    assert subject == "Relais: 3 transmissions to SI-DEP failed permanently"
    body = smtp_server.body(0)
    assert settings.BASE_URL + reverse("transmission:operations") in body
    for secret in (PATIENT_DATA["nir"], PATIENT_DATA["birth_name"], str(first[0].pk)):
        assert secret not in body

    run_round()  # nothing new: no second alert
    assert len(smtp_server.messages) == 2

    # A new dead letter, and one retried by the operator that dies again: one more alert.
    make_test(patient, pharmacist)
    assert outbox.retry_dead(first[0].transmissions.get())
    run_round()
    assert len(smtp_server.wait_for(4)) == 4
    assert smtp_server.messages[-1]["Subject"] == (
        "Relais: 2 transmissions to SI-DEP failed permanently"
    )
    assert QueuedEmail.objects.filter(state=QueuedEmail.State.SENT).count() == 4
