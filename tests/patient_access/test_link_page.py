"""The link page and the date-of-birth check."""

import datetime
import logging

from django.utils import timezone

from relais.audit.models import AuditEvent
from relais.lib.logging import LinkTokenFilter
from relais.patient_access.models import ResultLink
from tests.support.factories import make_test
from tests.support.patient_pages import BIRTH_DATE, open_result, post_date

WRONG_DATE = datetime.date(1985, 3, 15)


def test_link_page_shows_pharmacy_and_first_name_with_initial(client, linked_test):
    test, token = linked_test
    response = client.get(f"/r/{token}")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Pharmacie Test" in page
    assert "Élodie M." in page
    assert "Martin" not in page and "Lefèvre" not in page
    assert 'name="day"' in page and 'name="month"' in page and 'name="year"' in page


def test_right_date_opens_a_session_bound_result(client, linked_test):
    test, token = linked_test
    client.get(f"/r/{token}")
    key_before = client.session.session_key
    response = open_result(client, token)
    assert token not in response["Location"]
    assert client.session.session_key != key_before
    page = client.get("/r/result/").content.decode()
    assert "Positive" in page or "Positif" in page
    assert AuditEvent.objects.filter(action="patient_link.opened", target_id=str(test.pk)).exists()


def test_wrong_date_says_so_with_the_tries_left(client, linked_test):
    test, token = linked_test
    response = post_date(client, token, WRONG_DATE)
    assert response.status_code == 403
    assert "4" in response.content.decode()
    assert response.context["outcome"] == "wrong_date"
    assert response.context["tries_left"] == 4
    assert ResultLink.objects.get(test=test).failures == 1
    assert client.get("/r/result/").status_code == 403
    event = AuditEvent.objects.get(action="patient_link.refused", target_id=str(test.pk))
    assert event.details == {"reason": "wrong_date", "failures": 1}


def test_audit_events_never_hold_the_typed_date(client, linked_test):
    test, token = linked_test
    post_date(client, token, WRONG_DATE)
    open_result(client, token)
    for event in AuditEvent.objects.all():
        text = repr(event.details)
        assert "1985" not in text and "15" not in str(event.details.values())


def test_the_link_locks_at_the_limit_and_names_the_pharmacy_phone(client, linked_test, settings):
    test, token = linked_test
    test.pharmacy.phone = "01 23 45 67 89"
    test.pharmacy.save()
    for tries_left in range(settings.PATIENT_LINK_MAX_TRIES - 1, 0, -1):
        response = post_date(client, token, WRONG_DATE)
        assert response.context["tries_left"] == tries_left
    response = post_date(client, token, WRONG_DATE)
    assert response.status_code == 403
    assert response.context["reason"] == "locked"
    assert "01 23 45 67 89" in response.content.decode()
    assert ResultLink.objects.get(test=test).locked_at is not None
    # Locked means locked: even the right date no longer opens it.
    response = post_date(client, token, BIRTH_DATE)
    assert response.status_code == 403
    assert response.context["reason"] == "locked"
    assert client.get(f"/r/{token}").context["reason"] == "locked"


def test_an_expired_link_says_to_contact_the_pharmacy(client, linked_test):
    test, token = linked_test
    ResultLink.objects.filter(test=test).update(expires_at=timezone.now())
    response = client.get(f"/r/{token}")
    assert response.status_code == 403
    assert response.context["reason"] == "expired"
    response = post_date(client, token, BIRTH_DATE)
    assert response.status_code == 403
    assert response.context["reason"] == "expired"
    assert "result" not in response.get("Location", "")


def test_expiry_follows_the_setting(patient, pharmacist, settings):
    settings.PATIENT_LINK_DAYS = 3
    test = make_test(patient, pharmacist, notify_by="email")
    link = test.result_links.get()
    assert link.expires_at - link.created_at == datetime.timedelta(days=3)


def test_a_token_of_patient_a_does_not_open_with_patient_b_date(
    client, linked_test, patient_b, pharmacist
):
    test, token = linked_test
    make_test(patient_b, pharmacist, notify_by="sms")
    response = post_date(client, token, patient_b.birth_date)
    assert response.status_code == 403
    assert response.context["outcome"] == "wrong_date"
    assert client.get("/r/result/").status_code == 403


def test_a_token_altered_by_one_character_opens_nothing(client, linked_test):
    test, token = linked_test
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get(f"/r/{altered}").status_code == 404
    response = post_date(client, altered, BIRTH_DATE)
    assert response.status_code == 403
    assert response.context["link"] is None
    assert client.get("/r/result/").status_code == 403
    assert ResultLink.objects.get(test=test).failures == 0


def test_a_malformed_date_is_a_field_error_not_a_try(client, linked_test):
    test, token = linked_test
    response = client.post(f"/r/{token}", {"day": "31", "month": "2", "year": "1985"})
    assert response.status_code == 400
    assert (
        "This date does not exist." in response.content.decode()
        or response.context["form"].non_field_errors()
    )
    response = client.post(f"/r/{token}", {"day": "x", "month": "", "year": "1985"})
    assert response.status_code == 400
    assert response.context["form"].errors.keys() == {"day", "month"}
    assert ResultLink.objects.get(test=test).failures == 0


def test_only_the_hash_of_the_token_is_stored(linked_test):
    test, token = linked_test
    link = ResultLink.objects.get(test=test)
    assert len(token) >= 43  # 256 bits in base64url
    assert token not in link.token_hash
    assert ResultLink.objects.filter(token_hash__contains=token[:10]).count() == 0


def test_the_logs_never_hold_a_link_token(linked_test):
    """Django logs the path of each 4xx answer; the configured handlers mask the token."""
    test, token = linked_test
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, LinkTokenFilter) for f in handler.filters)
    ]
    assert handlers, "no log handler masks link tokens"
    for handler in handlers:
        for path in (f"/r/{token}", f"/r/{token}/"):
            record = logging.getLogger("django.request").makeRecord(
                "django.request", logging.WARNING, __file__, 1, "Forbidden: %s", (path,), None
            )
            assert handler.filter(record)
            assert token not in handler.format(record)
            assert "/r/[link]" in handler.format(record)
