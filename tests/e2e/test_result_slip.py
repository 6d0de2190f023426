"""The result slip in a real browser (Debian's chromium): the pharmacist prints it from
the test page, the patient types its code at /r/code/ and reads the result. axe-core
finds no WCAG 2.1 A/AA violation on the slip nor on the code page; the receipt prints
on 80 mm paper."""

import io
import re

import pdfplumber
import pytest
from django.test import Client
from playwright.sync_api import sync_playwright

from relais.audit.models import AuditEvent
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, axe_violations, browser_tools_installed
from tests.support.factories import log_in, make_member, make_patient, make_pharmacy, make_test

pytestmark = pytest.mark.slow  # a browser

MM = 72 / 25.4  # points per millimetre


def assert_accessible(page, what: str) -> None:
    passes, violations = axe_violations(page)
    assert violations == [], f"{what}: {violations}"
    assert passes > 10, f"{what}: axe checked almost nothing"


@pytest.mark.django_db(transaction=True)
def test_a_printed_slip_leads_the_patient_to_the_result(live_server, monkeypatch, settings):
    assert browser_tools_installed(), "run `make browser` first"
    settings.BASE_URL = live_server.url
    pharmacy = make_pharmacy()
    pharmacist = make_member(pharmacy, "pharmacist@example.org")
    patient = make_patient(pharmacy, pharmacist, phone="", email="")
    test = make_test(
        patient,
        pharmacist,
        kind="sars_cov_2_influenza_ab_antigen",
        result="negative",
        other_results={"influenza_a_antigen": "positive", "influenza_b_antigen": "negative"},
    )
    session = log_in(Client(), pharmacist).cookies["sessionid"].value
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # ORM calls between steps
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            counter = browser.new_context(locale="fr-FR", bypass_csp=True)
            counter.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
            page = counter.new_page()
            page.goto(f"{live_server.url}/tests/{test.pk}/")
            page.locator("form.slip-print-form button[value=receipt]").click()
            page.wait_for_selector("article.slip--receipt")
            page.wait_for_selector("button[data-print]", state="visible")  # relais.js shows it
            assert_accessible(page, "receipt slip")
            code = page.locator(".slip__code").inner_text().strip()
            assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", code)
            # Printed, the receipt is 80 mm wide and shows the slip alone.
            printed = page.pdf(prefer_css_page_size=True)
            with pdfplumber.open(io.BytesIO(printed)) as pdf:
                assert all(abs(sheet.width - 80 * MM) < 1 for sheet in pdf.pages)
                text = "\n".join(sheet.extract_text() for sheet in pdf.pages)
            assert code in text and "Imprimer" not in text
            assert AuditEvent.objects.filter(action="test.print", target_id=str(test.pk)).count()

            patient_side = browser.new_context(
                locale="fr-FR", viewport={"width": 360, "height": 640}, bypass_csp=True
            )
            page = patient_side.new_page()
            page.goto(f"{live_server.url}/r/code")
            assert page.url == f"{live_server.url}/r/code/"
            assert_accessible(page, "code page")
            page.locator("input[name=code]").fill(code.lower())
            birth = patient.birth_date
            page.locator("input[name=day]").fill(str(birth.day))
            page.locator("input[name=month]").fill(str(birth.month))
            page.locator("input[name=year]").fill(str(birth.year))
            page.locator("form.form button[type=submit]").click()
            page.wait_for_url(f"{live_server.url}/r/result/")
            assert code not in page.url
            assert page.locator("dl.details dd").filter(has_text="positif").count() == 1
            assert_accessible(page, "result page of a multiplex test")
        finally:
            browser.close()
