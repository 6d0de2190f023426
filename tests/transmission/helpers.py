"""Helpers shared by the transmission tests."""

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from relais.accounts.models import User
from tests.conftest import PASSWORD


def make_platform_admin(email="ops@example.org", *, with_device=True):
    user = User.objects.create_user(email, PASSWORD, full_name="Ops", is_staff=True)
    if with_device:
        TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user


def log_in_verified(client, user):
    """A session past both factors, for a user who belongs to no pharmacy."""
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    session.save()
    return client
