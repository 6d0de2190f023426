"""Signed webhooks to a credential's software: queued with the transmission's outcome,
delivered by the worker to a real receiver on loopback, retried, dead-lettered, and never
sent to a private address."""

import datetime
import json
import logging
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from relais.accounts.models import Membership
from relais.api import webhooks
from relais.api.credentials import create_credential
from relais.api.models import ApiCredential, WebhookDelivery
from relais.audit.models import AuditEvent
from relais.screening.models import Patient
from relais.transmission.models import Transmission
from relais.transmission.services import Settled, transmissions_settled
from relais.transmission.worker import send_due
from relais.worker import run_round
from tests.support.factories import log_in, make_member, make_patient, make_test
from tests.support.fictitious import PATIENT_DATA
from tests.support.webhooks import Receiver, documented_verify

pytestmark = pytest.mark.django_db
State = WebhookDelivery.State
LIST = "/api-credentials/"


@pytest.fixture
def loopback(settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    return settings


@pytest.fixture
def receiver():
    with Receiver() as started:
        yield started


@pytest.fixture
def hooked(loopback, credential, receiver):
    """`credential` with its webhook pointed at `receiver`; returns its secret."""
    return webhooks.set_url(credential, webhooks.check_url(receiver.url))


def settle(test, state="acknowledged"):
    """What the transmission worker announces when it records a final state."""
    transmissions_settled.send(
        sender=Transmission,
        settled=[Settled(test.pk, test.pharmacy_id, test.recorded_by_id, state, timezone.now())],
    )


def make_due():
    WebhookDelivery.objects.update(next_attempt_at=timezone.now() - datetime.timedelta(seconds=1))


def test_an_acknowledgement_reaches_the_software_signed(sidep, hooked, screening_test, receiver):
    assert send_due() == 1
    # Queued by the transaction that recorded the acknowledgement, before any delivery.
    [delivery] = WebhookDelivery.objects.all()
    assert (delivery.state, delivery.test_id) == (State.PENDING, screening_test.pk)
    run_round()  # the real worker round: the webhooks job runs
    [request] = receiver.requests
    body = request["body"]
    event = json.loads(body)
    assert event["type"] == "test.acknowledged"
    assert event["id"] == request["headers"]["Relais-Event-Id"] == str(delivery.pk)
    assert event["test"] == {
        "id": str(screening_test.pk),
        "transmission": {"state": "acknowledged"},
    }
    assert event["occurred_at"].endswith("Z")
    for personal in (PATIENT_DATA["birth_name"], PATIENT_DATA["nir"], PATIENT_DATA["given_names"]):
        assert personal.encode() not in body
    verify = documented_verify()
    signature = request["headers"]["Relais-Signature"]
    assert verify(hooked, body, signature)
    assert not verify(hooked, body + b" ", signature)
    assert not verify(webhooks.new_secret(), body, signature)
    timestamp = int(signature.split(",")[0].removeprefix("t="))
    assert not verify(hooked, body, signature, now=timestamp + 301)  # replay window
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (State.DELIVERED, 1)
    assert run_round() == 0 and len(receiver.requests) == 1  # delivered once


def test_a_rejection_is_announced(start_sidep, hooked, screening_test, receiver):
    Patient.objects.filter(pk=screening_test.patient_id).update(identity_status="QUAL")
    start_sidep("--reject-nir", PATIENT_DATA["nir"])
    send_due()
    assert screening_test.transmissions.get().state == Transmission.State.REJECTED
    webhooks.deliver_due()
    [request] = receiver.requests
    event = json.loads(request["body"])
    assert (event["type"], event["test"]["transmission"]["state"]) == ("test.rejected", "rejected")


def test_a_dead_letter_is_announced_as_a_rejection(
    unreachable_sidep, hooked, screening_test, receiver
):
    unreachable_sidep.TRANSMISSION_MAX_ATTEMPTS = 1
    send_due()
    assert screening_test.transmissions.get().state == Transmission.State.DEAD
    webhooks.deliver_due()
    event = json.loads(receiver.requests[0]["body"])
    assert (event["type"], event["test"]["transmission"]["state"]) == ("test.rejected", "dead")


def test_a_message_whose_worker_died_on_its_last_attempt_is_announced(
    unreachable_sidep, hooked, screening_test
):
    unreachable_sidep.TRANSMISSION_MAX_ATTEMPTS = 1
    screening_test.transmissions.update(
        state=Transmission.State.IN_FLIGHT,
        attempts=1,
        claim_token=uuid.uuid4(),
        claimed_until=timezone.now() - datetime.timedelta(minutes=1),
    )
    assert send_due() == 0  # the claim dead-letters it; nothing is sent
    row = screening_test.transmissions.get()
    assert (row.state, row.last_error) == (Transmission.State.DEAD, "lease_lost")
    [delivery] = WebhookDelivery.objects.all()
    assert (delivery.event, delivery.transmission_state) == ("test.rejected", "dead")


def test_a_waiting_message_announces_nothing(unreachable_sidep, hooked, screening_test):
    send_due()  # failed, retried later: not final
    assert screening_test.transmissions.get().state == Transmission.State.PENDING
    assert not WebhookDelivery.objects.exists()


def test_a_server_error_is_retried_then_delivered_once(loopback, credential, screening_test):
    with Receiver(statuses=[500, 200]) as receiver:
        webhooks.set_url(credential, receiver.url)
        settle(screening_test)
        assert webhooks.deliver_due() == 1
        delivery = WebhookDelivery.objects.get()
        assert (delivery.state, delivery.attempts) == (State.PENDING, 1)
        assert (delivery.last_error, delivery.last_error_status) == ("http_status", 500)
        assert delivery.next_attempt_at > delivery.created_at
        assert webhooks.deliver_due() == 0  # not due yet: backoff
        make_due()
        assert webhooks.deliver_due() == 1
        make_due()
        assert webhooks.deliver_due() == 0
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_error) == (State.DELIVERED, 2, "")
    assert len(receiver.requests) == 2
    assert len({request["headers"]["Relais-Event-Id"] for request in receiver.requests}) == 1


def test_given_up_after_the_last_attempt(loopback, credential, screening_test):
    loopback.WEBHOOK_MAX_ATTEMPTS = 3
    with Receiver(statuses=[503]) as receiver:
        webhooks.set_url(credential, receiver.url)
        settle(screening_test, "dead")
        for _ in range(4):
            webhooks.deliver_due()
            make_due()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_error_status) == (State.DEAD, 3, 503)
    assert len(receiver.requests) == 3


def test_a_redirect_is_not_followed(loopback, credential, screening_test):
    with Receiver() as elsewhere, Receiver([302], location=elsewhere.url) as receiver:
        webhooks.set_url(credential, receiver.url)
        settle(screening_test)
        webhooks.deliver_due()
    assert len(receiver.requests) == 1 and elsewhere.requests == []
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.last_error_status) == (State.PENDING, 302)


def test_over_https_the_certificate_is_checked_for_the_name(
    loopback, credential, screening_test, sidep_certs, foreign_certs, monkeypatch
):
    """The connection goes to the address checked, with SNI and the certificate check for
    the name (localhost: its certificate names it, and 127.0.0.1 may come second)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(sidep_certs.ca_cert))  # the CA we trust here
    with Receiver(tls=(sidep_certs.server_cert, sidep_certs.server_key), host="localhost") as good:
        webhooks.set_url(credential, good.url)
        settle(screening_test)
        webhooks.deliver_due()
    assert len(good.requests) == 1
    assert good.requests[0]["headers"]["Host"] == f"localhost:{good.port}"
    assert WebhookDelivery.objects.get().state == State.DELIVERED
    # A certificate from a CA we do not trust: no delivery.
    with Receiver(tls=(foreign_certs.server_cert, foreign_certs.server_key)) as impostor:
        ApiCredential.objects.filter(pk=credential.pk).update(webhook_url=impostor.url)
        settle(screening_test)
        webhooks.deliver_due()
    assert impostor.requests == []
    assert WebhookDelivery.objects.get(state=State.PENDING).last_error == "tls"


PRIVATE = [
    "https://10.0.0.1/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://192.168.1.10/hook",
    "https://[fd00::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",
    "https://localhost/hook",  # a name that resolves to 127.0.0.1
    "https://127.0.0.1/hook",
]


@pytest.mark.parametrize("url", PRIVATE)
def test_a_private_address_is_refused_at_registration(url):
    with pytest.raises(ValidationError) as refused:
        webhooks.check_url(url)
    assert refused.value.code == "forbidden_address"


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://93.184.216.34/hook", "not_https"),
        ("http://127.0.0.1:8080/hook", "not_https"),
        ("ftp://example.org/", "malformed"),
        ("https://user:pw@example.org/", "malformed"),
        ("https://no-such-host.invalid/", "unresolved"),
        ("https://exämple.org/", "malformed"),  # the xn-- form is the one accepted
        ("https://example.org/a b", "malformed"),
    ],
)
def test_an_address_that_is_not_public_https_is_refused(url, code):
    with pytest.raises(ValidationError) as refused:
        webhooks.check_url(url)
    assert refused.value.code == code


def test_loopback_is_admitted_only_with_the_setting(loopback):
    assert webhooks.check_url(" http://127.0.0.1:9/x ") == "http://127.0.0.1:9/x"
    with pytest.raises(ValidationError):
        webhooks.check_url("http://10.0.0.1/x")  # still: only loopback, never private


def test_a_private_address_is_refused_at_delivery(loopback, credential, screening_test, receiver):
    # A name that resolves to 127.0.0.1 (and ::1).
    webhooks.set_url(credential, webhooks.check_url(receiver.url.replace("127.0.0.1", "localhost")))
    settle(screening_test)
    loopback.WEBHOOK_ALLOW_LOOPBACK = False  # as in production: loopback is refused
    webhooks.deliver_due()
    # An address that was public when saved and resolves privately now (stored as is).
    ApiCredential.objects.filter(pk=credential.pk).update(
        webhook_url="https://169.254.169.254/latest/meta-data/"
    )
    make_due()
    webhooks.deliver_due()
    assert receiver.requests == []
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_error) == (
        State.PENDING, 2, "address_refused",
    )  # fmt: skip


def test_events_reach_only_the_credentials_that_may_read_the_test(
    loopback, pharmacy, credential, other_pharmacy, other_pharmacist, screening_test
):
    reader, _ = create_credential(pharmacy, "Reads all", read_all=True)
    bystander, _ = create_credential(pharmacy, "Own tests only")
    stranger, _ = create_credential(other_pharmacy, "Other pharmacy", read_all=True)
    other_test = make_test(make_patient(other_pharmacy, other_pharmacist), stranger.service_user)
    with Receiver() as ours, Receiver() as readers, Receiver() as bystanders, Receiver() as theirs:
        for holder, target in [(credential, ours), (reader, readers), (bystander, bystanders),
                               (stranger, theirs)]:  # fmt: skip
            webhooks.set_url(holder, target.url)
        settle(screening_test)
        settle(other_test)
        while webhooks.deliver_due():
            pass

    def tests_heard(target):
        return [json.loads(request["body"])["test"]["id"] for request in target.requests]

    assert tests_heard(ours) == tests_heard(readers) == [str(screening_test.pk)]
    assert tests_heard(bystanders) == []
    assert tests_heard(theirs) == [str(other_test.pk)]


def test_a_revoked_credential_hears_nothing_more(loopback, credential, screening_test, receiver):
    webhooks.set_url(credential, receiver.url)
    settle(screening_test)
    ApiCredential.objects.filter(pk=credential.pk).update(revoked_at=timezone.now())
    webhooks.deliver_due()
    settle(screening_test)  # after the revocation: not even queued
    assert receiver.requests == []
    assert [d.state for d in WebhookDelivery.objects.all()] == [State.DISCARDED]


def test_the_secret_and_the_address_are_never_logged(loopback, credential, screening_test, caplog):
    caplog.set_level(logging.DEBUG)
    with Receiver(statuses=[500, 200]) as receiver:
        secret = webhooks.set_url(credential, receiver.url)
        settle(screening_test)
        webhooks.deliver_due()
        make_due()
        webhooks.deliver_due()
        rotated = webhooks.rotate_secret(credential)
    assert secret and rotated and caplog.records  # the failure was logged
    for record in caplog.records:
        text = record.getMessage()
        assert secret not in text and rotated not in text and receiver.url not in text


# --- The owner's page ---------------------------------------------------------------------


@pytest.fixture
def owner_client(client, pharmacy):
    return log_in(client, make_member(pharmacy, "owner@example.org", Membership.Role.OWNER))


def raw_secret(credential) -> bytes:
    with connection.cursor() as cursor:
        key = ApiCredential._meta.pk.get_db_prep_value(credential.pk, connection)
        cursor.execute("SELECT webhook_secret FROM api_apicredential WHERE id = %s", [key])
        return bytes(cursor.fetchone()[0])


def test_the_owner_sets_rotates_and_removes_a_webhook(loopback, owner_client, credential, receiver):
    address = reverse("api_credentials:webhook", args=[credential.pk])
    response = owner_client.post(address, {"url": receiver.url})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    secret = response.context["new_webhook_secret"]
    assert secret.startswith("whsec_") and secret in response.content.decode()
    credential.refresh_from_db()
    assert (credential.webhook_url, credential.webhook_secret) == (receiver.url, secret)
    assert secret.encode() not in raw_secret(credential)  # encrypted at rest
    assert secret not in owner_client.get(LIST).content.decode()  # shown once
    # Another address keeps the secret.
    assert owner_client.post(address, {"url": receiver.url + "2"}).status_code == 302
    credential.refresh_from_db()
    assert credential.webhook_secret == secret
    response = owner_client.post(reverse("api_credentials:webhook_secret", args=[credential.pk]))
    rotated = response.context["new_webhook_secret"]
    credential.refresh_from_db()
    assert rotated != secret and credential.webhook_secret == rotated
    assert owner_client.post(address, {"clear": "1"}).status_code == 302
    credential.refresh_from_db()
    assert (credential.webhook_url, credential.webhook_secret) == ("", "")
    events = AuditEvent.objects.filter(action__startswith="api_credential.webhook")
    assert [event.action for event in events.order_by("id")] == [
        "api_credential.webhook_set", "api_credential.webhook_set",
        "api_credential.webhook_rotate", "api_credential.webhook_clear",
    ]  # fmt: skip
    for event in events:
        assert receiver.url not in json.dumps(event.details) and secret not in str(event.details)


def test_the_page_says_why_an_address_is_refused(owner_client, credential):
    response = owner_client.post(
        reverse("api_credentials:webhook", args=[credential.pk]),
        {"url": "https://169.254.169.254/latest/meta-data/"},
    )
    assert response.status_code == 200
    assert "forbidden_address" in [
        e.code for e in response.context["webhook_form"].errors.as_data()["url"]
    ]
    credential.refresh_from_db()
    assert (
        credential.webhook_url == ""
        and not AuditEvent.objects.filter(action="api_credential.webhook_set").exists()
    )


def test_only_the_owner_changes_a_webhook(loopback, pharmacist_client, credential, receiver):
    webhooks.set_url(credential, receiver.url)
    credential.refresh_from_db()
    before = (credential.webhook_url, credential.webhook_secret)
    for name, data in [("webhook", {"url": "https://example.org/"}), ("webhook", {"clear": "1"}),
                       ("webhook_secret", {})]:  # fmt: skip
        response = pharmacist_client.post(
            reverse(f"api_credentials:{name}", args=[credential.pk]), data
        )
        assert response.status_code == 403
    credential.refresh_from_db()
    assert (credential.webhook_url, credential.webhook_secret) == before


def test_another_pharmacys_credential_is_not_found(owner_client, other_pharmacy):
    stranger, _ = create_credential(other_pharmacy, "Other")
    for name in ("webhook", "webhook_secret"):
        response = owner_client.post(
            reverse(f"api_credentials:{name}", args=[stranger.pk]), {"clear": "1"}
        )
        assert response.status_code == 404
