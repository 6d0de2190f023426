"""The two questions of identity safety as a pharmacist meets them in Chromium: a patient
who may already be registered, then the same test entered twice; each page checked with
axe-core (WCAG 2.1 AA)."""

import datetime
from contextlib import contextmanager

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import sync_playwright

from relais.screening.models import Patient, ScreeningTest
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, axe_violations
from tests.support.factories import log_in, make_patient, make_test

SAVE = "main form button[type=submit]"


@contextmanager
def logged_in_page(live_server, user, monkeypatch):
    session = log_in(Client(), user).cookies["sessionid"].value
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # ORM calls between steps
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(bypass_csp=True)  # axe-core is an inline script
            context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
            yield context.new_page()
        finally:
            browser.close()


def assert_accessible(page) -> None:
    passes, violations = axe_violations(page)
    assert violations == [] and passes > 10, violations


@pytest.mark.slow  # a browser
@pytest.mark.django_db(transaction=True)
def test_a_pharmacist_is_asked_before_a_second_patient_and_a_second_test(
    live_server, pharmacy, pharmacist, monkeypatch
):
    stored = make_patient(
        pharmacy, pharmacist, birth_name="Lefèvre-Müller", given_names="Éloïse", nir=""
    )
    make_test(stored, pharmacist, sampled_at=timezone.now() - datetime.timedelta(minutes=30))
    with logged_in_page(live_server, pharmacist, monkeypatch) as page:
        page.goto(f"{live_server.url}{reverse('screening:patient_new')}")
        page.fill("#id_birth_name", "Lefevre-Muller")
        page.fill("#id_given_names", "Eloise")
        page.fill("#id_birth_date", "1985-03-14")
        page.select_option("#id_sex", "F")
        page.click(SAVE)
        page.wait_for_selector(".possible-duplicates")
        assert_accessible(page)
        assert page.is_checked(f"input[name=duplicate_choice][value='{stored.pk}']")
        page.click(SAVE)  # the record proposed: the stored one
        page.wait_for_url(f"{live_server.url}{reverse('screening:test_new', args=[stored.pk])}")
        assert page.locator("#id_new_sample").count() == 0

        page.check("input[name=result][value=negative]")
        page.check("#id_consent_transmission")
        page.click(SAVE)
        page.wait_for_selector("#id_new_sample")
        assert_accessible(page)
        page.check("#id_new_sample")
        page.click(SAVE)
        page.wait_for_url(f"{live_server.url}{reverse('screening:day')}")
    assert Patient.objects.count() == 1
    assert ScreeningTest.objects.filter(patient=stored).count() == 2
