"""Self-registration: a stranger applies as a pharmacy (also with the FINESS of an active
one) and tries every pharmacy page with whatever that gives: nothing."""

from tests.support import routes

ATTACK = "self-registration reaching data"
APPLICANT = {"pharmacy_name": "Pharmacie Intruse", "finess": "750000404",
             "owner_name": "Ivan Intrus", "owner_rpps": "10000000404",
             "owner_email": "intrus@evil.example"}  # fmt: skip
LOGIN = "/accounts/login/"


def apply(browser, **changes):
    response = browser.post_form("/apply/", {**APPLICANT, **changes})
    assert response.status_code == 302, response.status_code
    return response


def gave_something(response) -> bool:
    if response.status_code == 302:
        return not response.headers["location"].startswith(LOGIN)
    return response.status_code < 400


def test_an_application_opens_no_pharmacy_page(live, attacks, ids_of_a):
    stranger = live.browser("127.0.0.19")
    apply(stranger)
    # Squatting an active pharmacy's FINESS changes nothing about it.
    apply(stranger, finess=live.spec["pharmacies"]["a"]["finess"], owner_email="squat@evil.example")
    for route, view in sorted(routes.routes().items()):
        if not getattr(view, "required_action", None):
            continue  # public pages, platform pages and the API are attacked elsewhere
        path = routes.fill(route, ids_of_a)
        for response in (stranger.get(path), stranger.post_form(path, {"reason": "duplicate"})):
            attacks.attempt(ATTACK, gave_something(response), f"{path}: {response.status_code}")
    for password in ("", "intrus", APPLICANT["owner_rpps"]):
        response = stranger.post_form(
            LOGIN,
            {"email": APPLICANT["owner_email"], "password": password or "x", "otp_token": "000000"},
        )
        attacks.attempt(ATTACK, response.status_code == 302, "the applicant logged in")
    reset = stranger.post_form("/accounts/password-reset/", {"email": APPLICANT["owner_email"]})
    assert reset.status_code in (302, 429)
    live.send_queued_email()
    mailed = [m for m in live.inbox.raw if b"intrus@evil.example" in m or b"squat@" in m]
    attacks.attempt(ATTACK, bool(mailed), "an e-mail with a link went to the applicant")
    a = live.query("SELECT status, name FROM accounts_pharmacy WHERE finess = %s",
                   (live.spec["pharmacies"]["a"]["finess"],))  # fmt: skip
    attacks.attempt(ATTACK, a != [("active", "Pharmacie Alpha")], f"pharmacy A is now {a}")
    users = live.query(
        "SELECT count(*) FROM accounts_user WHERE email IN (%s, %s)",
        (APPLICANT["owner_email"], "squat@evil.example"),
    )
    attacks.attempt(ATTACK, users[0][0] != 0, "the applicant has an account")
    attacks.assert_none(ATTACK)
