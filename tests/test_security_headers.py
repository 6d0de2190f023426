import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from relais.security.middleware import CONTENT_SECURITY_POLICY, SecurityHeadersMiddleware

EXPECTED_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def assert_security_headers(response):
    assert response["Content-Security-Policy"] == EXPECTED_CSP
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] in ("same-origin", "no-referrer")
    assert response["Permissions-Policy"] == "camera=(), microphone=(), geolocation=(), payment=()"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/login/", "/", "/no-such-page/", "/static/relais.css"])
def test_every_response_carries_the_headers(client, path):
    assert_security_headers(client.get(path))


def test_error_responses_carry_the_headers(client, db):
    response = client.post("/accounts/login/", {"email": "x"})  # no CSRF token: 403
    assert response.status_code in (200, 403)
    assert_security_headers(response)


def test_pages_of_a_signed_in_pharmacist_carry_the_headers(pharmacist_client):
    assert_security_headers(pharmacist_client.get("/"))


def test_a_header_the_view_set_is_kept():
    def view(request):
        response = HttpResponse("patient page")
        response["Referrer-Policy"] = "no-referrer"
        response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY + "; sandbox"
        return response

    response = SecurityHeadersMiddleware(view)(RequestFactory().get("/r/abc"))
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["Content-Security-Policy"].endswith("; sandbox")
    assert response["Permissions-Policy"].startswith("camera=()")


def test_hsts_in_production(settings, client, db):
    settings.SECURE_HSTS_SECONDS = 63072000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    response = client.get("/accounts/login/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"


def test_no_hsts_over_plain_http_in_tests(client, db):
    assert "Strict-Transport-Security" not in client.get("/accounts/login/")
