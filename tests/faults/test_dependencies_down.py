"""Issue 13, item 9: with Redis or PostgreSQL down or frozen, the API and the patient pages
answer quickly: rate limits fall back to a bounded per-process count when Redis fails;
a database that cannot answer gives 503 with Retry-After (an RFC 9457 problem for the
API, a page for the web), never a 500 or a hang; and everything works again once the
server is back, without restarting Relais.

The real server (gunicorn, one sync worker, as the demo runs it) on a private PostgreSQL
cluster (tests/faults/conftest.py) and a private Redis, which the tests kill, stop and
freeze (SIGSTOP: connections stay open, nothing answers).
"""

import json
import subprocess
import sys
import time

import httpx
import pytest

from tests.support.instances import MIGRATED_TEMPLATE, private_redis
from tests.support.live import identity
from tests.support.servers import PROJECT_DIR, clean_env, start_gunicorn

pytestmark = pytest.mark.slow  # private servers and a web server

FINESS = "750000303"
STATEMENT_TIMEOUT_SECONDS = 1
# Redis: one sub-second timeout at most. PostgreSQL stopped: a refused connection.
# PostgreSQL frozen: the health check of the connection kept from the last request runs
# into the client-side deadline (statement timeout 1 s + grace 2 s), then the new
# connection into the connect timeout (2 s); plus room for a busy machine.
REDIS_DOWN_BOUND = 1.0
DATABASE_DOWN_BOUND = 8.0
# Low enough to reach quickly, above the few patient-page requests the tests make from
# 127.0.0.1 in a minute.
PATIENT_RATE_LIMIT = 15


@pytest.fixture(scope="module")
def redis():
    with private_redis() as instance:
        yield instance


@pytest.fixture(scope="module")
def server(postgres, redis, tmp_path_factory):
    """A seeded Relais on the private servers: its URL, an API token and a result link."""
    root = tmp_path_factory.mktemp("dependencies")
    env = clean_env(
        RELAIS_DEMO="1",
        RELAIS_VAR_DIR=str(root / "var"),
        RELAIS_DATABASE_URL=postgres.clone(MIGRATED_TEMPLATE, "relais_dependencies"),
        RELAIS_CACHE_URL=redis.url(),
        RELAIS_DATABASE_STATEMENT_TIMEOUT=str(STATEMENT_TIMEOUT_SECONDS),
        RELAIS_DATABASE_CONNECT_TIMEOUT="2",
        RELAIS_PATIENT_RATE_LIMIT=str(PATIENT_RATE_LIMIT),
        PYTHONPATH=str(PROJECT_DIR),
        PYTHONUNBUFFERED="1",
    )
    spec = {
        "pharmacies": {"p": {"name": "Pharmacie Gamma", "finess": FINESS, "address": "3 rue C"}},
        "users": {
            "pharmacist": {
                "email": "gamma@faults.test",
                "password": "x" * 24,
                "totp_key": "00" * 20,
                "pharmacy": "p",
                "role": "pharmacist",
            },
        },
        "patients": {
            "p1": {
                "pharmacy": "p",
                "author": "pharmacist",
                "data": identity(
                    "Vernouillet",
                    "",
                    "Aubin",
                    "1970-05-06",
                    "M",
                    311,
                    "+33611223344",
                    "aubin.vernouillet@example.org",
                    "5 rue des Loriots",
                ),
            },
        },
        "api_credentials": {"lgo": "p"},
    }
    # Seeding and the web server's start overlap (each is mostly Python starting up).
    seeding = subprocess.Popen(  # noqa: S603 (our own command line)
        [sys.executable, "-m", "tests.support.backstage", "seed"], env=env, cwd=root,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    web = start_gunicorn(env, root / "gunicorn.log", workers=1)
    stdout, stderr = seeding.communicate(json.dumps(spec), timeout=120)
    assert seeding.returncode == 0, stderr[-3000:]
    seeded = json.loads(stdout)
    token = seeded["api_tokens"]["lgo"]
    yield {"url": web.url, "token": token, "link": f"/r/{seeded['links']['p1']}"}
    web.stop()


def timed_get(server, path: str, source: str = "127.0.0.1", api: bool = False):
    headers = {"Authorization": f"Bearer {server['token']}"} if api else {}
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=server["url"], transport=transport, timeout=60) as client:
        started = time.monotonic()
        response = client.get(path, headers=headers)
        return response, time.monotonic() - started


def api_list(server):
    return timed_get(server, "/api/v1/tests", api=True)


def patient_page(server, source: str = "127.0.0.1"):
    return timed_get(server, server["link"], source)


def limited_within(server, source: str, most: int) -> bool:
    """Whether `source` gets a 429 on the patient pages within `most` requests."""
    return any(patient_page(server, source)[0].status_code == 429 for _ in range(most))


def assert_works(server) -> None:
    assert api_list(server)[0].status_code == 200
    assert patient_page(server)[0].status_code in (200, 302, 303)


def test_with_redis_killed_pages_answer_and_limits_still_hold(server, redis):
    assert_works(server)
    redis.kill()
    try:
        for ask in (api_list, patient_page):
            response, seconds = ask(server)
            assert response.status_code in (200, 302, 303), ask.__name__
            assert seconds < REDIS_DOWN_BOUND, ask.__name__
        # Counted in the process, still limited: one address past the limit gets 429
        # (a window may end meanwhile: then it takes up to one more round of hits).
        assert limited_within(server, "127.0.0.9", 2 * PATIENT_RATE_LIMIT + 2)
    finally:
        redis.start()
    assert_works(server)


def test_with_redis_frozen_each_request_costs_under_a_second(server, redis):
    redis.freeze()
    try:
        for ask in (api_list, patient_page, api_list):
            response, seconds = ask(server)
            assert response.status_code in (200, 302, 303), ask.__name__
            assert seconds < REDIS_DOWN_BOUND, ask.__name__
    finally:
        redis.thaw()
    assert_works(server)


def assert_unavailable(server) -> None:
    response, seconds = api_list(server)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("#problem-unavailable")
    assert int(response.headers["Retry-After"]) > 0
    assert seconds < DATABASE_DOWN_BOUND

    response, seconds = patient_page(server)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>" in response.text and "Traceback" not in response.text
    assert int(response.headers["Retry-After"]) > 0
    assert seconds < DATABASE_DOWN_BOUND


def test_with_postgresql_stopped_answers_are_503_then_work_again(server, postgres):
    assert_works(server)
    postgres.stop()
    try:
        assert_unavailable(server)
    finally:
        postgres.start()
    assert_works(server)


def test_with_postgresql_frozen_answers_are_503_within_the_deadline(server, postgres):
    assert_works(server)  # the web process now holds an open connection
    postgres.freeze()
    try:
        assert_unavailable(server)
    finally:
        postgres.thaw()
    assert_works(server)
