"""The pharmacist's side: the link panel on the test page, the failure flag in the day's
list, and resending a link."""

from relais.audit.models import AuditEvent
from relais.patient_access.models import Notification, ResultLink
from tests.support.factories import log_in, make_member, make_test
from tests.support.patient_pages import BIRTH_DATE, in_english, post_date


def resend_url(test) -> str:
    return f"/tests/{test.pk}/resend-link/"


def test_resend_issues_a_new_link_and_revokes_the_old_one(pharmacist_client, client, linked_test):
    test, old_token = linked_test
    response = pharmacist_client.post(resend_url(test))
    assert response.status_code == 302
    assert response["Location"] == f"/tests/{test.pk}/"
    old, new = ResultLink.objects.filter(test=test).order_by("created_at")
    assert old.revoked_at is not None and new.revoked_at is None
    assert new.notifications.get().state == Notification.State.PENDING
    assert AuditEvent.objects.filter(action="patient_link.resend", target_id=str(test.pk)).exists()
    patient_client = type(client)()
    response = post_date(patient_client, old_token, BIRTH_DATE)
    assert response.status_code == 403 and response.context["reason"] == "revoked"
    new_token = new.notifications.get().token
    assert post_date(patient_client, new_token, BIRTH_DATE).status_code == 302


def test_resend_is_post_only(pharmacist_client, linked_test):
    test, token = linked_test
    assert pharmacist_client.get(resend_url(test)).status_code == 405
    assert ResultLink.objects.filter(test=test).count() == 1


def test_another_pharmacy_gets_a_404(client, linked_test, other_pharmacist):
    test, token = linked_test
    log_in(client, other_pharmacist)
    assert client.post(resend_url(test)).status_code == 404
    assert ResultLink.objects.filter(test=test).count() == 1


def test_anonymous_is_sent_to_log_in(client, linked_test):
    test, token = linked_test
    response = client.post(resend_url(test))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert ResultLink.objects.filter(test=test).count() == 1


def test_unknown_test_is_a_404(pharmacist_client):
    response = pharmacist_client.post("/tests/00000000-0000-4000-8000-000000000001/resend-link/")
    assert response.status_code == 404


def test_no_resend_without_a_channel(pharmacist_client, patient, pharmacist):
    test = make_test(patient, pharmacist, notify_by="none")
    response = pharmacist_client.post(resend_url(test))
    assert response.status_code == 302
    assert not ResultLink.objects.filter(test=test).exists()
    page = in_english(pharmacist_client).get(f"/tests/{test.pk}/").content.decode()
    assert "No link was sent for this test." in page
    assert resend_url(test) not in page


def test_the_test_page_shows_the_message_state(pharmacist_client, linked_test):
    test, token = linked_test
    page = in_english(pharmacist_client).get(f"/tests/{test.pk}/").content.decode()
    assert "Result sent to the patient" in page
    assert "Waiting to be sent" in page
    assert resend_url(test) in page
    assert token not in page
    Notification.objects.update(
        state="failed", last_error="sms_refused", last_error_status=500, attempts=5
    )
    page = in_english(pharmacist_client).get(f"/tests/{test.pk}/").content.decode()
    assert "Failed" in page and "The SMS provider refused the message (HTTP 500)" in page


def test_a_failed_message_shows_in_the_day_list(pharmacist_client, linked_test):
    test, token = linked_test
    flag = "Message to the patient not sent"
    assert flag not in in_english(pharmacist_client).get("/").content.decode()
    Notification.objects.update(state="failed")
    assert flag in in_english(pharmacist_client).get("/").content.decode()


def test_an_assistant_can_resend(client, pharmacy, linked_test):
    test, token = linked_test
    log_in(client, make_member(pharmacy, "assistant@example.org", role="assistant"))
    assert client.post(resend_url(test)).status_code == 302
    assert ResultLink.objects.filter(test=test).count() == 2
