"""Open redirects: no view that takes a next/return address sends anyone off-site."""

import urllib.parse

ATTACK = "open redirects"
TARGETS = ["https://evil.example/", "//evil.example", "/\\evil.example", "\\\\evil.example",
           "https:evil.example", "/%2F%2Fevil.example", "http://127.0.0.1@evil.example/",
           " //evil.example", "javascript:alert(1)", "/r/..//evil.example"]  # fmt: skip


def off_site(live, response) -> str:
    location = response.headers.get("location")
    if location is None:
        return ""
    parts = urllib.parse.urlsplit(location.strip())
    if parts.scheme and parts.scheme not in ("http", "https"):
        return location
    if parts.netloc and parts.netloc != f"127.0.0.1:{live.port}":
        return location
    if location.lstrip().startswith(("//", "/\\", "\\")):
        return location
    return ""


def test_language_switches_stay_on_site(live, attacks):
    browser = live.browser("127.0.0.18")
    for target in TARGETS:
        answers = [
            browser.post_form("/i18n/setlang/", {"language": "en", "next": target}),
            browser.post_form(
                "/i18n/setlang/", {"language": "en"}, headers={"Referer": target.strip()}
            ),
            browser.post_form(
                f"/i18n/setlang/?next={urllib.parse.quote(target)}", {"language": "en"}
            ),
            browser.post("/r/language/", data={"language": "en", "next": target}),
        ]
        for response in answers:
            where = off_site(live, response)
            attacks.attempt(ATTACK, bool(where), f"{response.request.url.path} -> {where}")
    attacks.assert_none(ATTACK)


def test_login_ignores_an_off_site_next(live, attacks):
    browser = live.browser()
    for target in TARGETS:
        response = browser.get("/accounts/login/", params={"next": target})
        attacks.attempt(ATTACK, bool(off_site(live, response)), f"login GET next={target}")
        response = browser.get("/", params={"next": target})
        attacks.attempt(ATTACK, bool(off_site(live, response)), f"/ next={target}")
    # The real thing: log in with an off-site next.
    path = "/accounts/login/?" + urllib.parse.urlencode({"next": TARGETS[0]})
    response = browser.log_in("a_spare3", path=path)
    assert response.status_code == 302
    attacks.attempt(ATTACK, bool(off_site(live, response)), f"login -> {response.headers}")
    for target in TARGETS:
        for path in ("/accounts/logout/", "/accounts/password-reset/"):
            response = browser.post_form(
                f"{path}?next={urllib.parse.quote(target)}", {"next": target}
            )
            where = off_site(live, response)
            attacks.attempt(ATTACK, bool(where), f"{path} -> {where}")
    attacks.assert_none(ATTACK)
