"""Notifications: created with the test, sent by the worker, retried, then given up."""

import datetime
import json
import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone, translation

from relais import worker
from relais.patient_access import notify
from relais.patient_access.models import Notification, ResultLink
from relais.screening import services
from tests.support.factories import built_from, make_member, make_patient, make_pharmacy, make_test
from tests.support.fictitious import PATIENT_DATA
from tests.support.patient_pages import in_english, open_result


def only_notification(test) -> Notification:
    return Notification.objects.get(link__test=test)


@pytest.mark.parametrize(
    ("notify_by", "channels"),
    [("none", []), ("sms", ["sms"]), ("email", ["email"]), ("both", ["email", "sms"])],
)
def test_rows_follow_the_patient_choice(patient, pharmacist, notify_by, channels):
    test = make_test(patient, pharmacist, notify_by=notify_by)
    found = sorted(Notification.objects.filter(link__test=test).values_list("channel", flat=True))
    assert found == channels
    assert ResultLink.objects.filter(test=test).count() == (1 if channels else 0)


def test_no_row_for_a_channel_without_an_address(pharmacy, pharmacist):
    patient = make_patient(pharmacy, pharmacist, phone="", nir="")
    test = make_test(patient, pharmacist, notify_by="both")
    assert list(Notification.objects.filter(link__test=test).values_list("channel", flat=True)) == [
        "email"
    ]


def test_rows_are_created_in_the_test_transaction(patient, pharmacist):
    with pytest.raises(RuntimeError), transaction.atomic():
        make_test(patient, pharmacist, notify_by="sms")
        assert Notification.objects.count() == 1
        raise RuntimeError("the test is rolled back")
    assert Notification.objects.count() == 0
    assert ResultLink.objects.count() == 0


def test_the_message_has_a_link_and_no_result_or_last_name(patient, pharmacist, settings):
    settings.BASE_URL = "https://relais.example"
    for result in ("positive", "negative", "invalid"):
        test = make_test(patient, pharmacist, notify_by="sms", result=result)
        notification = only_notification(test)
        for language in ("fr", "en"):
            settings.LANGUAGE_CODE = language
            text = notify.message_text(notification.link, notification.token)
            assert f"https://relais.example/r/{notification.token}" in text
            assert "Élodie" in text and "Pharmacie Test" in text
            for forbidden in (
                "Anne", "Martin", "Lefèvre", "positi", "négati", "negati", "invalid", "invalide",
                "SARS", "COVID", "antigen", "antigén", "1985",
            ):  # fmt: skip
                assert forbidden.lower() not in text.lower(), (forbidden, text)
        with translation.override("en"):
            assert test.get_result_display() not in text


def test_the_email_reaches_a_real_smtp_server(smtp_server, patient, pharmacist, settings):
    settings.BASE_URL = "https://relais.example"
    test = make_test(patient, pharmacist, notify_by="email")
    token = only_notification(test).token
    assert worker.run_round() >= 1
    [message] = smtp_server.wait_for(1)
    assert message["To"] == PATIENT_DATA["email"]
    body = message.get_content()
    assert f"https://relais.example/r/{token}" in body
    assert "positi" not in body.lower() and "negati" not in body.lower()
    notification = only_notification(test)
    assert notification.state == Notification.State.SENT
    assert notification.sent_at is not None and notification.attempts == 1
    assert notification.token == ""  # erased once sent


def test_a_link_from_a_message_opens_the_result(smtp_server, client, patient, pharmacist):
    make_test(patient, pharmacist, notify_by="email", result="positive")
    notify.send_due_notifications()
    body = smtp_server.wait_for(1)[0].get_content()
    token = body.split("/r/")[1].split()[0]
    open_result(client, token)
    page = in_english(client).get("/r/result/").content.decode()
    assert "Positive" in page


def test_the_http_sms_provider_gets_json_with_the_bearer_token(sms_provider, patient, pharmacist):
    test = make_test(patient, pharmacist, notify_by="sms")
    token = only_notification(test).token
    assert notify.send_due_notifications() == 1
    [request] = sms_provider.requests
    assert request["headers"]["Authorization"] == "Bearer test-provider-token"
    payload = json.loads(request["body"])
    assert payload["to"] == PATIENT_DATA["phone"]
    assert f"/r/{token}" in payload["text"]
    assert only_notification(test).state == Notification.State.SENT


def test_a_500_is_retried_with_backoff_then_failed(sms_provider, patient, pharmacist, settings):
    settings.NOTIFY_MAX_ATTEMPTS = 3
    sms_provider.status = 500
    test = make_test(patient, pharmacist, notify_by="sms")
    delays = []
    for attempt in range(1, 4):
        before = timezone.now()
        assert notify.send_due_notifications() == 1
        notification = only_notification(test)
        assert notification.attempts == attempt
        assert (notification.last_error, notification.last_error_status) == ("sms_refused", 500)
        if attempt < 3:
            assert notification.state == Notification.State.PENDING
            delays.append(notification.next_attempt_at - before)
            assert notify.send_due_notifications() == 0  # not due yet
            Notification.objects.filter(pk=notification.pk).update(next_attempt_at=before)
    assert len(sms_provider.requests) == 3
    assert notification.state == Notification.State.FAILED
    assert notification.token == ""
    # Full jitter (the queue engine's rule): anywhere up to base, then up to 2 * base.
    base = datetime.timedelta(seconds=settings.NOTIFY_RETRY_SECONDS)
    assert datetime.timedelta(0) <= delays[0] <= base * 1.01
    assert datetime.timedelta(0) <= delays[1] <= base * 2.01


def test_a_provider_that_is_down_is_a_retry(settings, patient, pharmacist):
    from tests.support.ports import free_port

    settings.SMS_BACKEND, settings.SMS_URL = "http", f"http://127.0.0.1:{free_port()}/sms"
    test = make_test(patient, pharmacist, notify_by="sms")
    notify.send_due_notifications()
    notification = only_notification(test)
    assert notification.state == Notification.State.PENDING
    assert notification.last_error == Notification.Error.SMS_UNREACHABLE


def test_the_demo_phone_is_a_file(settings, tmp_path, patient, pharmacist):
    settings.SMS_BACKEND = "file"
    settings.SMS_OUTBOX_FILE = tmp_path / "sms" / "outbox.log"
    test = make_test(patient, pharmacist, notify_by="sms")
    token = only_notification(test).token
    notify.send_due_notifications()
    content = settings.SMS_OUTBOX_FILE.read_text()
    assert f"to={PATIENT_DATA['phone']}" in content and f"/r/{token}" in content
    assert settings.SMS_OUTBOX_FILE.stat().st_mode & 0o777 == 0o600


def test_a_message_for_a_replaced_link_is_not_sent(sms_provider, linked_test):
    from relais.patient_access import links

    test, old_token = linked_test
    links.issue_links([(test, links.channels_for(test))])
    notify.send_due_notifications()
    old = Notification.objects.get(link__revoked_at__isnull=False)
    assert old.state == Notification.State.FAILED
    assert len(sms_provider.requests) == 1  # only the new link's message
    assert old_token not in sms_provider.requests[0]["body"].decode()


def test_logs_carry_no_personal_data(sms_provider, patient, pharmacist, caplog):
    sms_provider.status = 503
    make_test(patient, pharmacist, notify_by="sms")
    with caplog.at_level("DEBUG"):
        notify.send_due_notifications()
    text = caplog.text
    assert "notification" in text
    for personal in ("+336", "Élodie", "Lefèvre", "/r/", "example.org"):
        assert personal not in text


def test_a_claimed_row_is_leased(patient, pharmacist):
    test = make_test(patient, pharmacist, notify_by="sms")
    [claimed] = notify.claim_due()
    assert claimed.attempts == 1
    assert notify.claim_due() == []  # another worker finds nothing due
    leased = only_notification(test)
    assert leased.state == Notification.State.SENDING
    assert leased.claimed_until > timezone.now() and leased.claim_token is not None


def test_a_lapsed_lease_is_claimed_again_as_a_new_attempt(sms_provider, patient, pharmacist):
    test = make_test(patient, pharmacist, notify_by="sms")
    [claimed] = notify.claim_due()  # the worker that claimed it dies before sending
    Notification.objects.filter(pk=claimed.pk).update(claimed_until=timezone.now())
    assert notify.send_due_notifications() == 1
    notification = only_notification(test)
    assert (notification.state, notification.attempts) == (Notification.State.SENT, 2)
    assert len(sms_provider.requests) == 1


def test_a_late_worker_does_not_overwrite_the_new_claim(sms_provider, patient, pharmacist):
    test = make_test(patient, pharmacist, notify_by="sms")
    [late] = notify.claim_due()
    Notification.objects.filter(pk=late.pk).update(claimed_until=timezone.now())
    [current] = notify.claim_due()
    notify.deliver(late)  # its lease lapsed: what it sent is not recorded
    assert only_notification(test).state == Notification.State.SENDING
    notify.deliver(current)
    assert only_notification(test).state == Notification.State.SENT


def test_a_corrected_result_sends_a_new_link(linked_test, pharmacist):
    test, old_token = linked_test
    services.correct_test(test, pharmacist, {"result": "negative"}, built_from(test))
    old, new = ResultLink.objects.filter(test=test).order_by("created_at")
    assert old.revoked_at is not None and new.revoked_at is None
    assert new.notifications.get().state == Notification.State.PENDING


def test_a_correction_of_another_field_sends_nothing(linked_test, pharmacist):
    test, old_token = linked_test
    services.correct_test(test, pharmacist, {"device": "Other device"}, built_from(test))
    assert ResultLink.objects.filter(test=test).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_never_claim_the_same_row():
    """Four workers claim at once; each due row goes to exactly one of them."""
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED needs PostgreSQL; SQLite runs one worker")
    pharmacy = make_pharmacy()
    pharmacist = make_member(pharmacy, "pharmacist@example.org")
    patient = make_patient(pharmacy, pharmacist)
    for _ in range(12):
        make_test(patient, pharmacist, notify_by="sms")
    claimed, start = [], threading.Barrier(4)

    def one_worker():
        start.wait()
        try:
            claimed.append([n.pk for n in notify.claim_due(limit=5)])
        finally:
            connection.close()

    workers = [threading.Thread(target=one_worker) for _ in range(4)]
    for worker_thread in workers:
        worker_thread.start()
    for worker_thread in workers:
        worker_thread.join()
    ids = [pk for batch in claimed for pk in batch]
    assert len(ids) == len(set(ids)) == 12
