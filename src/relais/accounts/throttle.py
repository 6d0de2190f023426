"""Login lockout that does not punish a team.

Failures are counted twice, in the database so every web process shares the counts:

- per account: LOGIN_MAX_FAILURES failures within LOGIN_LOCKOUT_MINUTES lock the account
  for LOGIN_LOCKOUT_MINUTES, whatever address the next attempt comes from;
- per source address: a pharmacy's whole team logs in from its one public address (and
  every client of a proxy shares one), so an address is only slowed by its failures
  (`source_delay`: beyond LOGIN_SOURCE_SLOW_AFTER failures each attempt from it waits,
  0.25 s doubling up to LOGIN_SOURCE_MAX_DELAY_SECONDS, before its credentials are even
  looked at) and is blocked only after LOGIN_SOURCE_MAX_FAILURES failures: the count an
  address spraying many accounts reaches, never a team's typos.

So a colleague's correct password and code are never refused because of someone else's
mistakes from the same address, while guessing one account stops after a few tries and
spraying many stops at the address.
"""

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from relais.accounts.models import LoginThrottle
from relais.lib.ratelimit import keyed_digest

# The first wait of a slowed address; each further failure doubles it, up to the setting.
FIRST_DELAY_SECONDS = 0.25


@dataclass(frozen=True)
class LoginKeys:
    account: str
    source: str

    def both(self) -> list[str]:
        return [self.account, self.source]


def throttle_keys(email: str, address: str) -> LoginKeys:
    # Keyed hashes, like the rate counters': the table must not become a list of e-mail
    # addresses, nor one that hashing every address or a list of e-mails would reverse.
    return LoginKeys(
        account=keyed_digest(f"account:{email.strip().lower()}"),
        source=keyed_digest(f"source:{address}"),
    )


def window() -> timedelta:
    return timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)


def locked_until(keys: LoginKeys) -> datetime | None:
    """When the account's lock, or the address's block, ends; None if neither holds."""
    now = timezone.now()
    _clamp_future_times(keys, now)
    until = (
        LoginThrottle.objects.filter(key__in=keys.both(), locked_until__gt=now)
        .order_by("-locked_until")
        .values_list("locked_until", flat=True)
        .first()
    )
    return until


def _clamp_future_times(keys: LoginKeys, now: datetime) -> None:
    """A lock ending after the longest one a failure sets now, or a failure stamped in the
    future, was written while this host's clock ran ahead (a bad NTP step): unclamped, a
    100-day jump would lock the account for 100 days. Bring them back to now (as
    accounts.otp does for django-otp's throttle)."""
    mine = LoginThrottle.objects.filter(key__in=keys.both())
    mine.filter(locked_until__gt=now + window()).update(locked_until=now + window())
    mine.filter(first_failure_at__gt=now).update(first_failure_at=now)


def delay_after(failures: int) -> float:
    """Seconds an attempt waits once its address has `failures` recent failures."""
    beyond = failures - settings.LOGIN_SOURCE_SLOW_AFTER
    if beyond <= 0:
        return 0.0
    # The exponent is bounded: a block threshold set in the thousands must not overflow.
    doubled = FIRST_DELAY_SECONDS * 2 ** min(beyond - 1, 30)
    return min(settings.LOGIN_SOURCE_MAX_DELAY_SECONDS, doubled)


def source_delay(keys: LoginKeys) -> float:
    row = LoginThrottle.objects.filter(key=keys.source).first()
    if row is None or row.first_failure_at is None:
        return 0.0
    if row.first_failure_at < timezone.now() - window():
        return 0.0  # the failures are older than the window: forgotten
    return delay_after(row.failures)


def slow_down(keys: LoginKeys) -> None:
    """Hold this attempt as long as its address has earned, before its credentials are
    checked: the answer cannot come early, whatever the credentials. Called outside any
    transaction, so the wait holds no database lock."""
    delay = source_delay(keys)
    if delay > 0:
        time.sleep(delay)


def record_failure(keys: LoginKeys) -> None:
    now = timezone.now()
    limits = {
        keys.account: settings.LOGIN_MAX_FAILURES,
        keys.source: settings.LOGIN_SOURCE_MAX_FAILURES,
    }
    with transaction.atomic():
        for key, limit in limits.items():
            row, _ = LoginThrottle.objects.select_for_update().get_or_create(key=key)
            if row.first_failure_at is None or row.first_failure_at < now - window():
                row.failures, row.first_failure_at = 0, now
            row.failures += 1
            if row.failures >= limit:
                row.locked_until = now + window()
                row.failures, row.first_failure_at = 0, None
            row.save()


def clear_account(keys: LoginKeys) -> None:
    """A successful login resets the account's counter, not the address's: one valid
    account must not let an address wipe the failures it sprayed on others."""
    LoginThrottle.objects.filter(key=keys.account).delete()


def lockout_message(until: datetime) -> str:
    """What a locked-out form says: when to try again, nothing about the account."""
    local = timezone.localtime(until)
    return _("Too many failed attempts. Try again after %(time)s.") % {
        "time": formats.time_format(local, "H:i")
    }
