"""Password reset: never tells whether an address exists, never skips the second factor."""

import datetime
import re

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from relais.accounts.models import AccountToken, QueuedEmail, User
from tests.accounts.onboarding_helpers import (
    NEW_PASSWORD,
    delivered,
    link_in,
    login,
    nothing_delivered,
    path_of,
)
from tests.support.factories import PASSWORD, log_in, make_member, next_totp_code


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"
    cache.clear()


@pytest.fixture
def member(pharmacy):
    return make_member(pharmacy, "forgetful@example.org")


def without_csrf(response) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())


def ask_reset(client, email):
    return client.post("/accounts/password-reset/", {"email": email})


def follow_reset_link(link, password=NEW_PASSWORD):
    client = Client()
    swap = client.get(path_of(link))
    assert swap.status_code == 302 and "?t=" not in swap["Location"]
    page = client.get(swap["Location"])
    assert swap["Referrer-Policy"] == "no-referrer"
    assert page["Referrer-Policy"] == "same-origin"  # a token-free address
    return client, client.post(swap["Location"], {"password1": password, "password2": password})


def test_same_answer_whether_or_not_the_address_exists(member, smtp_server):
    known = ask_reset(Client(), member.email)
    unknown = ask_reset(Client(), "nobody@example.org")
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert without_csrf(Client().get(known["Location"])) == without_csrf(
        Client().get(unknown["Location"])
    )
    # Both paths queue one e-mail (same work); the worker sends only the real one.
    assert QueuedEmail.objects.count() == 2
    (message,) = delivered(smtp_server, 1)
    assert message["To"] == member.email
    assert len(smtp_server.messages) == 1  # nothing for the unknown address
    states = sorted(QueuedEmail.objects.values_list("state", flat=True))
    assert states == [QueuedEmail.State.DISCARDED, QueuedEmail.State.SENT]


def test_an_unknown_address_sends_nothing(db, smtp_server):
    ask_reset(Client(), "nobody@example.org")
    assert nothing_delivered(smtp_server)
    assert QueuedEmail.objects.get().state == QueuedEmail.State.DISCARDED


def test_reset_then_login_still_needs_the_second_factor(member, smtp_server):
    open_session = log_in(Client(), member)
    ask_reset(Client(), member.email)
    link = link_in(delivered(smtp_server, 1)[0])
    _, response = follow_reset_link(link)
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)
    # Other sessions end with the password change.
    assert open_session.get("/").status_code == 302

    client = Client()
    without_code = login(client, member.email, NEW_PASSWORD, "")
    assert without_code.status_code == 200 and "_auth_user_id" not in client.session
    device = TOTPDevice.objects.get(user=member)
    assert login(client, member.email, NEW_PASSWORD, next_totp_code(device)).status_code == 302


def test_reset_link_works_once(member, smtp_server):
    ask_reset(Client(), member.email)
    link = link_in(delivered(smtp_server, 1)[0])
    follow_reset_link(link)
    response = Client().get(path_of(link))
    assert response.status_code == 404 and b"This link is not valid" in response.content


def test_expired_reset_link_is_refused(member, smtp_server):
    ask_reset(Client(), member.email)
    link = link_in(delivered(smtp_server, 1)[0])
    AccountToken.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert Client().get(path_of(link)).status_code == 404
    member.refresh_from_db()
    assert member.check_password(PASSWORD)


def test_weak_or_mismatched_password_is_refused_and_the_link_kept(member, smtp_server):
    ask_reset(Client(), member.email)
    link = link_in(delivered(smtp_server, 1)[0])
    _, weak = follow_reset_link(link, "123456789012")
    assert weak.status_code == 200 and "password1" in weak.context["form"].errors
    member.refresh_from_db()
    assert member.check_password(PASSWORD)
    assert AccountToken.objects.get().used_at is None


def test_no_link_for_an_account_without_a_second_factor(pharmacy, smtp_server):
    User.objects.create_user("invited@example.org", None, full_name="Invited")
    ask_reset(Client(), "invited@example.org")
    assert not AccountToken.objects.exists()
    assert nothing_delivered(smtp_server)


def test_reset_form_is_rate_limited(member, settings, smtp_server):
    settings.PUBLIC_FORM_RATE_PER_HOUR = 1
    client = Client()
    ask_reset(client, "someone@example.org")
    assert ask_reset(client, member.email).status_code == 429
    assert not AccountToken.objects.exists()
