from django.urls import reverse

LOGIN = reverse("accounts:login")


def test_french_by_default_even_for_an_english_browser(client, db):
    response = client.get(LOGIN, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert response["Content-Language"] == "fr"
    assert "Se connecter" in response.content.decode() or "Connexion" in response.content.decode()


def test_english_when_chosen(client, db):
    response = client.post(reverse("set_language"), {"language": "en", "next": LOGIN})
    assert response.status_code == 302
    response = client.get(LOGIN)
    assert response["Content-Language"] == "en"
    assert "Log in" in response.content.decode()


def test_unknown_language_cookie_falls_back_to_french(client, db):
    client.cookies["django_language"] = "xx-evil"
    assert client.get(LOGIN)["Content-Language"] == "fr"


def test_patient_pages_follow_the_patients_browser(client, db):
    response = client.get("/r/" + "x" * 43, HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")
    assert response["Content-Language"] == "en"
    assert client.get("/r/" + "x" * 43)["Content-Language"] == "fr"
