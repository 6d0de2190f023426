import ipaddress
import time
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from relais.accounts import throttle
from relais.accounts.models import LoginThrottle
from tests.support.factories import PASSWORD, make_member, totp_code

LOGIN = reverse("accounts:login")


def attempt(client, email, password="wrong password", code="000000", address="203.0.113.5"):
    return client.post(
        LOGIN,
        {"email": email, "password": password, "otp_token": code},
        REMOTE_ADDR=address,
    )


def login_error(response) -> str:
    return " ".join(response.context["form"].non_field_errors())


def says_locked(response) -> bool:
    """The refusal names the time the latest lock ends (the UI is in French: the time,
    not the words, is checked)."""
    until = (
        LoginThrottle.objects.filter(locked_until__isnull=False)
        .order_by("-locked_until")[0]
        .locked_until
    )
    return timezone.localtime(until).strftime("%H:%M") in login_error(response)


def attempt_via_proxy(client, email, password="wrong password", code="000000"):
    """From the pharmacy's public address 10.0.0.1, as the TLS proxy forwards it."""
    return client.post(
        LOGIN,
        {"email": email, "password": password, "otp_token": code},
        REMOTE_ADDR="127.0.0.30",
        HTTP_X_FORWARDED_FOR="10.0.0.1",
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
    assert says_locked(response)


def test_twenty_wrong_passwords_never_get_in(client, pharmacist):
    for _ in range(20):
        response = attempt(client, pharmacist.email)
        assert "_auth_user_id" not in client.session
    assert response.status_code == 200
    assert LoginThrottle.objects.filter(locked_until__gt=timezone.now()).exists()


def test_colleagues_typos_behind_the_proxy_do_not_refuse_another_account(
    client, pharmacy, settings
):
    """Issue 14: colleague A mistypes five times from the pharmacy's public address (seen
    through the trusted proxy); colleague B logs in from the same address at once."""
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.30/32")]
    colleague_a = make_member(pharmacy, "a@pharmacie.example")
    colleague_b = make_member(pharmacy, "b@pharmacie.example")
    for _ in range(settings.LOGIN_MAX_FAILURES):
        assert attempt_via_proxy(client, colleague_a.email).status_code == 200
    started = time.monotonic()
    response = attempt_via_proxy(
        client, colleague_b.email, password=PASSWORD, code=totp_code(colleague_b)
    )
    assert response.status_code == 302, response.context and login_error(response)
    assert time.monotonic() - started < 1  # not even slowed: five typos cost nothing yet
    # A's own account is locked, from that address and from any other.
    client.logout()
    response = attempt(client, colleague_a.email, password=PASSWORD, code=totp_code(colleague_a))
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert says_locked(response)


def test_an_address_is_slowed_progressively_then_a_correct_login_still_passes(
    client, pharmacy, settings
):
    settings.LOGIN_SOURCE_SLOW_AFTER = 2
    settings.LOGIN_SOURCE_MAX_DELAY_SECONDS = 0.5
    waits = []
    for index in range(5):  # five accounts, one failure each: no account locks
        started = time.monotonic()
        attempt(client, f"typo{index}@example.org", address="192.0.2.7")
        waits.append(time.monotonic() - started)
    # Failures 1 and 2 are free; attempts after 3, 4, 5... wait 0.25, 0.5, then the cap.
    assert [throttle.delay_after(n) for n in range(1, 7)] == [0, 0, 0.25, 0.5, 0.5, 0.5]
    assert waits[3] >= 0.25 and waits[4] >= 0.5
    colleague = make_member(pharmacy, "colleague@pharmacie.example")
    started = time.monotonic()
    response = attempt(
        client, colleague.email, password=PASSWORD, code=totp_code(colleague), address="192.0.2.7"
    )
    assert response.status_code == 302  # slowed, never refused
    assert time.monotonic() - started >= 0.5


def test_an_address_spraying_many_accounts_is_stopped(client, pharmacist, settings):
    settings.LOGIN_SOURCE_MAX_DELAY_SECONDS = 0  # the wait is proven above; count here
    for index in range(settings.LOGIN_SOURCE_MAX_FAILURES):
        attempt(client, f"sprayed{index}@example.org", address="192.0.2.44")
    # No sprayed account reached its own limit, yet even a right password and code are
    # refused from that address now...
    response = attempt(
        client,
        pharmacist.email,
        password=PASSWORD,
        code=totp_code(pharmacist),
        address="192.0.2.44",
    )
    assert "_auth_user_id" not in client.session
    assert says_locked(response)
    # ...while the account itself is not locked elsewhere.
    response = attempt(
        client,
        pharmacist.email,
        password=PASSWORD,
        code=totp_code(pharmacist),
        address="192.0.2.45",
    )
    assert response.status_code == 302


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
