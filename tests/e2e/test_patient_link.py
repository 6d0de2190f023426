"""The patient's path in a real browser (Debian's chromium): follow the link, enter the
date of birth, read the result, download the PDF; axe-core finds no WCAG 2.1 A/AA
violation on any page, on a small phone's screen. The link's token leaves the address bar
at once and never reaches the browser's history or any Referer."""

import datetime
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import sync_playwright

from relais.audit.models import AuditEvent
from relais.patient_access import links
from tests.support.browser import AXE, CHROMIUM, CHROMIUM_ARGS, axe_violations
from tests.support.factories import make_member, make_patient, make_pharmacy, make_test
from tests.support.pdf import pdf_text

pytestmark = pytest.mark.slow  # a browser

SMALL_PHONE = {"width": 360, "height": 640}


def assert_accessible(page, what: str) -> None:
    passes, violations = axe_violations(page)
    assert violations == [], what
    assert passes > 10, f"{what}: axe checked almost nothing"
    # Readable on a small phone: nothing wider than the screen.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= SMALL_PHONE["width"], f"{what}: {width}px wide"


def test_a_patient_opens_the_result_and_downloads_the_pdf(live_server, transactional_db, tmp_path):
    assert Path(CHROMIUM).exists() and AXE.exists(), "run `make browser` first"
    pharmacy = make_pharmacy()
    pharmacy.phone = "01 23 45 67 89"
    pharmacy.save()
    pharmacist = make_member(pharmacy, "pharmacist@example.org")
    patient = make_patient(pharmacy, pharmacist)
    test = make_test(
        patient,
        pharmacist,
        result="positive",
        sampled_at=timezone.now() - datetime.timedelta(hours=1),
    )
    link, token = links.issue_links([(test, [])])[0]
    birth = patient.birth_date

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport=SMALL_PHONE, locale="fr-FR", accept_downloads=True, bypass_csp=True
        )
        page = context.new_page()
        sent = []  # every request the browser makes, with the Referer it sends
        page.on("request", lambda request: sent.append((request.url, request.headers)))

        page.goto(f"{live_server.url}/r/{token}")
        assert page.url == f"{live_server.url}/r/open/"
        assert "Pharmacie Test" in page.content()
        assert patient.given_names.split()[0] not in page.content()  # before the date check
        assert_accessible(page, "link page")
        # The session history holds the token-free page only: back leads out of Relais.
        page.go_back()
        assert page.url == "about:blank"
        page.go_forward()
        assert page.url == f"{live_server.url}/r/open/"

        page.get_by_label("Jour").fill("1")
        page.get_by_label("Mois").fill("1")
        page.get_by_label("Année").fill("1999")
        page.locator("form.form button[type=submit]").click()
        assert page.locator("[role=alert]").count() == 1
        assert_accessible(page, "wrong-date page")

        page.get_by_label("Jour").fill(str(birth.day))
        page.get_by_label("Mois").fill(str(birth.month))
        page.get_by_label("Année").fill(str(birth.year))
        page.locator("form.form button[type=submit]").click()
        page.wait_for_url(f"{live_server.url}/r/result/")
        assert token not in page.url
        assert "Positif" in page.content()
        assert_accessible(page, "result page (fr)")

        page.select_option("#language-select", "en")
        page.locator(".language-form button").click()
        page.wait_for_url(f"{live_server.url}/r/result/")
        assert page.locator("html").get_attribute("lang") == "en"
        assert "What to do now" in page.content()
        assert_accessible(page, "result page (en)")

        with page.expect_download() as download_info:
            page.get_by_role("link", name="Download the result (PDF)").click()
        pdf = Path(download_info.value.path()).read_bytes()

        page.get_by_role("button", name="Close").click()
        page.wait_for_load_state()
        assert_accessible(page, "closed page")
        page.goto(f"{live_server.url}/r/result/")
        assert "Your result is closed" in page.content()
        browser.close()

    links_followed = [url for url, _ in sent if token in url]
    assert len(links_followed) == 1, links_followed  # the click on the link, and no other
    assert [url for url, headers in sent if token in headers.get("referer", "")] == []
    assert len(sent) > 8, "the browser's requests were not seen"

    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    assert "positive" in text.splitlines()
    assert "Pharmacie Test" in text
    opened = AuditEvent.objects.filter(target_id=str(test.pk), action="patient_link.opened")
    assert opened.count() == 1
    assert AuditEvent.objects.filter(target_id=str(test.pk), action="patient_result.pdf").exists()
