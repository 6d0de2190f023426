"""The one request counter: the public account forms, the patient pages and the API all
count their hits here, each with its own scope name, limit and window.

Windows are fixed and aligned on the clock (a one-minute window runs from :00 to :59),
so every process agrees on when one ends and can say so in Retry-After. Counts live in
the shared cache (Redis beyond one machine), so every web process sees the same counts.

When the shared cache fails (Redis down, or slower than its sub-second timeouts), hits are
counted in this process instead, in a bounded table (`LocalCounts`): the pages keep
answering and every limit still holds per process, so N web processes let through at most
N times the limit until Redis is back. The shared cache is tried again after
`SHARED_RETRY_SECONDS`, so a hung Redis costs one timeout per process every few seconds,
not one per request; its failure is logged once a minute.
"""

import functools
import logging
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from time import monotonic  # tests stand a fake in for `time` (the windows), not for this

import redis
from django.conf import settings
from django.core.cache import cache
from django.utils.crypto import salted_hmac
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

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


# Counts one process keeps while the shared cache is away: enough for every source of a
# busy minute; beyond it the least recently hit are forgotten (memory stays bounded).
LOCAL_MAX_KEYS = 50_000
# How long a process counts locally after the shared cache failed before trying it again.
SHARED_RETRY_SECONDS = 5.0
OUTAGE_LOG_SECONDS = 60.0


class LocalCounts:
    """A lock-protected LRU table of counters with expiry, at most `max_keys` of them."""

    def __init__(self, max_keys: int = LOCAL_MAX_KEYS):
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._counts: OrderedDict[str, tuple[int, float]] = OrderedDict()  # key: (count, expiry)

    def incr(self, key: str, timeout: float, now: float, amount: int = 1) -> int:
        with self._lock:
            count, expiry = self._counts.pop(key, (0, 0.0))
            if expiry <= now:
                count, expiry = 0, now + timeout
            self._counts[key] = (count + amount, expiry)
            while len(self._counts) > self.max_keys:
                self._counts.popitem(last=False)
            return count + amount

    def __len__(self) -> int:
        return len(self._counts)


class SharedCacheState:
    """Whether to use the shared cache now, and the once-a-minute log of its outage."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.down_until = 0.0  # monotonic time before which the shared cache is skipped
        self.logged_at: float | None = None
        self.local_hits = 0

    def usable(self, now: float) -> bool:
        return now >= self.down_until

    def failed(self, error: Exception, now: float) -> None:
        with self._lock:
            self.down_until = now + SHARED_RETRY_SECONDS
            if self.logged_at is None or now - self.logged_at >= OUTAGE_LOG_SECONDS:
                log.error("shared cache unreachable (%s): rate limits counted per process "
                          "(%d hits so far)", type(error).__name__, self.local_hits)  # fmt: skip
                self.logged_at = now

    def counted_locally(self) -> None:
        with self._lock:
            self.local_hits += 1

    def recovered(self) -> None:
        with self._lock:
            if self.logged_at is not None:
                log.warning("shared cache reachable again (%d hits counted per process)",
                            self.local_hits)  # fmt: skip
            self.logged_at, self.local_hits = None, 0


local_counts = LocalCounts()
shared_cache = SharedCacheState()


REDIS_BACKEND = "django.core.cache.backends.redis.RedisCache"


@functools.lru_cache(maxsize=8)
def _redis_client(location: str, connect_timeout: float | None, timeout: float | None):
    """One client per process and server, kept: its pool keeps the connection open."""
    return redis.Redis.from_url(
        location, socket_connect_timeout=connect_timeout, socket_timeout=timeout
    )


def shared_redis():
    """The kept client of the shared cache's Redis, or None when the cache is not Redis
    (one process: the local-memory cache of demo mode and tests)."""
    config = settings.CACHES["default"]
    if config["BACKEND"] != REDIS_BACKEND:
        return None
    options = config.get("OPTIONS", {})
    return _redis_client(
        config["LOCATION"], options.get("socket_connect_timeout"), options.get("socket_timeout")
    )


def shared_count(key: str, timeout: int, amount: int = 1) -> int:
    client = shared_redis()
    if client is None:
        if cache.add(key, amount, timeout):
            return amount
        try:
            return cache.incr(key, amount)
        except ValueError:  # culled between add and incr (a full local-memory cache)
            cache.set(key, amount, timeout)
            return amount
    # One round trip: count, and start the key's clock only at its first hit.
    pipeline = client.pipeline(transaction=False)
    pipeline.incrby(cache.make_key(key), amount)
    pipeline.expire(cache.make_key(key), timeout, nx=True)
    count, _expiry_set = pipeline.execute()
    return count


def count_hit(key: str, timeout: int, now: float, amount: int = 1) -> int:
    """The hit's count in its window: in the shared cache, or in this process while the
    shared cache fails."""
    moment = monotonic()
    if shared_cache.usable(moment):
        try:
            count = shared_count(key, timeout, amount)
        except (RedisError, OSError) as error:
            shared_cache.failed(error, moment)
        else:
            if shared_cache.logged_at is not None:
                shared_cache.recovered()
            return count
    shared_cache.counted_locally()
    return local_counts.incr(key, timeout, now, amount)


def hit(scope: str, source: str, limit: int, window_seconds: int, cost: int = 1) -> Verdict:
    """Count `cost` hits of `source` (an address, a credential id) in `scope`; not allowed
    once the window holds more than `limit` hits."""
    now = time.time()
    window = int(now // window_seconds)
    key = f"ratelimit:{scope}:{keyed_digest(source)}:{window}"
    count = count_hit(key, window_seconds + EXPIRY_MARGIN_SECONDS, now, cost)
    retry_after = max(1, math.ceil((window + 1) * window_seconds - now))
    return Verdict(allowed=count <= limit, retry_after=retry_after)
