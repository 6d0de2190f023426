"""Result links: guessing tokens, brute-forcing the date of birth behind a real token,
and the per-address rate limit on the patient pages."""

import datetime
import secrets
import time

import pytest

GUESSING = "patient-link token guessing"
BIRTH_DATES = "birth-date brute force on a real link"
RATE_LIMIT = "patient pages beyond the rate limit"
MAX_TRIES = 5  # RELAIS_PATIENT_LINK_MAX_TRIES, default
RATE = 30  # RELAIS_PATIENT_RATE_LIMIT, default (requests a minute per address)


def opened(response) -> bool:
    return response.status_code == 302 and response.headers["location"].endswith("/r/result/")


def test_the_date_of_birth_locks_the_link_after_the_limit(live, attacks):
    token = live.seeded["links"]["a1"]
    birth = datetime.date.fromisoformat(live.personal_data[0]["birth_date"])
    attacker = live.browser("127.0.0.11")
    attacker.follow_result_link(token)
    for day in range(1, MAX_TRIES + 3):
        wrong = birth.replace(year=birth.year + 1, day=day)
        response = attacker.send_birth_date(wrong.isoformat())
        attacks.attempt(BIRTH_DATES, opened(response), f"wrong date {wrong} opened it")
    # The right date, once locked, opens nothing either (from any address).
    for source in ("127.0.0.11", "127.0.0.12"):
        response = live.browser(source).open_result_link(token, birth.isoformat())
        attacks.attempt(BIRTH_DATES, opened(response), f"locked link opened from {source}")
        assert response.status_code == 403
    result = attacker.get("/r/result/")
    attacks.attempt(BIRTH_DATES, result.status_code == 200, "result page without opening")
    locked = live.query(
        "SELECT locked_at IS NOT NULL FROM patient_access_resultlink WHERE test_id = %s",
        (live.seeded["tests"]["a1"],),
    )
    assert locked == [(True,)]
    attacks.assert_none(BIRTH_DATES)


def test_random_tokens_open_nothing(live, attacks):
    attacker = live.browser("127.0.0.13")
    birth = datetime.date.fromisoformat(live.personal_data[0]["birth_date"])
    guesses = [secrets.token_urlsafe(32) for _ in range(8)]
    guesses += ["", "0", "a" * 43, "../result/", "%2e%2e%2fresult", "' OR '1'='1"]
    for guess in guesses:
        for response in (
            attacker.get(f"/r/{guess}"),
            attacker.send_birth_date(birth.isoformat()),
        ):
            leaked = live.personal_data[0]["given_names"].split()[0] in response.text
            attacks.attempt(
                GUESSING, opened(response) or leaked, f"{guess!r}: {response.status_code}"
            )
            assert response.status_code < 500
    for path in ("/r/result/", "/r/result/pdf"):
        response = attacker.get(path)
        attacks.attempt(GUESSING, response.status_code == 200, f"{path} without a link")
    attacks.assert_none(GUESSING)


@pytest.mark.late
def test_the_rate_limit_stops_a_guesser_even_with_forged_forwarding_headers(live, attacks):
    """Windows are aligned on the clock's minutes: in each minute, every request past the
    first RATE must be refused, however the forwarding headers are forged. Requests are
    grouped by the minute they were sent in (a request that straddles a minute's turn
    counts in neither), so a slow machine cannot make the test pass or fail by chance."""
    attacker = live.browser("127.0.0.14")
    by_minute: dict[int, list[int]] = {}
    for number in range(2 * RATE + 5):
        forged = {"X-Forwarded-For": f"198.51.100.{number % 250}", "X-Real-IP": "203.0.113.9"}
        sent = time.time()
        response = attacker.post(
            f"/r/{secrets.token_urlsafe(32)}",
            data={"day": "1", "month": "1", "year": "1990"},
            headers=forged,
        )
        if int(sent // 60) == int(time.time() // 60):
            by_minute.setdefault(int(sent // 60), []).append(response.status_code)
    beyond_the_limit = [status for answers in by_minute.values() for status in answers[RATE:]]
    assert beyond_the_limit, "no minute held more than RATE requests: nothing was tested"
    for status in beyond_the_limit:
        attacks.attempt(RATE_LIMIT, status != 429, f"answer beyond the limit: {status}")
    attacks.assert_none(RATE_LIMIT)
