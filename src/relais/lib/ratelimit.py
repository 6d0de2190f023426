"""The one request counter: the public account forms, the patient pages and the API all
count their hits here, each with its own scope name, limit and window.

Windows are fixed and aligned on the clock (a one-minute window runs from :00 to :59),
so every process agrees on when one ends and can say so in Retry-After. Counts live in
the shared cache (Redis beyond one machine), so every web process sees the same counts.
"""

import math
import time
from dataclasses import dataclass

from django.core.cache import cache
from django.utils.crypto import salted_hmac

KEY_SALT = "relais.lib.ratelimit"
# A key outlives its window a little, so a hit at the very end still finds it.
EXPIRY_MARGIN_SECONDS = 5


def keyed_digest(source: str) -> str:
    """HMAC-SHA256 of `source` under a key derived from SECRET_KEY. Counters and lockouts
    are stored under it: neither the cache nor the database becomes a list of addresses
    or e-mails, and without the key nobody can hash every IPv4 address to find one."""
    return salted_hmac(KEY_SALT, source, algorithm="sha256").hexdigest()


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int  # seconds until the current window ends


def hit(scope: str, source: str, limit: int, window_seconds: int) -> Verdict:
    """Count one hit of `source` (an address, a credential id) in `scope`; not allowed
    once the window holds more than `limit` hits."""
    now = time.time()
    window = int(now // window_seconds)
    key = f"ratelimit:{scope}:{keyed_digest(source)}:{window}"
    timeout = window_seconds + EXPIRY_MARGIN_SECONDS
    if cache.add(key, 1, timeout):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # evicted between add and incr
            cache.set(key, 1, timeout)
            count = 1
    retry_after = max(1, math.ceil((window + 1) * window_seconds - now))
    return Verdict(allowed=count <= limit, retry_after=retry_after)
