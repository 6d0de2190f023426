"""The per-address rate limit, counted in the shared cache."""

import os
import secrets
import subprocess
import sys
import types
import uuid
from pathlib import Path

import pytest
from django.test import Client

from relais.lib import ratelimit

PROJECT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/14"
# The counts live in minute windows: a test that ran across a minute's turn would see
# its count restart, so each one reads a fixed clock (the middle of a minute).
PINNED_CLOCK = 1_800_000_030.0


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch):
    monkeypatch.setattr(ratelimit, "time", types.SimpleNamespace(time=lambda: PINNED_CLOCK))


def test_the_limit_applies_per_address(db, client, settings):
    settings.PATIENT_RATE_LIMIT = 5
    for _ in range(5):
        assert client.get("/r/result/", REMOTE_ADDR="192.0.2.1").status_code == 403
    response = client.get("/r/result/", REMOTE_ADDR="192.0.2.1")
    assert response.status_code == 429
    assert response["Retry-After"] == "30"  # the pinned clock is half-way through its minute
    assert client.get("/r/result/", REMOTE_ADDR="192.0.2.2").status_code == 403


def test_the_limit_counts_date_checks_too(db, client, settings):
    settings.PATIENT_RATE_LIMIT = 3
    client.get(f"/r/{secrets.token_urlsafe(32)}")
    for _ in range(2):
        client.post("/r/open/", {"day": "1", "month": "1", "year": "1990"})
    response = client.post("/r/open/", {"day": "1"})
    assert response.status_code == 429


@pytest.fixture
def redis_cache(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"relais-test-{uuid.uuid4().hex}",
        }
    }
    yield settings.CACHES["default"]["KEY_PREFIX"]


def test_two_clients_share_the_count_through_redis(db, redis_cache, settings):
    settings.PATIENT_RATE_LIMIT = 4
    address = "198.51.100.7"
    first, second = Client(REMOTE_ADDR=address), Client(REMOTE_ADDR=address)
    assert first.get("/r/result/").status_code == 403
    assert second.get("/r/result/").status_code == 403
    assert first.get("/r/result/").status_code == 403
    assert second.get("/r/result/").status_code == 403
    assert first.get("/r/result/").status_code == 429
    assert second.get("/r/result/").status_code == 429


COUNT_IN_ANOTHER_PROCESS = """
import django
from django.conf import settings
django.setup()
settings.CACHES["default"]["KEY_PREFIX"] = {prefix!r}
import types
from relais.lib import ratelimit
ratelimit.time = types.SimpleNamespace(time=lambda: {clock!r})
limit = settings.PATIENT_RATE_LIMIT
print(sum(ratelimit.hit("patient", {address!r}, limit, 60).allowed for _ in range({count})))
"""


def test_the_count_holds_across_processes(db, redis_cache, client, settings):
    settings.PATIENT_RATE_LIMIT = 6
    address = "198.51.100.8"
    code = COUNT_IN_ANOTHER_PROCESS.format(
        prefix=redis_cache, address=address, count=6, clock=PINNED_CLOCK
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "RELAIS_CACHE_URL": REDIS_URL,
        "RELAIS_PATIENT_RATE_LIMIT": "6",
        "PYTHONPATH": f"{PROJECT}{os.pathsep}{PROJECT / 'src'}",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=PROJECT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "6"  # the other process used the whole minute's budget
    assert client.get("/r/result/", REMOTE_ADDR=address).status_code == 429
    assert client.get("/r/result/", REMOTE_ADDR="198.51.100.9").status_code == 403
