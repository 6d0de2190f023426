"""Who makes a request (relais.accounts.middleware): the session's user, the device that
verified it and its membership in one query, with every refusal Django's and django-otp's
middlewares made."""

import pytest
from django.contrib.auth import HASH_SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.core.management.utils import get_random_secret_key
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from relais.accounts.middleware import identify, totp_device_id
from relais.accounts.models import Membership
from tests.support.factories import PASSWORD, log_in, make_device, make_platform_admin


def session_request(client):
    """A request carrying `client`'s session, already loaded (its own query is not ours)."""
    request = RequestFactory().get("/")
    request.session = SessionStore(client.session.session_key)
    request.session.keys()  # loads it
    return request


@pytest.fixture
def verified(client, pharmacist):
    return session_request(log_in(client, pharmacist))


def test_a_verified_member_costs_one_query(
    verified, pharmacist, pharmacy, django_assert_num_queries
):
    with django_assert_num_queries(1):
        user, device, membership = identify(verified)
    assert user == pharmacist and user.is_active
    assert device == TOTPDevice.objects.get(user=pharmacist)
    assert membership is not None and membership.pharmacy == pharmacy
    assert membership.user is user and membership.role == Membership.Role.PHARMACIST


def test_a_user_outside_any_pharmacy_costs_one_query(db, client, django_assert_num_queries):
    admin = make_platform_admin()
    request = session_request(log_in(client, admin))
    with django_assert_num_queries(1):
        user, device, membership = identify(request)
    assert user == admin and device is not None and membership is None


def test_a_removed_member_loses_the_pharmacy_at_once(verified, pharmacist):
    Membership.objects.filter(user=pharmacist).delete()
    user, device, membership = identify(verified)
    assert user == pharmacist and device is not None
    assert membership is None


def test_a_suspended_user_is_nobody(verified, pharmacist):
    pharmacist.is_active = False
    pharmacist.save()
    assert identify(verified) == (None, None, None)


def test_another_pharmacy_in_the_session_gives_no_membership(verified, other_pharmacy):
    verified.session["pharmacy_id"] = str(other_pharmacy.pk)
    user, device, membership = identify(verified)
    assert user is not None and membership is None


def test_a_password_change_ends_the_other_sessions(verified, pharmacist):
    pharmacist.set_password("another " + PASSWORD)
    pharmacist.save()
    assert identify(verified) == (None, None, None)
    assert HASH_SESSION_KEY not in verified.session  # flushed


def test_a_session_hashed_with_a_retired_secret_key_is_renewed(client, pharmacist, settings):
    """Django's SECRET_KEY_FALLBACKS: the session holds, under a new key and hash."""
    settings.SECRET_KEY = get_random_secret_key()
    request = session_request(log_in(client, pharmacist))
    old_key = request.session.session_key
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = get_random_secret_key()
    user, device, membership = identify(request)
    assert user == pharmacist and device is not None and membership is not None
    assert request.session[HASH_SESSION_KEY] == pharmacist.get_session_auth_hash()
    assert request.session.session_key != old_key


def test_a_session_without_its_password_hash_is_nobody(verified):
    del verified.session[HASH_SESSION_KEY]
    assert identify(verified) == (None, None, None)


def test_another_users_device_does_not_verify(verified, other_pharmacist):
    theirs = TOTPDevice.objects.get(user=other_pharmacist)
    verified.session[DEVICE_ID_SESSION_KEY] = theirs.persistent_id
    user, device, membership = identify(verified)
    assert user is not None and membership is not None
    assert device is None and DEVICE_ID_SESSION_KEY not in verified.session


def test_an_unconfirmed_device_does_not_verify(verified, pharmacist):
    TOTPDevice.objects.filter(user=pharmacist).update(confirmed=False)
    user, device, _ = identify(verified)
    assert user is not None and device is None
    assert DEVICE_ID_SESSION_KEY not in verified.session


def test_a_recovery_code_device_verifies_with_its_own_query(
    verified, pharmacist, django_assert_num_queries
):
    recovery = StaticDevice.objects.create(user=pharmacist, name="recovery", confirmed=True)
    verified.session[DEVICE_ID_SESSION_KEY] = recovery.persistent_id
    with django_assert_num_queries(2):
        user, device, membership = identify(verified)
    assert device == recovery and membership is not None


def test_a_session_from_an_unknown_backend_is_nobody(verified):
    verified.session["_auth_user_backend"] = "somewhere.else.Backend"
    assert identify(verified) == (None, None, None)


def test_only_totp_persistent_ids_are_joined(pharmacist):
    device = make_device(pharmacist)
    assert totp_device_id(device.persistent_id) == device.pk
    assert totp_device_id("otp_static.staticdevice/3") is None
    assert totp_device_id("otp_totp.totpdevice/x") is None
    assert totp_device_id(None) is None


# --- Through the whole request ------------------------------------------------------------


def test_the_day_page_refuses_a_removed_member(pharmacist_client, pharmacist):
    assert pharmacist_client.get(reverse("screening:day")).status_code == 200
    Membership.objects.filter(user=pharmacist).delete()
    assert pharmacist_client.get(reverse("screening:day")).status_code == 403


def test_the_day_page_sends_a_suspended_user_to_the_login(pharmacist_client, pharmacist):
    pharmacist.is_active = False
    pharmacist.save()
    response = pharmacist_client.get(reverse("screening:day"))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_the_day_page_needs_the_second_factor(client, pharmacist):
    log_in(client, pharmacist)
    session = client.session
    del session[DEVICE_ID_SESSION_KEY]
    session.save()
    response = client.get(reverse("screening:day"))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_a_staff_request_reads_user_device_and_membership_once(pharmacist_client):
    """One SELECT joins the device, the user and the membership: none reads them apart."""
    pharmacist_client.get(reverse("screening:day"))
    with CaptureQueriesContext(connection) as queries:
        assert pharmacist_client.get(reverse("screening:day")).status_code == 200
    sql = [query["sql"] for query in queries.captured_queries]
    identifying = [s for s in sql if '"otp_totp_totpdevice"' in s]
    assert len(identifying) == 1
    assert '"accounts_membership"' in identifying[0] and '"accounts_user"' in identifying[0]
    assert not [s for s in sql if s.startswith('SELECT "accounts_user"')]
