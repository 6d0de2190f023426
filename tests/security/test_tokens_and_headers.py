"""Guessing API credentials and e-mailed account links, poisoning the Host header of
the links Relais e-mails, odd HTTP methods, and the protective headers of the live
server."""

import secrets

from tests.support import routes
from tests.support.live import api_client

API_TOKENS = "API credential guessing"
ACCOUNT_LINKS = "activation and reset link guessing"
HOST_POISONING = "Host header poisoning"
METHODS = "odd HTTP methods on pharmacy routes"
HEADERS = "missing protective headers"
EVIL = "evil.example"


def test_guessed_api_credentials_are_refused(live, attacks):
    real = live.api_tokens["a"]
    prefix = real.rsplit("_", 1)[0]
    guesses = [
        f"{prefix}_{secrets.token_urlsafe(32)}",  # a real prefix, a wrong secret
        real[:-1],
        real[:-1] + ("A" if real[-1] != "A" else "B"),
        real.upper(),
        real + "x",
        f"rl_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}",
        "rl__",
        "' OR '1'='1",
        "\u00e9\u00e9\u00e9",
    ]
    for guess in guesses:
        for header in (f"Bearer {guess}", guess, f"Basic {guess}"):
            client = api_client(live, None, "127.0.0.20")
            try:
                response = client.get("/api/v1/tests", headers={"Authorization": header})
            except UnicodeEncodeError:
                continue  # httpx will not send it: neither would anyone else's client
            attacks.attempt(API_TOKENS, response.status_code != 401, f"{header[:20]}…")
    attacks.assert_none(API_TOKENS)


def test_guessed_account_links_open_nothing(live, attacks):
    stranger = live.browser("127.0.0.21")
    for path in ("/accounts/activate/", "/accounts/password-reset/new/"):
        for guess in (secrets.token_urlsafe(32), "", "0", "a" * 43):
            response = stranger.get(path, params={"t": guess})
            attacks.attempt(ACCOUNT_LINKS, response.status_code < 400, f"{path}?t={guess[:8]}")
            follow = stranger.get(path)
            attacks.attempt(ACCOUNT_LINKS, follow.status_code < 400, f"{path} after a guess")
    attacks.assert_none(ACCOUNT_LINKS)


def test_reset_links_ignore_a_poisoned_host(live, attacks):
    victim = live.user("a_bystander")
    before = len(live.inbox.raw)
    for headers in ({"Host": EVIL}, {"X-Forwarded-Host": EVIL}, {"Forwarded": f"host={EVIL}"},
                    {"X-Forwarded-Server": EVIL}, {"Host": f"127.0.0.1@{EVIL}"}):  # fmt: skip
        browser = live.browser("127.0.0.22")
        browser.csrf_token()
        response = browser.post_form(
            "/accounts/password-reset/", {"email": victim["email"]}, headers=headers
        )
        attacks.attempt(HOST_POISONING, EVIL in response.text, f"{headers} reflected")
    # Mail leaves through the worker: run it until the queue is empty, then read every message.
    live.send_queued_email()
    assert len(live.inbox.raw) > before, "no reset e-mail was sent at all"
    for message in live.inbox.raw[before:]:
        attacks.attempt(HOST_POISONING, EVIL.encode() in message, "a link to evil.example")
    attacks.assert_none(HOST_POISONING)


def test_odd_methods_reach_nothing(live, attacks, ids_of_a):
    stranger = live.browser("127.0.0.23")
    for route, view in sorted(routes.routes().items()):
        if not getattr(view, "required_action", None):
            continue
        path = routes.fill(route, ids_of_a)
        for method in ("HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND"):
            response = stranger.request(method, path)
            reached = response.status_code < 300
            attacks.attempt(METHODS, reached, f"{method} {path}: {response.status_code}")
    attacks.assert_none(METHODS)


def test_pages_carry_protective_headers(live, attacks):
    browser = live.login("a_pharmacist")
    expected = {
        "strict-transport-security": "max-age=",
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "content-security-policy": "default-src",
        "referrer-policy": "",
    }
    pages = ["/", "/accounts/login/", f"/patients/{live.seeded['patients']['a1']}/",
             "/static/relais.css", "/api/v1/tests", "/no-such-page/"]  # fmt: skip
    for page in pages:
        response = live.api("a").get(page) if page.startswith("/api/") else browser.get(page)
        for name, value in expected.items():
            missing = value not in response.headers.get(name, "") or name not in response.headers
            attacks.attempt(HEADERS, missing, f"{page}: {name}")
    private = browser.get(f"/patients/{live.seeded['patients']['a1']}/")
    cache = private.headers.get("cache-control", "")
    attacks.attempt(
        HEADERS, "no-store" not in cache and "private" not in cache, "patient page cached"
    )
    attacks.assert_none(HEADERS)
