"""Side channels and leftovers on the live server (issue 13, item 13): an uploaded CSV in
clear in the temporary directory, addresses recoverable from rate-limit and lockout keys,
a password-reset form that answers faster for unknown addresses, API answers a cache may
keep, static files shared with every origin, and a lone surrogate that gives a 500."""

import hashlib
import hmac
import json
import math
import re
import secrets
import statistics
import time

from tests.support.fictitious import api_submission
from tests.support.live import import_file_of

UPLOAD_IN_TMP = "uploaded CSV in clear in the temporary directory"
LOCKOUT_KEYS = "addresses and e-mails recovered from lockout keys"
RESET_TIMING = "password reset tells known addresses by its timing"
API_CACHE = "API answers a cache may store"
STATIC_CORS = "static files readable by other origins"
SURROGATES = "lone surrogates in API text"

MB = 1024 * 1024
BOUNDARY = "relais-attack-boundary"


# --- The uploaded CSV ----------------------------------------------------------------------


def files_holding(root, needles: list[bytes]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        try:
            if path.is_file() and any(needle in path.read_bytes() for needle in needles):
                found.append(path.name)
        except OSError:
            continue  # removed meanwhile
    return found


def test_the_uploaded_csv_never_sits_in_the_temporary_directory(live, attacks):
    browser = live.login("a_pharmacist")
    data = live.personal_data[0]
    # Larger than Django's 2.5 MB in-memory limit: Django alone would spool it to a file.
    content = import_file_of(browser, data).encode() + b"x" * (3 * MB) + b"\n"
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
            f"{browser.csrf_token()}\r\n"
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="r.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    needles = [data["nir"].encode(), data["birth_name"].encode()]
    seen: list[list[str]] = []

    def slowly():
        """Send all but the end, then look in the server's TMPDIR while it waits for it."""
        held_back = 64 * 1024
        for start in range(0, len(body) - held_back, 256 * 1024):
            yield body[start : min(start + 256 * 1024, len(body) - held_back)]
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # the server reads what was sent meanwhile
            seen.append(files_holding(live.tmp_dir, needles))
            time.sleep(0.1)
        yield body[len(body) - held_back :]

    response = browser.post(
        "/imports/",
        content=slowly(),
        headers={
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(len(body)),
        },
    )
    assert response.status_code in (200, 302), response.status_code  # checked, no 500
    assert len(seen) >= 5
    for found in seen:
        attacks.attempt(UPLOAD_IN_TMP, bool(found), f"in {live.tmp_dir}: {found}")
    attacks.assert_none(UPLOAD_IN_TMP)


# --- Keys of counters and lockouts ---------------------------------------------------------

DIGESTS = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512", "blake2b", "blake2s")


def unkeyed_digests(text: str) -> set[str]:
    data = text.encode()
    found = {hashlib.new(name, data).hexdigest() for name in DIGESTS}
    found |= {hmac.new(b"", data, name).hexdigest() for name in ("sha256", "sha1")}
    return {digest[:64] for digest in found} | found


def test_lockout_keys_give_away_no_address_or_e_mail(live, attacks):
    sources = [f"127.0.0.{last}" for last in (150, 151)]
    unknown = f"nobody-{secrets.token_hex(3)}@attack.test"
    for source in sources:  # one failed login each: counted, nobody locked
        response = live.browser(source).post_form(
            "/accounts/login/", {"email": unknown, "password": "x", "otp_token": "000000"}
        )
        assert response.status_code == 200
    keys = {key for (key,) in live.query("SELECT key FROM accounts_loginthrottle")}
    assert len(keys) >= 3  # two sources, one account
    addresses = [f"127.0.0.{last}" for last in range(256)] + ["::1", "::ffff:127.0.0.150"]
    emails = [user["email"] for user in live.spec["users"].values()] + [unknown]
    candidates = [
        form
        for value in addresses + emails
        for form in (value, f"source:{value}", f"account:{value}", value.upper())
    ]
    for candidate in candidates:
        matched = unkeyed_digests(candidate) & keys
        attacks.attempt(LOCKOUT_KEYS, bool(matched), candidate)
    assert not any(candidate in key for key in keys for candidate in sources + emails)
    attacks.assert_none(LOCKOUT_KEYS)


# --- Password reset timing -----------------------------------------------------------------

RESET_PAIRS = 24  # requests per kind of address: 48 in all, at most 8 per source address


def reset_seconds(browser, email: str) -> float:
    token = browser.csrf_token()  # fetched once per browser, before any timing
    started = time.perf_counter()
    response = browser.post(
        "/accounts/password-reset/", data={"email": email, "csrfmiddlewaretoken": token}
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 302, response.status_code
    return elapsed


def test_the_reset_form_costs_the_same_for_known_and_unknown_addresses(live, attacks):
    """Pairs of requests sent back to back (a known address, an unknown one, in turn
    first), so that a slow moment of the machine weighs on both sides of a pair. The
    attacker wins when the median difference stands out of its own noise (three standard
    errors of the median) and is over 2 ms; it was 4 to 10 ms."""
    known = [live.user(key)["email"] for key in ("a_spare1", "a_spare2", "a_spare3")]
    browsers = [live.browser(f"127.0.0.{last}") for last in range(160, 166)]
    differences = []
    for number in range(RESET_PAIRS):
        browser = browsers[number // 4]  # 6 sources, 8 requests each
        unknown = f"nobody-{secrets.token_hex(4)}@attack.test"
        if number % 2:
            unknown_seconds = reset_seconds(browser, unknown)
            known_seconds = reset_seconds(browser, known[number % len(known)])
        else:
            known_seconds = reset_seconds(browser, known[number % len(known)])
            unknown_seconds = reset_seconds(browser, unknown)
        differences.append(known_seconds - unknown_seconds)
    gap = statistics.median(differences)
    spread = statistics.median(abs(difference - gap) for difference in differences)
    standard_error = 1.253 * 1.4826 * spread / math.sqrt(len(differences))
    tolerance = max(0.002, 3 * standard_error)
    detail = f"gap {gap * 1000:.2f} ms, tolerance {tolerance * 1000:.2f} ms"
    attacks.attempt(RESET_TIMING, abs(gap) > tolerance, detail)
    attacks.assert_none(RESET_TIMING)


# --- Headers -------------------------------------------------------------------------------


def recorded_test(client) -> str:
    """The id of a test this credential recorded (the only kind it may read)."""
    created = client.post("/api/v1/tests", json=api_submission())
    assert created.status_code == 201, created.text[:300]
    return created.json()["id"]


def test_api_answers_may_not_be_stored_by_any_cache(live, attacks):
    with live.api("a") as client:
        answers = {
            "list": client.get("/api/v1/tests"),
            "one test": client.get(f"/api/v1/tests/{recorded_test(client)}"),
            "missing test": client.get(f"/api/v1/tests/{secrets.token_hex(16)}"),
            "submission": client.post("/api/v1/tests", json={"patient": {}}),
            "health": client.get("/api/v1/health"),
            "OpenAPI": client.get("/api/v1/openapi.json"),
        }
    with live.api("a") as client:
        client.headers.pop("Authorization")
        answers["no credential"] = client.get("/api/v1/tests")
    for what, response in answers.items():
        cache_control = response.headers.get("Cache-Control", "")
        attacks.attempt(API_CACHE, "no-store" not in cache_control, f"{what}: {cache_control!r}")
    assert answers["one test"].status_code == 200
    attacks.assert_none(API_CACHE)


def test_static_files_are_not_shared_with_other_origins(live, attacks):
    page = live.browser("127.0.0.170").get("/accounts/login/")
    paths = set(re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text))
    assert paths, "the login page links no static file"
    for path in sorted(paths):
        for origin in ("https://evil.example", "null"):
            response = live.browser("127.0.0.170").get(path, headers={"Origin": origin})
            assert response.status_code == 200
            allowed = response.headers.get("Access-Control-Allow-Origin")
            attacks.attempt(STATIC_CORS, allowed is not None, f"{path}: {allowed}")
    attacks.assert_none(STATIC_CORS)


# --- Lone surrogates -----------------------------------------------------------------------


def test_a_lone_surrogate_in_any_api_text_is_refused_with_422(live, attacks):
    submission = {"patient": dict(live.personal_data[2]), "test": api_submission()["test"]}
    texts = [("patient", name) for name in ("birth_name", "given_names", "used_name", "city",
             "address", "email", "nir")] + [("test", name) for name in ("device",)]  # fmt: skip
    bodies = []
    for part, name in texts:
        for lone in ("\ud800", "\udfff", "a\udc80b"):
            changed = json.loads(json.dumps(submission))
            changed[part][name] = lone
            bodies.append((f"{part}.{name}={lone!r}", changed))
    bodies.append(("a key", {**submission, "\ud800": "x"}))
    with live.api("a", source="127.0.0.171") as client:
        for what, body in bodies:
            response = client.post(
                "/api/v1/tests",
                content=json.dumps(body).encode(),  # \ud800 escapes: valid ASCII JSON
                headers={"Content-Type": "application/json"},
            )
            attacks.attempt(
                SURROGATES, response.status_code != 422, f"{what}: {response.status_code}"
            )
    attacks.assert_none(SURROGATES)
