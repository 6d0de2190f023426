from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from relais.accounts.models import LoginThrottle
from tests.support.factories import PASSWORD, totp_code

LOGIN = reverse("accounts:login")


def attempt(client, email, password="wrong password", code="000000", address="203.0.113.5"):
    return client.post(
        LOGIN,
        {"email": email, "password": password, "otp_token": code},
        REMOTE_ADDR=address,
    )


def test_account_locks_after_repeated_failures_and_says_until_when(client, pharmacist, settings):
    for _ in range(settings.LOGIN_MAX_FAILURES):
        attempt(client, pharmacist.email)
    response = attempt(
        client,
        pharmacist.email,
        password=PASSWORD,
        code=totp_code(pharmacist),
        address="198.51.100.7",
    )
    assert "_auth_user_id" not in client.session
    until = timezone.localtime(LoginThrottle.objects.order_by("-locked_until")[0].locked_until)
    assert until.strftime("%H:%M") in " ".join(response.context["form"].non_field_errors())


def test_twenty_wrong_passwords_never_get_in(client, pharmacist):
    for _ in range(20):
        response = attempt(client, pharmacist.email)
        assert "_auth_user_id" not in client.session
    assert response.status_code == 200
    assert LoginThrottle.objects.filter(locked_until__gt=timezone.now()).exists()


def test_source_is_locked_across_accounts(client, pharmacist, settings):
    for index in range(settings.LOGIN_MAX_FAILURES):
        attempt(client, f"someone{index}@example.org", address="192.0.2.44")
    response = attempt(
        client,
        pharmacist.email,
        password=PASSWORD,
        code=totp_code(pharmacist),
        address="192.0.2.44",
    )
    assert "_auth_user_id" not in client.session
    assert " ".join(response.context["form"].non_field_errors())


def test_lock_expires(client, pharmacist, settings):
    for _ in range(settings.LOGIN_MAX_FAILURES):
        attempt(client, pharmacist.email)
    LoginThrottle.objects.update(locked_until=timezone.now() - timedelta(seconds=1))
    response = attempt(client, pharmacist.email, password=PASSWORD, code=totp_code(pharmacist))
    assert response.status_code == 302


def test_throttle_rows_do_not_store_emails_or_addresses(db, client):
    attempt(client, "secret.person@example.org", address="203.0.113.99")
    keys = " ".join(LoginThrottle.objects.values_list("key", flat=True))
    assert "secret.person" not in keys and "203.0.113" not in keys
