"""Issue "No lost input", in Chromium: a pharmacist fills the new-test form, the session
ends while the form is open (the idle timeout cut to a few seconds), Save goes to the
login page with a message; after logging in again (password and code) the same form is
back with every value, and saving it records the test once."""

import datetime
import time

import pytest
from django.conf import settings as django_settings
from django.db import connections
from django.urls import reverse
from playwright.sync_api import sync_playwright

from relais.accounts.models import FormDraft
from relais.audit.models import AuditEvent
from relais.screening.models import ScreeningTest
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, log_in
from tests.support.factories import (
    device_code,
    make_member,
    make_patient,
    make_pharmacy,
    next_totp_code,
)

pytestmark = pytest.mark.slow  # a browser

IDLE_SECONDS = 3
DEVICE = "Zorglub rapid test lot 7Q"


def test_a_form_sent_after_the_session_ended_comes_back_after_login(
    live_server, transactional_db, settings, monkeypatch
):
    pharmacy = make_pharmacy()
    pharmacist = make_member(pharmacy, "pharmacist@example.org")
    patient = make_patient(pharmacy, pharmacist)
    device = pharmacist.totpdevice_set.get()
    form_path = reverse("screening:test_new", args=[patient.pk])
    onset = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # ORM calls between steps

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            language = {"name": django_settings.LANGUAGE_COOKIE_NAME, "value": "en"}
            context.add_cookies([{**language, "url": live_server.url}])
            page = context.new_page()
            log_in(page, live_server.url, pharmacist, device_code(device))
            page.wait_for_url(f"{live_server.url}{reverse('screening:day')}")

            # From now on, a session ends after a few idle seconds.
            settings.SESSION_COOKIE_AGE = IDLE_SECONDS
            page.goto(f"{live_server.url}{form_path}")
            page.check("input[name=result][value=positive]")
            page.fill("input[name=device]", DEVICE)
            page.check("input[name=symptoms]")
            page.fill("input[name=symptom_onset]", onset)
            page.check("input[name=consent_transmission]")
            # relais.js warns a minute before the end (here: at once).
            notice = page.locator("[data-session-ending]")
            notice.wait_for()
            assert "Save now" in notice.inner_text()
            time.sleep(IDLE_SECONDS + 1)
            settings.SESSION_COOKIE_AGE = 15 * 60

            page.click("form.test-form button[type=submit]")
            page.wait_for_url(f"{live_server.url}{reverse('accounts:login')}")
            assert "what you typed is kept" in page.locator(".messages").inner_text()
            assert not ScreeningTest.objects.exists()
            assert FormDraft.objects.count() == 1

            log_in(page, live_server.url, pharmacist, next_totp_code(device))
            page.wait_for_url(f"{live_server.url}{form_path}")
            assert "nothing was saved yet" in page.locator(".messages").inner_text()
            assert page.is_checked("input[name=result][value=positive]")
            assert page.input_value("input[name=device]") == DEVICE
            assert page.is_checked("input[name=symptoms]")
            assert page.input_value("input[name=symptom_onset]") == onset
            assert page.is_checked("input[name=consent_transmission]")
            assert not FormDraft.objects.exists()

            page.click("form.test-form button[type=submit]")
            page.wait_for_url(f"{live_server.url}{reverse('screening:day')}")
        finally:
            browser.close()
            # The ORM calls made among Playwright's steps have a connection of their own.
            connections.close_all()

    test = ScreeningTest.objects.get()
    assert (test.patient_id, test.result, test.device) == (patient.pk, "positive", DEVICE)
    assert test.symptoms and test.symptom_onset.isoformat() == onset
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"form_draft.kept", "form_draft.restored", "test.create"} <= actions
