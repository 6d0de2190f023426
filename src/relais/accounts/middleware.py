"""Who makes the request: the session's user, the second-factor device that verified it
(django-otp) and its membership of the pharmacy the session acts for, read with one query.

This replaces Django's AuthenticationMiddleware, django-otp's OTPMiddleware and a
membership look-up (a SELECT each on every staff request) and keeps their rules:

- the user is the session's, logged in through a configured backend, active, and the
  password hash the session keeps still matches (changing a password ends the other
  sessions);
- the device is the user's own and confirmed, else the session forgets it (the user is
  then not verified);
- the membership is read again on every request, so a removed member, a suspended user or
  a suspended pharmacy loses access at once.
"""

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, load_backend
from django.contrib.auth import SESSION_KEY as USER_KEY
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser
from django.db.models import FilteredRelation, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.middleware import is_verified
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from relais.accounts import acting
from relais.accounts.http import RelaisRequest
from relais.accounts.models import Membership, User
from relais.lib.queries import unique_row

# The device the session was verified with, joined to the user row (TOTP devices only:
# another kind, such as a recovery code's, is read on its own).
SESSION_DEVICE = "session_device"


def totp_device_id(persistent_id: str | None) -> int | None:
    """The id of a TOTP device's persistent id ("otp_totp.totpdevice/12"), else None."""
    label, _, device_id = (persistent_id or "").rpartition("/")
    if label != TOTPDevice._meta.label_lower or not device_id.isdigit():
        return None
    return int(device_id)


def with_session_device(query: QuerySet, user_path: str, device_id: int | None) -> QuerySet:
    """`query` with the TOTP device `device_id` of the user at `user_path` joined on (None
    when it is not that user's)."""
    if device_id is None:
        return query
    prefix = f"{user_path}__" if user_path else ""
    device = FilteredRelation(
        f"{prefix}totpdevice", condition=Q(**{f"{prefix}totpdevice__id": device_id})
    )
    return query.annotate(**{SESSION_DEVICE: device}).select_related(SESSION_DEVICE)


def load_session_user(user_id, pharmacy_id, device_id: int | None):
    """(user, its membership of `pharmacy_id` or None, the joined TOTP device or None):
    one query, a second one only when the membership is gone."""
    if pharmacy_id:
        memberships = Membership.objects.filter(user_id=user_id, pharmacy_id=pharmacy_id)
        query = memberships.select_related("user", "pharmacy")
        membership = unique_row(with_session_device(query, "user", device_id))
        if membership is not None:
            return membership.user, membership, getattr(membership, SESSION_DEVICE, None)
    user = unique_row(with_session_device(User.objects.filter(pk=user_id), "", device_id))
    return user, None, getattr(user, SESSION_DEVICE, None)


def session_hash_holds(request: HttpRequest, user: User) -> bool:
    """Django's session verification (django.contrib.auth.get_user): the session's
    password hash matches the user's; one made with a fallback secret is renewed."""
    session_hash = request.session.get(HASH_SESSION_KEY)
    if not session_hash:
        return False
    current = user.get_session_auth_hash()
    if constant_time_compare(session_hash, current):
        return True
    if any(
        constant_time_compare(session_hash, fallback)
        for fallback in user.get_session_auth_fallback_hash()
    ):
        request.session.cycle_key()
        request.session[HASH_SESSION_KEY] = current
        return True
    return False


def identify(request: HttpRequest) -> tuple[User | None, Device | None, Membership | None]:
    """The request's (user, verifying device, membership); Nones for a visitor."""
    session = request.session
    backend_path = session.get(BACKEND_SESSION_KEY, "")
    if USER_KEY not in session or backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None, None, None
    backend = load_backend(backend_path)
    if not isinstance(backend, ModelBackend):
        raise TypeError(f"{backend_path}: sessions are read the ModelBackend way only")
    user_id = User._meta.pk.to_python(session[USER_KEY])
    persistent_id = session.get(DEVICE_ID_SESSION_KEY)
    device_id = totp_device_id(persistent_id)
    user, membership, device = load_session_user(
        user_id, session.get(acting.SESSION_KEY), device_id
    )
    if user is None or not backend.user_can_authenticate(user):
        return None, None, None
    if not session_hash_holds(request, user):
        session.flush()
        return None, None, None
    if persistent_id and device_id is None:
        device = Device.from_persistent_id(persistent_id)
    if device is None or device.user_id != user.pk or not device.confirmed:
        device = None
        session.pop(DEVICE_ID_SESSION_KEY, None)
    return user, device, membership


class StaffSessionMiddleware:
    """Sets request.user (with django-otp's `otp_device` and `is_verified()`),
    request.membership and request.pharmacy: the pharmacy the session acts for
    (relais.accounts.acting), the scope of every query of the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: RelaisRequest) -> HttpResponse:
        found, device, membership = identify(request)
        user = with_second_factor(found if found is not None else AnonymousUser(), device)
        request.user = user
        request.auser = functools.partial(_as_coroutine, user)
        request.membership = membership
        request.pharmacy = membership.pharmacy if membership else None
        return self.get_response(request)


def with_second_factor(user: Any, device: Device | None) -> Any:
    """`user` with the attributes django-otp's middleware sets: `otp_device` (the device
    that verified this session, or None) and `is_verified()`."""
    user.otp_device = device
    user.is_verified = functools.partial(is_verified, user)
    return user


async def _as_coroutine(user):
    return user
