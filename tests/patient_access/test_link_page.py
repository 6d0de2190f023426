"""The link page and the date-of-birth check."""

import datetime
import logging

from django.utils import timezone

from relais.audit.models import AuditEvent
from relais.lib.logging import LinkTokenFilter
from relais.patient_access.models import ResultLink
from relais.patient_access.views import SESSION_FOLLOWED
from tests.support.factories import make_test
from tests.support.patient_pages import (
    BIRTH_DATE,
    OPEN_PATH,
    follow_link,
    open_result,
    post_date,
)

WRONG_DATE = datetime.date(1985, 3, 15)


def test_link_page_names_the_pharmacy_and_not_the_patient(client, linked_test):
    """Whoever holds the link learns nothing of the patient before the date is right."""
    test, token = linked_test
    response = follow_link(client, token)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Pharmacie Test" in page
    assert "Élodie" not in page and "Martin" not in page and "Lefèvre" not in page
    assert 'name="day"' in page and 'name="month"' in page and 'name="year"' in page


def test_right_date_opens_a_session_bound_result(client, linked_test):
    test, token = linked_test
    follow_link(client, token)
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
    assert follow_link(client, token).context["reason"] == "locked"


def test_an_expired_link_says_to_contact_the_pharmacy(client, linked_test):
    test, token = linked_test
    ResultLink.objects.filter(test=test).update(expires_at=timezone.now())
    response = follow_link(client, token)
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
    assert follow_link(client, altered).status_code == 404
    response = post_date(client, altered, BIRTH_DATE)
    assert response.status_code == 403
    assert response.context["link"] is None
    assert client.get("/r/result/").status_code == 403
    assert ResultLink.objects.get(test=test).failures == 0


def test_a_malformed_date_is_a_field_error_not_a_try(client, linked_test):
    test, token = linked_test
    follow_link(client, token)
    response = client.post(OPEN_PATH, {"day": "31", "month": "2", "year": "1985"})
    assert response.status_code == 400
    assert (
        "This date does not exist." in response.content.decode()
        or response.context["form"].non_field_errors()
    )
    response = client.post(OPEN_PATH, {"day": "x", "month": "", "year": "1985"})
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


def test_following_the_link_moves_its_token_out_of_the_address(client, linked_test):
    """The link's address only hands the token over: a redirect to a token-free page,
    no Referer, and the session keeps the digest the database has, never the token."""
    test, token = linked_test
    response = client.get(f"/r/{token}")
    assert response.status_code == 302 and response["Location"] == OPEN_PATH
    assert response["Referrer-Policy"] == "no-referrer"
    followed = client.session[SESSION_FOLLOWED]
    assert followed["token_hash"] == ResultLink.objects.get(test=test).token_hash
    assert token not in repr(dict(client.session))
    page = client.get(OPEN_PATH)
    assert page.status_code == 200 and token not in page.content.decode()
    assert f'action="{OPEN_PATH}"' in page.content.decode()
    assert page["Referrer-Policy"] == "no-referrer"


def test_the_link_address_takes_no_date(client, linked_test):
    """The date goes to the token-free page only: a POST to /r/<token> would put the
    token in the request line of the check itself."""
    test, token = linked_test
    response = client.post(f"/r/{token}", {"day": "14", "month": "3", "year": "1985"})
    assert response.status_code == 405
    assert client.get("/r/result/").status_code == 403


def test_the_date_page_needs_a_followed_link(client, linked_test):
    test, token = linked_test
    for response in (client.get(OPEN_PATH), client.post(OPEN_PATH, {"day": "1"})):
        assert response.status_code == 403
        assert response.templates[0].name == "patient_access/no_session.html"
    assert ResultLink.objects.get(test=test).failures == 0


def test_a_followed_link_leaves_the_session_after_the_session_minutes(
    client, linked_test, settings
):
    test, token = linked_test
    client.get(f"/r/{token}")
    session = client.session
    followed_at = timezone.now() - datetime.timedelta(minutes=settings.PATIENT_SESSION_MINUTES)
    session[SESSION_FOLLOWED] = {**session[SESSION_FOLLOWED], "at": followed_at.isoformat()}
    session.save()
    response = client.post(OPEN_PATH, {"day": "14", "month": "3", "year": "1985"})
    assert response.status_code == 403
    assert response.templates[0].name == "patient_access/no_session.html"
    assert SESSION_FOLLOWED not in client.session
    assert post_date(client, token, BIRTH_DATE).status_code == 302  # followed again
