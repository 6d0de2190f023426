"""Second-factor verification, with django-otp's throttling kept honest about time.

django-otp slows down guessing by refusing a device's codes until
`throttling_failure_timestamp` + factor × 2^(failures-1) seconds. That timestamp is the
web host's clock at the last failure: failures recorded while the clock had jumped ahead
(say to 2027) would lock the user out until then. A failure cannot have happened in the
future, so such a timestamp is brought back to now before the check: the usual delay
applies from now, and the lock no longer outlives the clock jump.
"""

from django.utils import timezone


def clamp_future_throttle(device) -> bool:
    """Bring a throttling timestamp that lies in the future back to now; True if it did."""
    now = timezone.now()
    stamp = getattr(device, "throttling_failure_timestamp", None)
    if stamp is None or stamp <= now:
        return False
    device.throttling_failure_timestamp = now
    device.save(update_fields=["throttling_failure_timestamp"])
    return True


def verify_device_token(device, token: str) -> bool:
    """`device.verify_token(token)` after clamping its throttle: every second-factor check
    goes through here."""
    clamp_future_throttle(device)
    return device.verify_token(token)
