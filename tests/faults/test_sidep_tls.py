"""Item 10 of issue 13, TLS: a failed handshake with SI-DEP (its certificate from an unknown
CA, our client certificate refused) is recorded with its own code and shown as "TLS
handshake with SI-DEP failed: <reason>", apart from an outage, on the pharmacist's and the
operator's pages and in the log (no personal data). Each test runs the real simulator
process with the TLS fault, then without it on the same port: the waiting result goes
through without a human. (The client certificate about to expire: test_diagnostics.py.)"""

import logging

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape

from relais.transmission.hl7 import order_id
from relais.transmission.models import Transmission
from relais.transmission.services import describe
from relais.transmission.worker import send_due
from tests.support.factories import log_in, make_platform_admin
from tests.support.fictitious import PATIENT_DATA

pytestmark = pytest.mark.django_db
State = Transmission.State
Error = Transmission.Error
OUTAGE = "SI-DEP could not be reached"


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def fault_args(fault: str, foreign_certs) -> tuple[str, ...]:
    if fault == "server certificate from an unknown CA":
        # The simulator presents another CA's certificate (the last --cert/--key win).
        return ("--cert", str(foreign_certs.server_cert), "--key", str(foreign_certs.server_key))
    return ("--tls-fault", "refuse-client-certificate")


@pytest.mark.parametrize(
    "fault, code, reason",
    [
        (
            "server certificate from an unknown CA",
            Error.TLS_SERVER_UNTRUSTED,
            "TLS handshake with SI-DEP failed: SI-DEP's certificate is not trusted",
        ),
        (
            "client certificate refused",
            Error.TLS_CLIENT_REFUSED,
            "TLS handshake with SI-DEP failed: SI-DEP refused our client certificate",
        ),
    ],
)
def test_a_failed_handshake_is_named_apart_from_an_outage_then_recovered(
    start_sidep, foreign_certs, pharmacist_client, client, screening_test, caplog, fault, code,
    reason,
):  # fmt: skip
    faulty = start_sidep(*fault_args(fault, foreign_certs), "--fast-validation")
    with caplog.at_level(logging.INFO):
        assert send_due() == 1
    row = screening_test.transmissions.get()
    assert (row.state, row.last_error, row.last_error_status) == (State.PENDING, code, None)
    assert faulty.counts()["received"] == 0

    assert describe(screening_test)["reason"] == reason
    shown = escape(reason)
    pharmacist_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    day = pharmacist_client.get(reverse("screening:day")).content.decode()
    assert shown in day and OUTAGE not in day

    admin = log_in(client, make_platform_admin())
    admin.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    operations = admin.get(reverse("transmission:operations")).content.decode()
    assert f"{shown} — 1 message held back." in operations

    logged = [r.getMessage() for r in caplog.records if r.name == "relais.transmission.worker"]
    assert any(f"failed: TLS handshake with SI-DEP failed: {code} (" in m for m in logged)
    for secret in (PATIENT_DATA["nir"], PATIENT_DATA["birth_name"], PATIENT_DATA["email"]):
        assert secret not in caplog.text

    # The certificate is fixed (the simulator runs without the fault): no human resends.
    port = faulty.port
    faulty.stop()
    fixed = start_sidep("--fast-validation", port=port)
    Transmission.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    assert send_due() == 1
    row.refresh_from_db()
    assert (row.state, row.last_error) == (State.ACKNOWLEDGED, "")
    assert fixed.statuses_by_order() == {order_id(screening_test): ["F"]}
