"""Cross-site request forgery: every route, POSTed by a logged-in user's browser without
a token, with a wrong one, or with the right one from another site, is refused (403) and
changes nothing. The patient pages (/r/) are exempt on purpose (see their views) and are
attacked in test_patient_links.py; the API takes bearer tokens, never cookies."""

from tests.support import routes

ATTACK = "CSRF on every state-changing route"
API_COOKIES = "API driven by a session cookie"
EVIL = "https://evil.example"
# Tables a refused request may touch: its own session (saved on every request).
VOLATILE = {"django_session"}
ALL_ROWS = "string_agg(t::text, '|' ORDER BY t::text)"


def snapshot(live) -> dict[str, str]:
    tables = [
        row[0]
        for row in live.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
    ]
    digest = {}
    for table in tables:
        if table not in VOLATILE:
            rows = live.query(f"SELECT md5(coalesce({ALL_ROWS}, '')) FROM \"{table}\" t")
            digest[table] = rows[0][0]
    return digest


def forgeries(browser):
    """(label, extra form data, headers) of each forged POST."""
    token = browser.csrf_token()
    wrong = ("x" if token[0] != "x" else "y") + token[1:]
    return [
        ("no token", {}, {}),
        ("wrong token", {"csrfmiddlewaretoken": wrong}, {"X-CSRFToken": wrong}),
        ("token from another site", {"csrfmiddlewaretoken": token}, {"Origin": EVIL}),
        ("token, no origin", {"csrfmiddlewaretoken": token}, {"Origin": "null"}),
    ]


def user_for(route: str, view) -> str:
    if getattr(view, "platform_admin", False) or route.startswith(
        ("platform/", "operations/", "audit/")
    ):
        return "admin"
    return "a_owner"


def test_forged_posts_are_refused_and_change_nothing(live, attacks, ids_of_a):
    browsers = {key: live.login(key) for key in ("a_owner", "admin")}
    anonymous = live.browser("127.0.0.8")
    before = snapshot(live)
    checked = 0
    for route, view in sorted(routes.routes().items()):
        if routes.is_api(route) or routes.is_patient_page(route):
            continue
        path = routes.fill(route, ids_of_a)
        for browser in (browsers[user_for(route, view)], anonymous):
            for label, token, headers in forgeries(browser):
                data = {"reason": "duplicate", "name": "forged", "email": "forged@evil.example",
                        "full_name": "Forged", "role": "pharmacist", "language": "en",
                        "status": "suspended", "import": "1", **token}  # fmt: skip
                response = browser.post(path, data=data, headers=headers)
                attacks.attempt(
                    ATTACK, response.status_code != 403, f"{path} ({label}): {response.status_code}"
                )
        checked += 1
    assert checked >= 20
    changed = [table for table, digest in snapshot(live).items() if before.get(table) != digest]
    attacks.attempt(ATTACK, bool(changed), f"tables changed: {changed}")
    attacks.assert_none(ATTACK)


def test_the_api_ignores_session_cookies(live, attacks):
    browser = live.login("a_owner")
    for method, path in [("GET", "/api/v1/tests"), ("POST", "/api/v1/tests")]:
        response = browser.request(method, path, json={})
        attacks.attempt(API_COOKIES, response.status_code != 401, f"{path}: {response.status_code}")
    attacks.assert_none(API_COOKIES)
