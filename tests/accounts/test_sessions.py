"""Sessions are written when they change or near their end, not on every page
(relais.accounts.sessions), and still end after the idle time."""

import datetime

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from relais.accounts import onboarding, sessions
from relais.accounts.models import Membership, UserSession
from relais.patient_access.links import issue_links
from tests.support.commits import Commits
from tests.support.factories import PASSWORD, log_in, totp_code
from tests.support.fictitious import PATIENT_DATA, date_fields

DAY = reverse("screening:day")
LOGIN = reverse("accounts:login")


def session_row(client) -> Session:
    return Session.objects.get(session_key=client.cookies["sessionid"].value)


def idle_seconds(settings) -> int:
    return settings.SESSION_IDLE_MINUTES * 60


def logged_in(client) -> bool:
    return client.get(DAY).status_code == 200


def test_a_plain_page_view_does_not_write_the_session(pharmacist_client):
    assert logged_in(pharmacist_client)
    with Commits() as commits:
        assert logged_in(pharmacist_client)
    assert commits.writes_to("django_session") == []


def test_a_session_written_long_enough_ago_is_written_again(settings, pharmacist_client):
    age = idle_seconds(settings)
    row = session_row(pharmacist_client)
    written_ago = datetime.timedelta(seconds=age * sessions.REFRESH_FRACTION * 2)
    Session.objects.filter(pk=row.pk).update(expire_date=row.expire_date - written_ago)
    with Commits() as commits:
        assert logged_in(pharmacist_client)
    assert len(commits.writes_to("django_session")) == 1
    left = session_row(pharmacist_client).expire_date - timezone.now()
    assert left > datetime.timedelta(seconds=age - 5)


def test_a_lowered_idle_time_applies_from_the_next_request(settings, pharmacist_client):
    """A session written under a longer idle time is shortened by its next request, as
    when every request wrote it: it ends the new idle time after that request."""
    assert logged_in(pharmacist_client)
    settings.SESSION_COOKIE_AGE = 60
    with Commits() as commits:
        response = pharmacist_client.get(DAY)
    assert len(commits.writes_to("django_session")) == 1
    assert response.context["session_seconds"] == 60
    left = session_row(pharmacist_client).expire_date - timezone.now()
    assert datetime.timedelta(seconds=55) < left <= datetime.timedelta(seconds=60)
    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=61)):
        response = pharmacist_client.get(DAY)
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


def test_a_session_idle_past_the_limit_ends(settings, pharmacist_client):
    """Requests a few seconds apart (most write nothing), then silence: the session ends
    no later than the idle time after the last request, and not before that time less
    the refresh fraction."""
    age = idle_seconds(settings)
    step = datetime.timedelta(seconds=7)
    now = timezone.now()
    with time_machine.travel(now, tick=False) as clock:
        for _ in range(40):
            clock.shift(step)
            assert logged_in(pharmacist_client)
        last_request = timezone.now()
        margin = datetime.timedelta(seconds=age * sessions.REFRESH_FRACTION)
        clock.move_to(last_request + datetime.timedelta(seconds=age) - margin - step)
        assert logged_in(pharmacist_client)  # a request: the session lives on
        last_request = timezone.now()
        clock.move_to(last_request + datetime.timedelta(seconds=age + 1))
        response = pharmacist_client.get(DAY)
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


def test_the_page_warns_before_the_session_really_ends(settings, pharmacist_client):
    age = idle_seconds(settings)
    now = timezone.now()
    with time_machine.travel(now, tick=False) as clock:
        assert logged_in(pharmacist_client)
        clock.shift(datetime.timedelta(seconds=20))
        response = pharmacist_client.get(DAY)
    expiry = session_row(pharmacist_client).expire_date
    assert response.context["session_seconds"] == int((expiry - now).total_seconds()) - 20
    assert response.context["session_seconds"] < age


def test_the_login_writes_the_new_session_once_under_a_new_key(client, pharmacist):
    client.get(LOGIN)
    client.cookies["sessionid"] = "attacker-chosen-session-id"
    with Commits() as commits:
        response = client.post(
            LOGIN,
            {"email": pharmacist.email, "password": PASSWORD, "otp_token": totp_code(pharmacist)},
        )
    assert response.status_code == 302
    key = client.cookies["sessionid"].value
    assert key != "attacker-chosen-session-id"
    written = commits.writes_to("django_session")
    assert [sql.split()[0] for sql in written] == ["INSERT"]
    assert UserSession.objects.filter(user=pharmacist, session_key=key).exists()
    assert logged_in(client)


def test_the_first_patient_session_is_written_once(patient_link):
    browser = Client()
    with Commits() as following:
        assert browser.get(f"/r/{patient_link}").status_code == 302
    assert [sql.split()[0] for sql in following.writes_to("django_session")] == ["INSERT"]
    first_key = browser.cookies["sessionid"].value
    with Commits() as reading:
        assert browser.get("/r/open/").status_code == 200
    assert reading.writes_to("django_session") == []
    with Commits() as opening:
        response = browser.post("/r/open/", date_fields(PATIENT_DATA["birth_date"]))
    assert response.status_code == 302
    # The old key is deleted at once, the new one inserted once with the result's data.
    written = [sql.split()[0] for sql in opening.writes_to("django_session")]
    assert written == ["DELETE", "INSERT"]
    assert not Session.objects.filter(session_key=first_key).exists()
    assert browser.get(response["Location"]).status_code == 200


@pytest.fixture
def patient_link(screening_test):
    return issue_links([(screening_test, [])])[0][1]


def test_removing_a_member_ends_their_unwritten_sessions_at_once(pharmacy, pharmacist):
    counter = log_in(Client(), pharmacist)
    assert logged_in(counter)
    assert logged_in(counter)  # the session row is not written again
    key = counter.cookies["sessionid"].value
    onboarding.remove_member(Membership.objects.get(user=pharmacist, pharmacy=pharmacy), None)
    assert not Session.objects.filter(session_key=key).exists()
    response = counter.get(DAY)
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
