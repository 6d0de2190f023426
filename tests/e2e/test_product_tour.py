"""The product tour in a real browser, against `relais demo` running for real (gunicorn, the
worker, the SI-DEP simulator over mutual TLS, e-mails written by the file backend):

a pharmacy owner applies, a platform administrator approves, the owner activates the account
(password, TOTP, recovery codes) and logs in, records a patient and a test notified by
e-mail, sees SI-DEP acknowledge it in the day's list, corrects the result; the patient opens
the link from the e-mail on a phone and downloads the PDF; the owner creates an API credential
and the pharmacy software's call appears in the day's list. axe-core finds no WCAG 2.1 A/AA
violation on any page visited.
"""

import base64
import datetime
import hashlib
import hmac
import re
import struct
import time
import zoneinfo
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.pdf import pdf_text

pytestmark = pytest.mark.slow  # a browser and `relais demo`

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
TRANSMISSION_TIMEOUT_SECONDS = 30

APPLICANT = {
    # The demo directory's second pharmacy and its pharmacist (src/relais/directory/samples).
    "pharmacy_name": "Pharmacie du Canal",
    "finess": "750000025",
    "owner_name": "Inès Officine",
    "owner_rpps": "10000000003",
    "owner_email": "ines.officine@example.org",
}
OWNER_PASSWORD = "un canal, deux écluses et 7 péniches"
PATIENT = {
    "birth_name": "Moreau",
    "given_names": "Julien",
    "birth_date": "1990-07-21",
    "sex": "M",
    "email": "julien.moreau@example.org",
}


def totp(secret_base32: str) -> str:
    """RFC 6238 code (SHA-1, 30 s, 6 digits), as an authenticator app computes it."""
    key = base64.b32decode(secret_base32 + "=" * (-len(secret_base32) % 8))
    counter = int(time.time() // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def wait_for_next_totp_window() -> None:
    """A device accepts one code per 30 s window (replay protection)."""
    time.sleep(30 - time.time() % 30 + 0.5)


def earlier_today(minutes: int) -> datetime.datetime:
    """A sampling time in the past but still today in Paris, so the day's list shows it."""
    now = datetime.datetime.now(PARIS)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return max(now - datetime.timedelta(minutes=minutes), midnight)


def desktop_page(chromium):
    # bypass_csp: axe-core is injected as a script the pages' CSP rightly refuses.
    return chromium.new_context(viewport=DESKTOP, locale="fr-FR", bypass_csp=True).new_page()


def submit(page, form: str, expected_url: str) -> None:
    """Submits `form` and checks where the browser lands (showing the page if elsewhere)."""
    page.locator(f"{form} button[type=submit]").first.click()
    page.wait_for_load_state()
    assert re.fullmatch(expected_url, page.url), f"{page.url}: {page.locator('main').inner_text()}"


def log_in(page, url, tour, email, password, secret, screenshot_name="login"):
    page.goto(f"{url}/accounts/login/")
    tour.check(page, screenshot_name)
    page.fill("#id_email", email)
    page.fill("#id_password", password)
    page.fill("#id_otp_token", totp(secret))
    page.locator("form.login-form button[type=submit]").click()
    page.wait_for_load_state()
    assert "/accounts/login/" not in page.url, page.locator("main").inner_text()


def apply(page, url, tour):
    page.goto(f"{url}/apply/")
    tour.check(page, "apply")
    for name, value in APPLICANT.items():
        page.fill(f"#id_{name}", value)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{url}/apply/received/")
    tour.check(page, "apply-received")


def approve(page, url, tour, admin):
    log_in(page, url, tour, admin["email"], admin["password"], admin["totp_secret"])
    page.goto(f"{url}/platform/applications/")
    tour.check(page, "platform-applications")
    page.get_by_role("link", name=APPLICANT["pharmacy_name"]).first.click()
    page.wait_for_load_state()
    assert page.locator(".check--failed").count() == 0, "the directory checks should pass"
    assert page.locator(".check--passed").count() >= 2
    tour.check(page, "platform-application-review")
    page.locator("form:has(input[name=decision][value=approve]) button").click()
    page.wait_for_load_state()
    # Approving is confirmed on a page of its own, which says what follows.
    tour.check(page, "platform-application-confirm")
    page.locator("form:has(input[name=confirmed]) button[type=submit]").click()
    page.wait_for_load_state()
    tour.check(page, "platform-application-approved")


def print_letter(page, url, tour) -> str:
    """The administrator prints the activation letter for the pharmacy's directory address;
    returns its code."""
    page.goto(f"{url}/platform/applications/")
    page.get_by_role("link", name=APPLICANT["pharmacy_name"]).first.click()
    page.wait_for_load_state()
    page.locator("form[action$='/letter/'] button").click()
    page.wait_for_load_state()
    tour.check(page, "platform-activation-letter")
    return page.locator(".letter__code").inner_text().strip()


def activate(page, stack, tour, letter_code: str) -> str:
    """Follows the activation e-mail, proves the application with the letter's code;
    returns the TOTP secret the owner enrolled."""
    link = stack.wait_for_mail(APPLICANT["owner_email"], r"https?://\S+/accounts/activate/\S*")
    page.goto(link)
    tour.check(page, "activate-proof")
    page.fill("#id_code", letter_code)
    page.locator("main form:has(#id_code) button[type=submit]").click()
    page.wait_for_load_state()
    tour.check(page, "activate")
    secret = re.sub(r"\s", "", page.locator("main .mono").first.inner_text())
    page.fill("#id_password1", OWNER_PASSWORD)
    page.fill("#id_password2", OWNER_PASSWORD)
    page.fill("#id_otp_token", totp(secret))
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    codes = page.locator(".recovery-codes li").all_inner_texts()
    assert len(codes) >= 5 and len(set(codes)) == len(codes), page.locator("main").inner_text()
    tour.check(page, "recovery-codes")
    return secret


def record_patient_and_test(page, url, tour) -> str:
    """A new patient, then a positive antigen test notified by e-mail; returns the test's
    path."""
    page.goto(f"{url}/patients/new/")
    tour.check(page, "patient-new")
    for name in ("birth_name", "given_names", "birth_date", "email"):
        page.fill(f"#id_{name}", PATIENT[name])
    page.select_option("#id_sex", PATIENT["sex"])
    page.locator("form.patient-form button[type=submit]").click()
    # "Save and record a test": straight to the new patient's test form.
    page.wait_for_url(re.compile(r".*/patients/[0-9a-f-]{36}/tests/new/$"))
    sampled_at = earlier_today(minutes=15)
    page.select_option("#id_kind", "sars_cov_2_antigen")
    page.fill("#id_device", "Demo AG Rapid")
    page.select_option("#id_specimen", "nasal_swab")
    page.fill("#id_sampled_at", sampled_at.strftime("%Y-%m-%dT%H:%M"))
    page.check("input[name=result][value=positive]")
    page.check("#id_consent_transmission")
    page.select_option("#id_notify_by", "email")
    tour.check(page, "test-form")
    submit(page, "form.test-form", rf"{re.escape(url)}/")  # back to the day's list
    row = page.locator("tbody tr", has_text=PATIENT["birth_name"].upper())
    expect(row).to_have_count(1)
    return row.locator("a[href^='/tests/']").get_attribute("href")


def wait_for_state(page, locator: str, state: str, other_than: str = "") -> str:
    """Reloads the page until `locator` shows the SI-DEP `state`, in other words than
    `other_than` (the worker runs apart); returns those words."""
    timeout = TRANSMISSION_TIMEOUT_SECONDS
    deadline = time.monotonic() + timeout
    while True:
        status = page.locator(f"{locator} .status--{state}")
        if status.count() and status.first.inner_text() != other_than:
            return status.first.inner_text()
        assert time.monotonic() < deadline, (
            f"no {state} in {timeout}s: {page.locator(locator).first.inner_text()}"
        )
        time.sleep(1)
        page.reload()


def correct_result(page, test_url, tour):
    page.goto(test_url + "correct/")
    tour.check(page, "test-correct")
    page.check("input[name=result][value=negative]")
    submit(page, "form.test-form", ".*")
    tour.check(page, "test-corrected")


PATIENT_LINK = r"https?://\S+/r/[A-Za-z0-9_-]+"


def patient_reads_result(chromium, stack, first_link, tour):
    """The first e-mail's link closed when the result was corrected; the second one opens."""
    phone = chromium.new_context(
        viewport=PHONE, locale="fr-FR", accept_downloads=True, bypass_csp=True
    )
    page = phone.new_page()
    page.goto(first_link)
    expect(page.locator("form input[name$=day]")).to_have_count(0)
    tour.check(page, "patient-link-replaced")
    page.goto(stack.wait_for_mail(PATIENT["email"], PATIENT_LINK, nth=2))
    tour.check(page, "patient-link")
    year, month, day = PATIENT["birth_date"].split("-")
    page.fill("input[name$=day]", str(int(day)))
    page.fill("input[name$=month]", str(int(month)))
    page.fill("input[name$=year]", year)
    page.locator("form.form button[type=submit]").click()
    page.wait_for_url(f"{stack.url}/r/result/")
    tour.check(page, "patient-result-phone")
    # The patient sees the corrected result.
    expect(page.locator("main .result--negative")).to_have_count(1)
    with page.expect_download() as download:
        page.locator("main a[download]").first.click()
    pdf = Path(download.value.path()).read_bytes()
    phone.close()
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    assert "négatif" in text.splitlines()
    assert APPLICANT["pharmacy_name"] in text


def create_api_credential(page, url, tour) -> str:
    page.goto(f"{url}/api-credentials/")
    tour.check(page, "api-credentials-empty")
    page.fill("#id_name", "Pharmacy software")
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_load_state()
    token = page.locator("#new-token").input_value()
    assert re.fullmatch(r"rl_\w+_[\w-]+", token)
    tour.check(page, "api-credentials")
    page.goto(f"{url}/api-credentials/")  # shown once: not on the next visit
    assert page.locator("#new-token").count() == 0
    expect(page.locator("main tbody tr")).to_have_count(1)
    tour.check(page, "api-credentials-list")
    assert token not in page.content()
    return token


def revoke_api_credential(page, url, tour):
    page.goto(f"{url}/api-credentials/")
    submit(page, "main tbody form.credential-revoke", rf"{re.escape(url)}/api-credentials/")
    expect(page.locator("main tbody .badge--cancelled")).to_have_count(1)
    tour.check(page, "api-credentials-revoked")


def send_test(url, token) -> httpx.Response:
    """What the pharmacy's software sends for a new patient's influenza test."""
    sampled_at = earlier_today(minutes=5)
    body = {
        "patient": {
            "birth_name": "Bernard",
            "given_names": "Chloé",
            "birth_date": "1978-11-02",
            "sex": "F",
        },
        "test": {
            "kind": "influenza_a_antigen",
            "specimen": "nasopharyngeal_swab",
            "sampled_at": sampled_at.isoformat(timespec="seconds"),
            "result": "negative",
            "consent_transmission": True,
            "performer_rpps": APPLICANT["owner_rpps"],  # the owner did the test
        },
    }
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.post(f"{url}/api/v1/tests", json=body, headers=headers, timeout=30)


def test_product_tour(relais_stack, chromium, tour_pages):
    url, tour = relais_stack.url, tour_pages

    applicant = desktop_page(chromium)
    applicant.goto(f"{url}/")
    assert applicant.url.startswith(f"{url}/accounts/login/"), "anonymous: to the login page"
    apply(applicant, url, tour)

    admin = desktop_page(chromium)
    approve(admin, url, tour, relais_stack.account("platform admin"))
    letter_code = print_letter(admin, url, tour)

    owner = desktop_page(chromium)
    secret = activate(owner, relais_stack, tour, letter_code)
    wait_for_next_totp_window()
    log_in(owner, url, tour, APPLICANT["owner_email"], OWNER_PASSWORD, secret, "login-owner")
    assert owner.url == f"{url}/", "logged in: the day's list"
    expect(owner.locator("main tbody tr")).to_have_count(0)
    tour.check(owner, "day-empty")

    test_path = record_patient_and_test(owner, url, tour)
    row = f"tr:has(a[href='{test_path}'])"
    acknowledged = wait_for_state(owner, row, "acknowledged")
    tour.check(owner, "day-acknowledged")

    owner.goto(url + test_path)
    tour.check(owner, "test-detail")
    first_link = relais_stack.wait_for_mail(PATIENT["email"], PATIENT_LINK)
    correct_result(owner, url + test_path, tour)
    # SI-DEP acknowledges the correction: the same state, in other words.
    wait_for_state(owner, "main", "acknowledged", other_than=acknowledged)
    patient_reads_result(chromium, relais_stack, first_link, tour)

    token = create_api_credential(owner, url, tour)
    answer = send_test(url, token)
    assert answer.status_code == 201, answer.text
    api_test_id = answer.json()["id"]
    owner.goto(f"{url}/")
    api_row = f"tr:has(a[href='/tests/{api_test_id}/'])"
    expect(owner.locator(api_row)).to_have_count(1)
    assert "Bernard" in owner.locator(api_row).inner_text().upper().title()
    wait_for_state(owner, api_row, "acknowledged")
    tour.check(owner, "day")

    revoke_api_credential(owner, url, tour)
    assert send_test(url, token).status_code == 401, "a revoked credential is refused"
    assert len(tour.checked) >= 20, tour.checked
