"""Problems are in the language the client asks for with Accept-Language (French by
default), and the answer says which in Content-Language."""

import uuid

import pytest

from tests.support.fictitious import api_submission

PROBLEM = "application/problem+json"


def unknown_field_problem(api, language: str | None):
    body = api_submission()
    body["test"]["colour"] = "blue"
    headers = {"Accept-Language": language} if language is not None else {}
    response = api.post("/tests", body, headers=headers)
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == PROBLEM
    return response


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "en"),
        ("en-GB,en;q=0.9", "en"),
        ("de-DE, en;q=0.5, fr;q=0.3", "en"),
        ("fr-FR", "fr"),
        (None, "fr"),
        ("de, *;q=0.1", "fr"),
        ("zz-" + "x" * 600, "fr"),
    ],
)
def test_problem_language_follows_accept_language(api, language, expected):
    response = unknown_field_problem(api, language)
    body = response.json()
    assert response["Content-Language"] == expected
    [error] = body["errors"]
    assert error["field"] == "/test/colour"
    if expected == "en":
        assert body["title"] == "Invalid request"
        assert body["detail"] == "Some fields are invalid."
        assert error["message"] == "Unknown field."
    else:
        assert body["title"] == "Requête invalide"
        assert body["detail"] == "Certains champs sont invalides."
        assert error["message"] == "Champ inconnu."


@pytest.mark.django_db
def test_form_messages_and_not_found_in_english(api):
    body = api_submission()
    body["patient"]["birth_date"] = "not a date"
    response = api.post("/tests", body, headers={"Accept-Language": "en"})
    assert response.status_code == 422
    [error] = [e for e in response.json()["errors"] if e["field"] == "/patient/birth_date"]
    assert "date" in error["message"].lower()
    assert "valide" not in error["message"]

    missing = api.get(f"/tests/{uuid.uuid4()}", headers={"Accept-Language": "en"})
    assert missing.status_code == 404
    assert missing.json()["title"] == "Not found"
    assert missing["Content-Language"] == "en"
    assert api.get(f"/tests/{uuid.uuid4()}").json()["title"] == "Introuvable"


@pytest.mark.django_db
def test_unauthenticated_problem_in_english(client):
    response = client.get("/api/v1/tests", headers={"Accept-Language": "en"})
    assert response.status_code == 401
    assert response.json()["title"] == "Missing or invalid credentials"
    assert response["Content-Language"] == "en"


@pytest.mark.django_db
def test_web_pages_still_ignore_accept_language(client):
    response = client.get("/", headers={"Accept-Language": "en"})
    assert response["Content-Language"] == "fr"
