"""In production every request reaches gunicorn from the TLS-terminating proxy, so
REMOTE_ADDR is the proxy's address for every client (the client's own address is in
X-Forwarded-For). Here one loopback address plays the proxy for an attacker and for a
victim: a per-address limit must not let the one lock the other out.

The server trusts 127.0.0.30 and 127.0.0.31 as proxies (RELAIS_TRUSTED_PROXIES in
conftest.py); the forged-header attack in test_patient_links.py keeps proving that other
addresses cannot spoof X-Forwarded-For."""

import secrets

LOGIN_LOCKOUT = "lock everyone out through the proxy (login)"
PATIENT_LOCKOUT = "lock every patient out through the proxy (rate limit)"
MAX_FAILURES = 5  # RELAIS_LOGIN_MAX_FAILURES, default
RATE = 30  # RELAIS_PATIENT_RATE_LIMIT, default
ATTACKER, VICTIM = "203.0.113.66", "198.51.100.7"
PHARMACY = "10.0.0.1"  # a pharmacy's one public address, its whole team behind it


def through_proxy(client: str) -> dict:
    return {"X-Forwarded-For": client, "X-Real-IP": client}


def test_five_wrong_passwords_from_the_pharmacys_address_do_not_lock_out_a_colleague(live, attacks):
    """Issue 14: one colleague mistypes five times; another logs in at once from the same
    public address (a pharmacy's whole team shares one), not only from another client."""
    proxy = "127.0.0.30"
    mistyping = live.browser(proxy)
    for _ in range(MAX_FAILURES):
        mistyping.post_form(
            "/accounts/login/",
            {"email": "nobody@evil.example", "password": "x", "otp_token": "000000"},
            headers=through_proxy(PHARMACY),
        )
    victim = live.browser(proxy).log_in("a_spare4", headers=through_proxy(PHARMACY))
    attacks.attempt(LOGIN_LOCKOUT, victim.status_code != 302, "a pharmacist is locked out")
    attacks.assert_none(LOGIN_LOCKOUT)


def test_one_guesser_does_not_shut_the_patient_pages_for_everyone(live, attacks):
    proxy = "127.0.0.31"
    attacker = live.browser(proxy)
    for _ in range(2 * RATE + 2):  # until limited (the minute may turn once)
        guess = attacker.get(f"/r/{secrets.token_urlsafe(32)}", headers=through_proxy(ATTACKER))
        if guess.status_code == 429:
            break
    patient = live.browser(proxy).open_result_link(
        live.seeded["links"]["a2"],
        live.personal_data[1]["birth_date"],
        headers=through_proxy(VICTIM),
    )
    attacks.attempt(PATIENT_LOCKOUT, patient.status_code == 429, "a patient is refused (429)")
    attacks.assert_none(PATIENT_LOCKOUT)
