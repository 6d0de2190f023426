"""Each place the OpenAPI document was once looser than the server (found by schemathesis
with every check, or by review): the document now says what the server does, and the
server does what the document says."""

import jsonschema_rs
import pytest

from relais.screening import catalogue
from tests.support.fictitious import api_submission

pytestmark = pytest.mark.django_db


@pytest.fixture
def document(client):
    return client.get("/api/v1/openapi.json").json()


def component(document, name: str) -> dict:
    return document["components"]["schemas"][name]


def parameter(document, method: str, path: str, name: str) -> dict:
    operation = document["paths"][f"/api/v1{path}"][method]
    [found] = [p for p in operation["parameters"] if p["name"] == name]
    return found["schema"]


def valid(schema: dict, value) -> bool:
    return jsonschema_rs.validator_for(schema, validate_formats=True).is_valid(value)


def fields(response) -> set[tuple[str, str]]:
    assert response.status_code == 422, response.content
    return {(error["field"], error["code"]) for error in response.json()["errors"]}


def test_since_is_a_real_rfc3339_time_and_any_such_time_is_served(api, document):
    schema = parameter(document, "get", "/tests", "since")
    for impossible in ("2026-13-01T00:00:00Z", "2026-02-30T10:00:00Z", "2026-01-01T24:00:00Z"):
        assert not valid(schema, impossible)
        assert {field for field, _ in fields(api.get("/tests", since=impossible))} == {"since"}
    # Once a 500: the offset took the time out of Python's years.
    for extreme in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"):
        assert valid(schema, extreme)
        for name in ("since", "updated_since"):
            assert api.get("/tests", **{name: extreme}).status_code == 200


def test_idempotency_key_characters_are_stated(api, document):
    schema = parameter(document, "post", "/tests", "Idempotency-Key")
    for refused in ("", "   ", "tab\there", "x" * 256):
        assert not valid(schema, refused)
        response = api.post("/tests", api_submission(), headers={"Idempotency-Key": refused})
        assert response.status_code == 422
    assert valid(schema, "clé ok 1") and valid(schema, "x" * 255)


def test_other_results_name_only_the_analytes_and_results_there_are(api, document):
    schema = component(document, "TestIn")["properties"]["other_results"]
    assert set(schema["propertyNames"]["enum"]) == set(catalogue.SECONDARY_ANALYTES)
    assert set(schema["additionalProperties"]["enum"]) == set(catalogue.RESULTS)
    unknown = api.post("/tests", api_submission(other_results={"pollen": "negative"}))
    assert ("/test/other_results/pollen", "literal_error") in fields(unknown)
    maybe = api.post("/tests", api_submission(other_results={"rsv_antigen": "maybe"}))
    assert ("/test/other_results/rsv_antigen", "literal_error") in fields(maybe)


def test_a_multiplex_kits_missing_result_is_pointed_at_in_the_body(api):
    body = api_submission(kind="sars_cov_2_influenza_ab_antigen", other_results={})
    pointers = {field for field, _ in fields(api.post("/tests", body))}
    assert "/test/other_results/influenza_a_antigen" in pointers
    assert not any("result__" in pointer for pointer in pointers)


@pytest.mark.parametrize("section", ["patient", "test"])
def test_every_stated_length_is_the_servers(api, document, section):
    schema = component(document, "PatientIn" if section == "patient" else "NewTestIn")
    limits = {
        name: field["maxLength"]
        for name, field in schema["properties"].items()
        if "maxLength" in field
    }
    assert len(limits) >= (10 if section == "patient" else 4)
    for name, limit in limits.items():
        body = api_submission()
        body[section][name] = "7" * (limit + 1)
        assert (f"/{section}/{name}", "string_too_long") in fields(api.post("/tests", body))


@pytest.mark.parametrize(
    "section, name, refused",
    [
        ("patient", "birth_date", "2001-02-30"),
        ("patient", "postal_code", "7501"),
        ("patient", "birthplace_code", "2C123"),
        ("patient", "birth_name", ""),
        ("patient", "address", "1 rue\x00"),
        ("test", "lot", "A\x00"),
        ("test", "performer_rpps", "1000123456"),
        ("test", "sampled_at", "2026-11-27T25:00"),
        ("test", "lot_expiry", "2027-13-01"),
    ],
)
def test_stated_formats_are_the_servers(api, document, section, name, refused):
    schema = component(document, "PatientIn" if section == "patient" else "NewTestIn")
    assert not valid(schema["properties"][name], refused)
    body = api_submission()
    body[section][name] = refused
    assert any(field == f"/{section}/{name}" for field, _ in fields(api.post("/tests", body)))


def test_every_answer_documents_the_headers_it_carries(client, api, document, settings):
    create = document["paths"]["/api/v1/tests"]["post"]["responses"]
    assert create["201"]["headers"]["ETag"]["required"] is True
    assert create["401"]["headers"]["WWW-Authenticate"]["required"] is True
    assert create["429"]["headers"]["Retry-After"]["required"] is True
    assert create["503"]["headers"]["Retry-After"]["required"] is True
    assert "414" in create and "414" in document["paths"]["/api/v1/health"]["get"]["responses"]

    assert "WWW-Authenticate" in client.get("/api/v1/tests").headers
    settings.API_RATE_LIMIT = 1
    api.get("/tests")
    limited = api.get("/tests")
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 0
