import pytest
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY

from relais.accounts.models import Membership
from relais.audit.models import AuditEvent
from tests.support.factories import PASSWORD, make_member, make_pharmacy, totp_code

LOGIN = reverse("accounts:login")


def post_login(client, email, password=PASSWORD, code="000000"):
    return client.post(LOGIN, {"email": email, "password": password, "otp_token": code})


def test_login_with_password_and_totp(client, pharmacist):
    response = post_login(client, pharmacist.email, code=totp_code(pharmacist))
    assert response.status_code == 302
    assert response["Location"] == reverse("screening:day")
    assert client.session[DEVICE_ID_SESSION_KEY]
    assert client.get(reverse("screening:day")).status_code == 200
    assert AuditEvent.objects.filter(action="login.succeeded", actor_id=pharmacist.pk).exists()


def test_login_without_totp_is_refused(client, pharmacist):
    response = client.post(LOGIN, {"email": pharmacist.email, "password": PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert response.context["form"].errors["otp_token"]


def test_wrong_totp_is_refused_with_a_generic_message(client, pharmacist):
    response = post_login(client, pharmacist.email, code="123456")
    assert "_auth_user_id" not in client.session
    wrong_password = post_login(
        client, pharmacist.email, password="wrong", code=totp_code(pharmacist)
    )
    unknown_user = post_login(client, "nobody@example.org")
    message = response.context["form"].non_field_errors()
    assert message == wrong_password.context["form"].non_field_errors()
    assert message == unknown_user.context["form"].non_field_errors()
    assert AuditEvent.objects.filter(action="login.failed").count() == 3


def test_a_totp_code_cannot_be_replayed(client, pharmacist):
    code = totp_code(pharmacist)
    assert post_login(client, pharmacist.email, code=code).status_code == 302
    client.post(reverse("accounts:logout"))
    assert post_login(client, pharmacist.email, code=code).status_code == 200
    assert "_auth_user_id" not in client.session


def test_user_without_a_confirmed_device_cannot_log_in(client, pharmacy):
    user = make_member(pharmacy, "nodevice@example.org")
    user.totpdevice_set.update(confirmed=False)
    response = post_login(client, user.email, code="123456")
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_password_alone_does_not_open_pharmacy_pages(client, pharmacist):
    """A session authenticated without the second factor is not enough."""
    client.force_login(pharmacist)
    response = client.get(reverse("screening:day"))
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


def test_login_changes_the_session_key(client, pharmacist):
    client.get(LOGIN)
    client.cookies["sessionid"] = "attacker-chosen-session-id"
    post_login(client, pharmacist.email, code=totp_code(pharmacist))
    assert client.cookies["sessionid"].value != "attacker-chosen-session-id"


def test_logout_needs_post_and_ends_the_session(pharmacist_client):
    assert pharmacist_client.get(reverse("accounts:logout")).status_code == 405
    pharmacist_client.post(reverse("accounts:logout"))
    assert pharmacist_client.get(reverse("screening:day")).status_code == 302


def test_a_session_without_the_second_factor_can_still_be_ended(client, pharmacist):
    client.force_login(pharmacist)  # password only
    assert client.post(reverse("accounts:logout"))["Location"] == reverse("accounts:login")
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="logout", actor_id=pharmacist.pk).exists()


def test_suspended_pharmacy_staff_are_refused(pharmacist_client, pharmacy):
    pharmacy.status = pharmacy.Status.SUSPENDED
    pharmacy.save()
    assert pharmacist_client.get(reverse("screening:day")).status_code == 403


def test_removed_member_loses_access_at_once(pharmacist_client, pharmacist):
    Membership.objects.filter(user=pharmacist).delete()
    assert pharmacist_client.get(reverse("screening:day")).status_code == 403


def test_session_expires_after_idle_timeout(settings, pharmacist_client):
    assert settings.SESSION_COOKIE_AGE == settings.SESSION_IDLE_MINUTES * 60
    assert not settings.SESSION_SAVE_EVERY_REQUEST  # refreshed as it nears its end instead
    session = pharmacist_client.session
    session.set_expiry(-1)
    session.save()
    assert pharmacist_client.get(reverse("screening:day")).status_code == 302


@pytest.mark.parametrize("role", [Membership.Role.OWNER, Membership.Role.ASSISTANT])
def test_every_role_can_log_in(db, client, role):
    user = make_member(make_pharmacy(finess="750000099"), f"{role}@example.org", role)
    assert post_login(client, user.email, code=totp_code(user)).status_code == 302
