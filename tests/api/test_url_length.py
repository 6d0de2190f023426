"""An over-long URL: a problem under /api/, the bad-request page elsewhere, from the real
gunicorn with the shipped settings (whose own limit, an HTML page, is above ours)."""

import httpx
import pytest

from relais.api.middleware import MAX_URL_BYTES
from tests.support.ports import free_port
from tests.support.servers import PROJECT_DIR, WebServer, clean_env, gunicorn_command

pytestmark = pytest.mark.slow  # a web server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("url-length")
    env = clean_env(RELAIS_DEMO="1", RELAIS_VAR_DIR=str(root / "var"), PYTHONPATH=str(PROJECT_DIR))
    port = free_port()
    argv = [*gunicorn_command(port, workers=1), "-c", "python:relais.gunicorn_config"]
    web = WebServer(argv, port, env, PROJECT_DIR, root / "gunicorn.log").start()
    yield web.url
    web.stop()


def target_of(path: str, length: int) -> str:
    """`path` with a query string making a request target of `length` bytes."""
    return f"{path}?pad={'x' * (length - len(path) - len('?pad='))}"


def test_an_api_url_at_the_limit_is_served_one_byte_more_is_a_problem(server):
    at_limit = httpx.get(server + target_of("/api/v1/health", MAX_URL_BYTES))
    assert at_limit.status_code == 200
    assert at_limit.json() == {"status": "ok"}

    over = httpx.get(server + target_of("/api/v1/health", MAX_URL_BYTES + 1))
    assert over.status_code == 414
    assert over.headers["Content-Type"] == "application/problem+json"
    problem = over.json()
    assert problem["type"] == "/api/v1/docs#problem-uri-too-long"
    assert problem["status"] == 414
    assert f"{MAX_URL_BYTES}" in problem["detail"]


def test_an_api_url_near_gunicorns_own_limit_is_still_a_problem(server):
    # gunicorn_config sets its request-line limit to 8190 bytes, the request line being
    # "GET <target> HTTP/1.1".
    over = httpx.get(server + target_of("/api/v1/tests", 8190 - len("GET  HTTP/1.1")))
    assert over.status_code == 414
    assert over.headers["Content-Type"] == "application/problem+json"


def test_a_page_url_over_the_limit_gets_the_bad_request_page(server):
    at_limit = httpx.get(server + target_of("/accounts/login/", MAX_URL_BYTES))
    assert at_limit.status_code == 200

    over = httpx.get(server + target_of("/accounts/login/", MAX_URL_BYTES + 1))
    assert over.status_code == 414
    assert over.headers["Content-Type"].startswith("text/html")
    assert "<h1>Requête incorrecte</h1>" in over.text
