import datetime
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.core.cache import cache

from relais.patient_access import links
from tests.conftest import PATIENT_DATA, make_patient, make_test

BIRTH_DATE = PATIENT_DATA["birth_date"]


@pytest.fixture(autouse=True)
def fresh_rate_limit_counts():
    """The rate limiter counts in the cache: each test starts from zero."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def linked_test(patient, pharmacist):
    """A test whose patient chose SMS: (test, token) of the link that was issued."""
    pharmacist.full_name = "Claire Dubois"
    pharmacist.save()
    test = make_test(patient, pharmacist, notify_by="sms", result="positive")
    notification = test.result_links.get().notifications.get()
    return test, notification.token


def in_english(client):
    """The interface is French until the language switch's cookie says otherwise."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def date_fields(date: datetime.date) -> dict:
    return {"day": str(date.day), "month": str(date.month), "year": str(date.year)}


def post_date(client, token: str, date: datetime.date, **extra):
    return client.post(f"/r/{token}", date_fields(date), **extra)


def open_result(client, token: str):
    response = post_date(client, token, BIRTH_DATE)
    assert response.status_code == 302, response.status_code
    assert response["Location"] == "/r/result/"
    return response


def issue(test):
    return links.issue_links([(test, [])])[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmsProvider:
    """A real HTTP server playing an SMS provider: records requests, answers `status`."""

    def __init__(self):
        self.requests: list[dict] = []
        self.status = 200
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                provider.requests.append(
                    {"headers": dict(self.headers), "body": self.rfile.read(length)}
                )
                self.send_response(provider.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/messages"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sms_provider(settings):
    with SmsProvider() as provider:
        settings.SMS_BACKEND = "http"
        settings.SMS_URL = provider.url
        settings.SMS_TOKEN = "test-provider-token"
        settings.SMS_TIMEOUT_SECONDS = 5
        yield provider


@pytest.fixture
def patient_b(pharmacy, pharmacist):
    return make_patient(
        pharmacy,
        pharmacist,
        birth_name="Bernard",
        used_name="",
        given_names="Paul",
        birth_date=datetime.date(1990, 7, 2),
        nir="",
        phone="+33698765432",
        email="paul.bernard@example.org",
    )
