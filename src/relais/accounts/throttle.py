"""Login lockout: after too many failures an account, and separately a source address,
is locked for a while. Counts live in the database so all processes share them."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from relais.accounts.models import LoginThrottle
from relais.lib.ratelimit import keyed_digest


def throttle_keys(email: str, address: str) -> list[str]:
    # Keyed hashes, like the rate counters': the table must not become a list of e-mail
    # addresses, nor one that hashing every address or a list of e-mails would reverse.
    raw = [f"account:{email.strip().lower()}", f"source:{address}"]
    return [keyed_digest(k) for k in raw]


def locked_until(keys: list[str]) -> datetime | None:
    now = timezone.now()
    _clamp_future_times(keys, now)
    until = (
        LoginThrottle.objects.filter(key__in=keys, locked_until__gt=now)
        .order_by("-locked_until")
        .values_list("locked_until", flat=True)
        .first()
    )
    return until


def _clamp_future_times(keys: list[str], now: datetime) -> None:
    """A lock ending after the longest one a failure sets now, or a failure stamped in the
    future, was written while this host's clock ran ahead (a bad NTP step): unclamped, a
    100-day jump would lock the account for 100 days. Bring them back to now (as
    accounts.otp does for django-otp's throttle)."""
    window = timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    mine = LoginThrottle.objects.filter(key__in=keys)
    mine.filter(locked_until__gt=now + window).update(locked_until=now + window)
    mine.filter(first_failure_at__gt=now).update(first_failure_at=now)


def record_failure(keys: list[str]) -> None:
    now = timezone.now()
    window = timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    with transaction.atomic():
        for key in keys:
            row, _ = LoginThrottle.objects.select_for_update().get_or_create(key=key)
            if row.first_failure_at is None or row.first_failure_at < now - window:
                row.failures, row.first_failure_at = 0, now
            row.failures += 1
            if row.failures >= settings.LOGIN_MAX_FAILURES:
                row.locked_until = now + window
                row.failures, row.first_failure_at = 0, None
            row.save()


def clear_account(keys: list[str]) -> None:
    """A successful login resets the account's counter (not the source's)."""
    LoginThrottle.objects.filter(key=keys[0]).delete()
