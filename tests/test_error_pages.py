"""The pages Django renders outside our views: a bad request, an expired form, a crash."""

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.utils import translation


def test_a_bad_host_gets_the_bad_request_page(db):
    response = Client().get("/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    page = response.content.decode()
    assert "<title>Requête incorrecte – Relais</title>" in page
    assert '<a class="button button--primary" href="/">Retour à l\'accueil</a>' in page


def test_a_form_without_its_token_gets_the_form_expired_page(db):
    response = Client(enforce_csrf_checks=True).post("/accounts/login/", {"username": "x"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "<h1>Formulaire expiré</h1>" in page
    assert "Rien n'a été enregistré." in page


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_server_error_page_renders_without_a_request(language):
    with translation.override(language):
        page = render_to_string("500.html")
    heading = {"fr": "Une erreur est survenue", "en": "Something went wrong"}[language]
    assert f"<h1>{heading}</h1>" in page
    assert f'<html lang="{language}">' in page
    assert 'href="/"' in page
