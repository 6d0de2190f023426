"""Every endpoint refuses what it must: no, bad or revoked credentials, another
pharmacy's ids, oversized or malformed bodies, wrong types and unknown fields."""

import json

import pytest
from django.test import override_settings

from relais.api.credentials import revoke, set_read_all
from relais.screening.models import ScreeningTest
from tests.support.factories import API, ApiClient, make_patient, make_test
from tests.support.fictitious import api_submission

PROBLEM = "application/problem+json"


@pytest.fixture
def their_test(other_pharmacy, other_pharmacist):
    return make_test(make_patient(other_pharmacy, other_pharmacist), other_pharmacist)


def endpoints(test_id):
    correction = api_submission()["test"]
    return [
        ("post", "/tests", api_submission()),
        ("get", "/tests", None),
        ("get", f"/tests/{test_id}", None),
        ("post", f"/tests/{test_id}/correction", correction),
        ("post", "/tests/batch", {"items": [api_submission()]}),
    ]


ENDPOINT_COUNT = 5


def call(api, method, path, body):
    return api.post(path, body) if method == "post" else api.get(path)


def assert_problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert set(body) == {"type", "title", "status", "detail", "instance", "errors"}
    return body


@pytest.mark.django_db
@pytest.mark.parametrize("index", range(ENDPOINT_COUNT))
def test_no_credentials(client, screening_test, index):
    method, path, body = endpoints(screening_test.pk)[index]
    response = call(ApiClient(client, None), method, path, body)
    assert_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
@pytest.mark.parametrize("index", range(ENDPOINT_COUNT))
@pytest.mark.parametrize(
    "token",
    ["nonsense", "rl_abcdefgh_wrongsecret", "rl_", "Basic abc", "rl_" + "x" * 300],
)
def test_invalid_credentials(client, screening_test, index, token):
    method, path, body = endpoints(screening_test.pk)[index]
    response = call(ApiClient(client, token), method, path, body)
    assert_problem(response, 401)


@pytest.mark.django_db
@pytest.mark.parametrize("index", range(ENDPOINT_COUNT))
def test_revoked_credentials(api, credential, screening_test, index):
    revoke(credential)
    count = ScreeningTest.objects.count()
    method, path, body = endpoints(screening_test.pk)[index]
    assert_problem(call(api, method, path, body), 401)
    assert ScreeningTest.objects.count() == count


@pytest.mark.django_db
def test_right_prefix_wrong_secret(client, credential_and_token):
    credential, token = credential_and_token
    forged = token[: len("rl_") + 9] + "A" * 43
    assert_problem(ApiClient(client, forged).get("/tests"), 401)


@pytest.mark.django_db
def test_suspended_pharmacy(api, pharmacy):
    pharmacy.status = pharmacy.Status.SUSPENDED
    pharmacy.save()
    assert_problem(api.get("/tests"), 401)


@pytest.mark.django_db
def test_another_pharmacy_test_is_not_found(api, their_test):
    assert_problem(api.get(f"/tests/{their_test.pk}"), 404)
    correction = api_submission(result="positive")["test"]
    assert_problem(api.post(f"/tests/{their_test.pk}/correction", correction), 404)
    their_test.refresh_from_db()
    assert their_test.result == "negative"


@pytest.mark.django_db
def test_another_pharmacy_tests_are_not_listed(api, credential, their_test, screening_test):
    set_read_all(credential, True)  # every test of its own pharmacy, and no other's
    ids = [item["id"] for item in api.get("/tests").json()["items"]]
    assert ids == [str(screening_test.pk)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/tests/not-a-uuid", "/nothing", "/tests/1/correction", "/tests/k%0A%C3%B0"]
)
def test_unknown_addresses_are_problems(api, path):
    assert_problem(api.get(path), 404)


@pytest.mark.django_db
def test_unknown_address_answers_a_post_with_a_problem(client):
    client = type(client)(enforce_csrf_checks=True)
    assert_problem(client.post(f"{API}/tests/x/y", "{}", content_type="application/json"), 404)


@pytest.mark.django_db
def test_wrong_method_is_a_problem(api, screening_test):
    response = api.client.delete(f"{API}/tests", headers=api.headers({}))
    assert_problem(response, 405)


def post_endpoints(test):
    return ["/tests", f"/tests/{test.pk}/correction"]


@pytest.mark.django_db
@pytest.mark.parametrize("which", [0, 1])
@override_settings(API_MAX_BODY_BYTES=2048)
def test_oversized_body(api, screening_test, which):
    path = post_endpoints(screening_test)[which]
    body = api_submission() if which == 0 else api_submission()["test"]
    body["padding"] = "x" * 4096
    count = ScreeningTest.objects.count()
    problem = assert_problem(api.post(path, body), 413)
    assert "2048" in problem["detail"]
    assert ScreeningTest.objects.count() == count


@pytest.mark.django_db
@override_settings(API_MAX_BODY_BYTES=2048)
def test_body_larger_than_its_content_length(api):
    """The limit holds on what is read, not only on what the header claims."""
    raw = json.dumps({**api_submission(), "padding": "x" * 4096}).encode()
    response = api.client.generic(
        "POST",
        f"{API}/tests",
        raw,
        content_type="application/json",
        headers=api.headers({}),
        CONTENT_LENGTH="100",
    )
    assert response.status_code in (400, 413)
    assert response["Content-Type"] == PROBLEM


@pytest.mark.django_db
@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("raw", [b"{", b"not json", b"\xff\xfe", b'{"patient": }', b""])
def test_malformed_json(api, screening_test, which, raw):
    path = post_endpoints(screening_test)[which]
    assert_problem(api.post(path, raw=raw), 400)


@pytest.mark.django_db
@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type(api, screening_test, which, content_type):
    path = post_endpoints(screening_test)[which]
    raw = json.dumps(api_submission()).encode()
    assert_problem(api.post(path, raw=raw, content_type=content_type), 415)


@pytest.mark.django_db
def test_wrong_types_in_a_new_test(api):
    body = api_submission()
    body["patient"]["birth_name"] = 42
    body["test"]["symptoms"] = "yes"
    body["test"]["consent_transmission"] = None
    problem = assert_problem(api.post("/tests", body), 422)
    fields = {error["field"] for error in problem["errors"]}
    assert {"/patient/birth_name", "/test/symptoms", "/test/consent_transmission"} <= fields
    assert ScreeningTest.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("body", [[], "text", 3, None, {"patient": [], "test": {}}])
def test_wrong_shapes(api, body):
    assert_problem(api.post("/tests", body), 422)


@pytest.mark.django_db
def test_wrong_types_in_a_correction(api, screening_test):
    body = api_submission()["test"]
    body["result"] = ["positive"]
    problem = assert_problem(api.post(f"/tests/{screening_test.pk}/correction", body), 422)
    assert [error["field"] for error in problem["errors"]] == ["/result"]


@pytest.mark.django_db
def test_unknown_fields(api, screening_test):
    body = api_submission()
    body["patient"]["favourite_colour"] = "blue"
    body["extra"] = 1
    problem = assert_problem(api.post("/tests", body), 422)
    fields = {(error["field"], error["code"]) for error in problem["errors"]}
    assert fields == {
        ("/patient/favourite_colour", "extra_forbidden"),
        ("/extra", "extra_forbidden"),
    }
    correction = {**api_submission()["test"], "comment": "x"}
    problem = assert_problem(api.post(f"/tests/{screening_test.pk}/correction", correction), 422)
    assert problem["errors"][0]["field"] == "/comment"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params", [{"since": "yesterday"}, {"limit": "0"}, {"limit": "1000"}, {"cursor": "forged"}]
)
def test_bad_list_parameters(api, params):
    problem = assert_problem(api.get("/tests", **params), 422)
    assert problem["errors"][0]["field"] == next(iter(params))


@pytest.mark.django_db
@override_settings(API_RATE_LIMIT=3)
def test_rate_limit_per_credential(api, other_api, monkeypatch):
    import types

    from django.core.cache import cache

    from relais.lib import ratelimit

    # Ten seconds into a minute: the four requests share one window.
    clock = types.SimpleNamespace(time=lambda: 1_800_000_010.0)
    monkeypatch.setattr(ratelimit, "time", clock)
    cache.clear()
    for _ in range(3):
        assert api.get("/tests").status_code == 200
    response = api.get("/tests")
    assert_problem(response, 429)
    assert response["Retry-After"] == "50"
    assert other_api.get("/tests").status_code == 200


@pytest.mark.django_db
def test_credential_use_is_recorded(api, credential):
    assert credential.last_used_at is None
    api.get("/tests")
    credential.refresh_from_db()
    assert credential.last_used_at is not None


@pytest.mark.django_db
def test_a_server_error_is_a_problem_without_a_trace(api, monkeypatch, caplog):
    """A bug must not leak a trace or the data that caused it (here a crash while saving)."""
    from relais.screening import services

    def crash(*args, **kwargs):
        raise RuntimeError("secret detail 285037505612306")

    monkeypatch.setattr(services, "record_tests", crash)
    response = api.post("/tests", api_submission())
    body = assert_problem(response, 500)
    assert "secret" not in response.content.decode() and "Traceback" not in body["detail"]
    assert "285037505612306" not in caplog.text
    assert ScreeningTest.objects.count() == 0
