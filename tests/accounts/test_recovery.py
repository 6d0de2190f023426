"""Recovery codes: shown once at activation, each usable once at login instead of TOTP."""

import pytest
from django.test import Client
from django_otp.plugins.otp_static.models import StaticToken

from relais.accounts import onboarding
from relais.audit.models import AuditEvent
from tests.support.factories import PASSWORD, make_member


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


def login(client, user, code):
    return client.post(
        "/accounts/login/", {"email": user.email, "password": PASSWORD, "otp_token": code}
    )


def test_a_recovery_code_works_once(pharmacy):
    user = make_member(pharmacy, "lost-phone@example.org")
    codes = onboarding.new_recovery_codes(user)
    assert len(codes) == 10 and len(set(codes)) == 10

    first = Client()
    response = login(first, user, codes[0].upper())  # case and dash do not matter
    assert response.status_code == 302 and first.session["_auth_user_id"] == str(user.pk)

    second = Client()
    assert login(second, user, codes[1].replace("-", "")).status_code == 302

    again = login(Client(), user, codes[0])
    assert again.status_code == 200
    assert b"E-mail, password or authenticator code is incorrect." in again.content
    assert StaticToken.objects.filter(device__user=user).count() == 8
    assert AuditEvent.objects.filter(action="login.failed").count() == 1


def test_a_recovery_code_does_not_replace_the_password(pharmacy):
    user = make_member(pharmacy, "guess@example.org")
    codes = onboarding.new_recovery_codes(user)
    client = Client()
    response = client.post(
        "/accounts/login/", {"email": user.email, "password": "wrong", "otp_token": codes[0]}
    )
    assert response.status_code == 200 and "_auth_user_id" not in client.session


def test_another_users_recovery_code_does_not_work(pharmacy):
    owner_of_codes = make_member(pharmacy, "a@example.org")
    other = make_member(pharmacy, "b@example.org")
    codes = onboarding.new_recovery_codes(owner_of_codes)
    assert login(Client(), other, codes[0]).status_code == 200


def test_new_codes_replace_the_old_ones(pharmacy):
    user = make_member(pharmacy, "renew@example.org")
    old = onboarding.new_recovery_codes(user)
    onboarding.new_recovery_codes(user)
    assert login(Client(), user, old[0]).status_code == 200
