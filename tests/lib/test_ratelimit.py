"""The one rate counter: clock-aligned fixed windows, keyed hashes of the source."""

import hashlib
import secrets
import types

import pytest
from django.core.cache import cache

from relais.accounts.models import LoginThrottle
from relais.lib import ratelimit
from tests.support.ports import free_port

MINUTE_START = 1_800_000_000.0  # a whole minute on the clock


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def clock(monkeypatch):
    now = types.SimpleNamespace(value=MINUTE_START + 15)
    monkeypatch.setattr(ratelimit, "time", types.SimpleNamespace(time=lambda: now.value))
    return now


def hits(scope, source, limit, count, window=60):
    return [ratelimit.hit(scope, source, limit, window).allowed for _ in range(count)]


def test_the_hit_past_the_limit_is_refused_until_the_window_ends(clock):
    assert hits("s", "192.0.2.1", 3, 4) == [True, True, True, False]
    verdict = ratelimit.hit("s", "192.0.2.1", 3, 60)
    assert not verdict.allowed and verdict.retry_after == 45
    clock.value = MINUTE_START + 59.5
    assert ratelimit.hit("s", "192.0.2.1", 3, 60).retry_after == 1
    clock.value = MINUTE_START + 60  # the next minute starts afresh
    assert hits("s", "192.0.2.1", 3, 3) == [True, True, True]


def test_windows_are_aligned_on_the_clock_whatever_their_length(clock):
    clock.value = MINUTE_START + 3599  # 1_800_000_000 is a whole hour too
    verdict = ratelimit.hit("hourly", "192.0.2.1", 1, 3600)
    assert verdict.allowed and verdict.retry_after == 1


def test_scopes_and_sources_count_apart(clock):
    assert hits("apply", "192.0.2.1", 1, 2) == [True, False]
    assert hits("apply", "192.0.2.2", 1, 1) == [True]
    assert hits("password-reset", "192.0.2.1", 1, 1) == [True]


def test_a_zero_limit_refuses_everything(clock):
    assert hits("closed", "192.0.2.1", 0, 2) == [False, False]


def test_sources_are_keyed_hashes_never_the_plain_or_bare_hashed_address(settings):
    address = "203.0.113.5"
    digest = ratelimit.keyed_digest(address)
    assert digest != hashlib.sha256(address.encode()).hexdigest()
    assert len(digest) == 64 and address not in digest
    settings.SECRET_KEY = secrets.token_urlsafe(50)  # another key, another digest
    assert ratelimit.keyed_digest(address) != digest


def test_the_cache_holds_no_address(clock):
    address = "203.0.113.77"
    ratelimit.hit("patient", address, 5, 60)
    keys = list(cache._cache)  # the local-memory cache of the test settings
    assert keys and not any(address in key for key in keys)
    assert any(ratelimit.keyed_digest(address) in key for key in keys)


def test_a_hostile_source_string_stays_one_short_key(clock):
    # Anything a caller passes (a forged header's leftovers, a huge value) is hashed.
    source = "x" * 10_000 + "\n\x00:ratelimit:*"
    assert hits("s", source, 1, 2) == [True, False]
    assert all(len(key) < 200 for key in cache._cache)


def test_the_login_lockout_stores_the_same_keyed_hashes(client, db, settings):
    client.post(
        "/accounts/login/",
        {"email": "Someone@Example.org", "password": "wrong", "otp_token": "000000"},
        REMOTE_ADDR="198.51.100.3",
    )
    keys = set(LoginThrottle.objects.values_list("key", flat=True))
    assert keys == {
        ratelimit.keyed_digest("account:someone@example.org"),
        ratelimit.keyed_digest("source:198.51.100.3"),
    }


@pytest.fixture
def unreachable_shared_cache(settings, monkeypatch):
    """Redis configured where nothing listens (a real connection refusal), and fresh
    fallback state, so no other test inherits this one's outage."""
    monkeypatch.setattr(ratelimit, "shared_cache", ratelimit.SharedCacheState())
    monkeypatch.setattr(ratelimit, "local_counts", ratelimit.LocalCounts(max_keys=3))
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
        }
    }


def test_without_the_shared_cache_limits_hold_in_the_process(
    unreachable_shared_cache, clock, caplog
):
    assert hits("s", "192.0.2.1", 2, 3) == [True, True, False]
    assert hits("s", "192.0.2.2", 2, 1) == [True]
    assert caplog.text.count("shared cache unreachable (ConnectionError)") == 1
    clock.value = MINUTE_START + 60  # a new window
    assert hits("s", "192.0.2.1", 2, 1) == [True]


def test_the_per_process_table_forgets_the_least_recently_hit_beyond_its_size(
    unreachable_shared_cache, clock
):
    for source in ("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"):
        ratelimit.hit("s", source, 1, 60)
    assert len(ratelimit.local_counts) == 3
    assert hits("s", "192.0.2.1", 1, 1) == [True]  # forgotten: bounded memory, not a leak
    assert hits("s", "192.0.2.4", 1, 1) == [False]


@pytest.fixture
def real_redis(settings):
    """The machine's Redis, in a database of this test's own, emptied before and after."""
    import redis

    location = "redis://127.0.0.1:6379/13"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": location,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    client = redis.Redis.from_url(location)
    client.flushdb()
    yield client
    client.flushdb()


def test_with_redis_a_hit_is_two_commands_on_one_kept_client(real_redis, clock):
    def commands() -> int:
        return sum(stats["calls"] for stats in real_redis.info("commandstats").values())

    assert hits("s", "192.0.2.9", 2, 1) == [True]  # connects the kept client
    before = commands()
    assert hits("s", "192.0.2.9", 2, 2) == [True, False]
    assert commands() - before - 1 == 4  # INCR + EXPIRE NX per hit (INFO counts itself)
    assert ratelimit.shared_redis() is ratelimit.shared_redis()
    [key] = real_redis.keys("*ratelimit:s:*")
    assert 0 < real_redis.ttl(key) <= 60 + ratelimit.EXPIRY_MARGIN_SECONDS
    # The key's clock starts at its first hit: a later hit's EXPIRE NX leaves it alone.
    real_redis.expire(key, 5)
    hits("s", "192.0.2.9", 2, 1)
    assert 0 < real_redis.ttl(key) <= 5
    clock.value = MINUTE_START + 60  # a new window, a new key
    assert hits("s", "192.0.2.9", 2, 1) == [True]
