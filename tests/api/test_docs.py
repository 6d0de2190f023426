import pytest

pytestmark = pytest.mark.django_db


def test_openapi_document_is_complete(client):
    document = client.get("/api/v1/openapi.json").json()
    assert document["components"]["securitySchemes"]["CredentialAuth"]["scheme"] == "bearer"
    operations = {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    create = operations[("post", "/api/v1/tests")]
    assert {"201", "400", "401", "413", "415", "422", "429", "500"} <= set(create["responses"])
    problem = create["responses"]["422"]["content"]["application/problem+json"]["schema"]
    assert problem["$ref"].endswith("/ProblemOut")
    assert create["security"] == [{"CredentialAuth": []}]
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    assert "404" in operations[("get", "/api/v1/tests/{test_id}")]["responses"]
    assert "409" in operations[("post", "/api/v1/tests/{test_id}/correction")]["responses"]
    assert "security" not in operations[("get", "/api/v1/health")]
    patient = document["components"]["schemas"]["PatientIn"]
    assert patient["additionalProperties"] is False
    assert patient["properties"]["sex"]["enum"] == ["M", "F", "U"]


def test_docs_page_renders_without_external_resources(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert "POST /api/v1/tests" in page
    assert "/api/v1/tests/{test_id}/correction" in page
    assert 'id="schema-PatientIn"' in page and 'id="problem-validation"' in page
    assert "cdn" not in page.lower() and "<script>" not in page
