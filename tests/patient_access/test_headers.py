"""Every patient page, in every state (errors, PDF and rate limit included), carries the
protective headers."""

import secrets

from django.urls import URLPattern
from django.utils import timezone

from relais.patient_access import links
from relais.patient_access import urls as patient_urls
from relais.patient_access.middleware import PATIENT_HEADERS
from relais.patient_access.models import ResultLink
from tests.support.factories import make_test
from tests.support.patient_pages import OPEN_PATH, open_result, post_date

WRONG = {"day": "1", "month": "1", "year": "1999"}


def assert_patient_headers(response, what: str) -> None:
    for name, value in PATIENT_HEADERS.items():
        assert response.get(name) == value, f"{name} on {what} ({response.status_code})"


def requests_for(name: str, token: str, locked_token: str) -> list[tuple[str, str, dict]]:
    """(method, path, data) for each state of one URL pattern."""
    stranger = secrets.token_urlsafe(32)
    return {
        "link": [
            ("get", f"/r/{token}", {}),
            ("get", f"/r/{stranger}", {}),
            ("get", f"/r/{locked_token}", {}),
            ("post", f"/r/{token}", WRONG),
            ("put", f"/r/{token}", {}),
        ],
        "open": [
            ("get", OPEN_PATH, {}),
            ("post", OPEN_PATH, WRONG),
            ("post", OPEN_PATH, {"day": "nope"}),
            ("put", OPEN_PATH, {}),
        ],
        "result": [("get", "/r/result/", {}), ("post", "/r/result/", {})],
        "result_pdf": [("get", "/r/result/pdf", {})],
        "close": [("post", "/r/close/", {}), ("get", "/r/close/", {})],
        "language": [("post", "/r/language/", {"language": "en", "next": "/r/result/"})],
        "code": [
            ("get", "/r/code/", {}),
            ("post", "/r/code/", {**WRONG, "code": "ABCD-EFGH-JKMN"}),
            ("post", "/r/code/", {"code": "nope"}),
            ("put", "/r/code/", {}),
        ],
        "code_short": [("get", "/r/code", {})],
    }[name]


def test_every_patient_url_pattern_sends_the_headers(client, linked_test, settings):
    settings.PATIENT_RATE_LIMIT = 1000
    test, locked_token = linked_test
    ResultLink.objects.filter(test=test).update(failures=5, locked_at=timezone.now())
    other_test = make_test(test.patient, test.performed_by)
    _, token = links.issue_links([(other_test, [])])[0]
    names = [p.name for p in patient_urls.urlpatterns if isinstance(p, URLPattern)]
    assert set(names) == {
        "link", "open", "result", "result_pdf", "close", "language", "code", "code_short",
    }  # fmt: skip
    for name in names:
        for method, path, data in requests_for(name, token, locked_token):
            response = getattr(client, method)(path, data)
            assert_patient_headers(response, f"{method.upper()} {path} without a session")
    open_result(client, token)
    for name in names:
        for method, path, data in requests_for(name, token, locked_token):
            if name == "close":
                continue  # it would end the session the next pages need
            response = getattr(client, method)(path, data)
            assert_patient_headers(response, f"{method.upper()} {path} with a session")
    pdf = client.get("/r/result/pdf")
    assert pdf.status_code == 200
    assert_patient_headers(pdf, "the PDF")
    assert_patient_headers(client.post("/r/close/"), "close")
    assert_patient_headers(client.get("/r/no/such/page"), "a 404 under /r/")
    right_date = post_date(client, token, test.patient.birth_date)
    assert right_date.status_code == 302
    assert_patient_headers(right_date, "the redirect after the right date")


def test_the_rate_limit_answer_sends_the_headers(client, settings):
    settings.PATIENT_RATE_LIMIT = 1
    client.get("/r/result/")
    response = client.get("/r/result/")
    assert response.status_code == 429
    assert_patient_headers(response, "429")


def test_pharmacist_pages_keep_their_own_policy(pharmacist_client):
    response = pharmacist_client.get("/")
    assert response.get("Referrer-Policy") == "same-origin"
