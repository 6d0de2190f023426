"""Oversized and malformed bodies, web forms and API: refused with a 4xx, never a 500."""

import json

import pytest

from tests.support.fictitious import api_submission

ATTACK = "oversized and malformed bodies"
MB = 1024 * 1024


def valid_submission(live) -> dict:
    data = {k: v for k, v in live.personal_data[2].items()}
    return {"patient": data, "test": api_submission()["test"]}


def web_bodies(token: str):
    """(label, content, content type) sent to the web forms."""
    form = f"csrfmiddlewaretoken={token}&email=a%40b.example&password=x&otp_token=123456"
    yield (
        "3 MB form",
        (form + "&pad=" + "A" * (3 * MB)).encode(),
        "application/x-www-form-urlencoded",
    )
    yield (
        "5000 fields",
        (form + "".join(f"&f{i}=1" for i in range(5000))).encode(),
        ("application/x-www-form-urlencoded"),
    )
    yield (
        "invalid UTF-8",
        form.encode() + b"&email=\xff\xfe\xc3\x28",
        "application/x-www-form-urlencoded",
    )
    yield "JSON to a form", json.dumps({"email": "a@b.example"}).encode(), "application/json"
    yield (
        "broken multipart",
        b"--xyz\r\nContent-Disposition: form-data\r\n\r\n",
        ("multipart/form-data; boundary=xyz"),
    )
    yield "multipart without boundary", b"abc", "multipart/form-data"
    yield (
        "3 MB multipart field",
        (
            f'--b\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{token}\r\n'
            f'--b\r\nContent-Disposition: form-data; name="pad"\r\n\r\n{"A" * (3 * MB)}'
            "\r\n--b--\r\n"
        ).encode(),
        "multipart/form-data; boundary=b",
    )
    yield "NUL bytes", form.encode() + b"&email=%00%00", "application/x-www-form-urlencoded"


def api_bodies(live):
    submission = json.dumps(valid_submission(live))
    yield "1 MB JSON", json.dumps({"pad": "A" * MB}).encode(), "application/json"
    yield "70 KB JSON", json.dumps({"pad": "A" * 70_000}).encode(), "application/json"
    yield "malformed JSON", b'{"patient": {', "application/json"
    yield "invalid UTF-8", b'{"patient": "\xff\xfe"}', "application/json"
    yield "deeply nested arrays", b"[" * 20_000 + b"]" * 20_000, "application/json"
    yield "deeply nested objects", b'{"a":' * 8_000 + b"1" + b"}" * 8_000, "application/json"
    yield "wrong content type", submission.encode(), "text/plain"
    yield "form content type", b"patient=x", "application/x-www-form-urlencoded"
    yield "XML", b"<?xml version='1.0'?><a/>", "application/xml"
    yield "empty body", b"", "application/json"
    yield "JSON null", b"null", "application/json"
    yield "JSON array", b"[]", "application/json"
    yield "huge number", b'{"patient": ' + b"9" * 60_000 + b"}", "application/json"
    yield "wrong types", json.dumps({"patient": [], "test": "x"}).encode(), "application/json"
    yield (
        "NUL in strings",
        submission.replace("Clothilde", "Clo\\u0000thilde").encode(),
        ("application/json"),
    )
    yield "lone surrogate", submission.replace("Clothilde", "\\ud800").encode(), "application/json"


def check(attacks, label, response, allowed=(400, 403, 413, 415, 422)):
    bad = response.status_code >= 500 or response.status_code not in (*allowed, 200, 302)
    attacks.attempt(ATTACK, bad, f"{label}: {response.status_code}")


@pytest.mark.parametrize("path", ["/accounts/login/", "/patients/new/", "/imports/"])
def test_web_forms_refuse_bad_bodies(live, attacks, path):
    browser = live.login("a_pharmacist")
    token = browser.csrf_token()
    for label, content, content_type in web_bodies(token):
        response = browser.post(path, content=content, headers={"Content-Type": content_type})
        check(attacks, f"{path} {label}", response)
    attacks.assert_none(ATTACK)


def test_a_huge_url_and_huge_headers_are_refused(live, attacks):
    browser = live.browser("127.0.0.15")
    check(attacks, "10 KB URL", browser.get("/patients/?nir=" + "1" * 10_000), (400, 414))
    response = browser.get("/", headers={"X-Pad": "A" * 20_000})
    check(attacks, "20 KB header", response, (400, 431))
    attacks.assert_none(ATTACK)


@pytest.mark.parametrize("path", ["/api/v1/tests", "/api/v1/tests/{test}/correction"])
def test_the_api_refuses_bad_bodies(live, attacks, path):
    api = live.api("a")
    path = path.format(test=live.seeded["tests"]["a2"])
    for label, content, content_type in api_bodies(live):
        response = api.post(path, content=content, headers={"Content-Type": content_type})
        check(attacks, f"{path} {label}", response)
    attacks.assert_none(ATTACK)


def csv_files(header: str):
    """(label, content) of hostile CSV files for the import form."""
    row = ";".join(["x"] * header.count(";")) + ";"
    yield "a 200 KB field", f"{header}\r\n{'A' * 200_000}{row}\r\n".encode()
    yield "a 200 KB header", f"{header};{'B' * 200_000}\r\n{row}\r\n".encode()
    yield "NUL bytes", f"{header}\r\n{row}\x00\x00\r\n".encode()
    yield "an unclosed quote", f'{header}\r\n"{row}\r\n'.encode()
    yield "invalid UTF-8", header.encode() + b"\r\n\xff\xfe\xc3\x28;\r\n"
    yield "binary", bytes(range(256)) * 64
    # Past the 2 MB kept in memory, so the upload goes through a temporary file on disk
    # (scanned afterwards); few long rows keep the check quick.
    yield "2.5 MB file", (header + "\r\n" + ("C" * 100_000 + row + "\r\n") * 25).encode()


def test_the_import_refuses_hostile_files(live, attacks):
    browser = live.login("a_pharmacist")
    template = browser.get("/imports/template.csv")
    header = template.text.lstrip("\ufeff").splitlines()[0]
    for label, content in csv_files(header):
        response = browser.post(
            "/imports/",
            data={"csrfmiddlewaretoken": browser.csrf_token()},
            files={"file": ("patients.csv", content, "text/csv")},
        )
        check(attacks, f"CSV with {label}", response)
    attacks.assert_none(ATTACK)
