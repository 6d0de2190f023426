"""Retry policy: which failures are tried again, and when.

Transport errors, timeouts, 5xx answers and unreadable acknowledgements are SI-DEP's
or the network's trouble: the same message is sent again later (same MSH-10, so the
receiver keeps one copy). A 4xx answer or an AE/AR acknowledgement means SI-DEP read the
message and refused it: sending it again unchanged would fail again, so it becomes
"rejected" and waits for the pharmacist's correction.
"""

import datetime
import random

from django.conf import settings

from relais.transmission import transport

RETRY = "retry"
REJECT = "reject"

# Failures tried again; anything else is a bug of ours and propagates (the row's lease
# then expires and it is tried again, counted as an attempt).
RETRYABLE_ERRORS = (transport.TransportError, transport.ServerError, transport.AckError)
REJECTING_ERRORS = (transport.ClientError,)


def classify(error: Exception) -> str | None:
    if isinstance(error, REJECTING_ERRORS):
        return REJECT
    if isinstance(error, RETRYABLE_ERRORS):
        return RETRY
    return None


def backoff_seconds(attempts: int, *, base: float, cap: float, rng=random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^(n-1))]
    after the n-th failed attempt, so a crowd of rows does not retry in step."""
    exponent = min(max(attempts - 1, 0), 62)  # 2**62 seconds is past any cap
    return rng.uniform(0, min(cap, base * 2**exponent))


def next_attempt_at(attempts: int, now: datetime.datetime) -> datetime.datetime:
    delay = backoff_seconds(
        attempts,
        base=settings.TRANSMISSION_BACKOFF_BASE_SECONDS,
        cap=settings.TRANSMISSION_BACKOFF_MAX_SECONDS,
    )
    return now + datetime.timedelta(seconds=delay)


def gives_up(attempts: int) -> bool:
    return attempts >= settings.TRANSMISSION_MAX_ATTEMPTS
