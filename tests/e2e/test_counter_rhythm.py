"""Issue "The counter's rhythm", in Chromium: three tests started for three patients (one a
multiplex kit), each waiting on top of the day page with its reading timer; the session ends
while a result form is half-filled, and after logging in again (password and code) the
choices are still there; each result is read once its timer is due and validated; then the
worker's job drains the outbox to the real SI-DEP simulator (mutual TLS): one message per
test, strictly valid for hl7apy, with one OBX per analyte, each acknowledged AA. axe-core
finds no WCAG 2.1 A/AA violation on the new pages.

A second test counts what the counter costs: the clicks, keystrokes and page loads to record
an antigen test for a returning patient found by NIR, with the mouse and with the keyboard
only, and along the in-progress path (start now, enter the reading later).

The timers are made due without waiting a quarter of an hour: the sample time typed in the
form is 16 minutes ago (the form's times have minutes only), and for the test started now,
once its countdown is seen running, its sample time is moved back in the database.
"""

import contextlib
import datetime
import re
import time

import pytest
from django.conf import settings as django_settings
from django.db import connections
from django.urls import reverse
from django.utils import timezone
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message
from playwright.sync_api import expect, sync_playwright

from relais.accounts.models import FormDraft
from relais.screening import catalogue, devices
from relais.screening.models import ScreeningTest
from relais.transmission.hl7 import order_id
from relais.transmission.models import Transmission
from sidep_simulator.messages import QUESTIONS
from sidep_simulator.store import Store
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, log_in
from tests.support.drain import drain_here
from tests.support.factories import (
    device_code,
    make_member,
    make_patient,
    make_pharmacy,
    make_test,
    next_totp_code,
)

pytestmark = pytest.mark.slow  # a browser

IDLE_SECONDS = 3
PANBIO = "1232"  # Abbott Panbio COVID-19 Ag: one result
COV_GRIP = "FR-AAZ-COV-GRIP"  # AAZ COV-GRIP: SARS-CoV-2, influenza A and B from one swab
READING_MINUTES = 15  # both kits'
DESKTOP = {"width": 1280, "height": 900}
DUE = re.compile(r"\bis-due\b")
COUNTDOWN = re.compile(r"^(\d+):([0-5]\d) left$")
# The old counter flow, measured before tests in progress (for the record).
OLD_FLOW = {"clicks": 8, "keystrokes": 16, "page_loads": 4}
OLD_KEYBOARD_ONLY = 67


def loinc(analyte: str) -> str:
    return catalogue.TEST_KINDS[analyte].loinc


def local_minute(moment: datetime.datetime) -> str:
    """A time as the form's datetime-local field takes it."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def skip_near_midnight() -> None:
    """A test in progress sampled before midnight is shown as abandoned, not with a timer:
    the sample times 16 minutes ago, and the run itself, must stay within one day."""
    now = timezone.localtime()
    since_midnight = now - now.replace(hour=0, minute=0, second=0, microsecond=0)
    if not (
        datetime.timedelta(minutes=READING_MINUTES + 5)
        < since_midnight
        < datetime.timedelta(hours=23, minutes=58)
    ):
        pytest.skip("too close to midnight: the tests would straddle two days")


@contextlib.contextmanager
def browser_page(live_server, monkeypatch):
    """A page of a fresh Chromium, in English. While Playwright runs, its event loop makes
    Django refuse ORM calls: the test's own (between steps) are allowed, and their
    connection closed at the end."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # bypass_csp: axe-core is injected as a script the pages' CSP rightly refuses.
            context = browser.new_context(bypass_csp=True, viewport=DESKTOP)
            language = {"name": django_settings.LANGUAGE_COOKIE_NAME, "value": "en"}
            context.add_cookies([{**language, "url": live_server.url}])
            page = context.new_page()
            page.set_default_timeout(10_000)
            yield page
        finally:
            browser.close()
            connections.close_all()


def patients_of(pharmacy, user, *names: tuple[str, str]) -> list:
    return [
        make_patient(pharmacy, user, birth_name=birth, used_name="", given_names=given)
        for birth, given in names
    ]


# --- The rhythm ------------------------------------------------------------------------------


def start_test(page, url, patient, *, search: str, code: str, lot: str, sampled_at: str):
    """The new-test form: the kit found with the search box, lot and expiry, sample time; no
    result (the kit is reading)."""
    page.goto(f"{url}{reverse('screening:test_new', args=[patient.pk])}")
    page.fill("#device-search", search)
    expect(page.locator("select[name=device_code]")).to_have_value(code)
    page.fill("input[name=lot]", lot)
    expiry = timezone.localdate() + datetime.timedelta(days=200)
    page.fill("input[name=lot_expiry]", expiry.isoformat())
    page.select_option("select[name=specimen]", "nasal_swab")
    page.fill("input[name=sampled_at]", sampled_at)
    page.check("input[name=consent_transmission]")
    page.click("form.test-form button[type=submit]")
    page.wait_for_url(f"{url}{reverse('screening:day')}")
    expect(page.locator(".messages")).to_contain_text("The test is started: read it at")


def enter_result(page, url, item, test, results: dict[str, str]):
    """From the day page's item, the result form: choose, validate, back on the day page."""
    item.get_by_role("link", name="Enter the result").click()
    page.wait_for_url(f"{url}{reverse('screening:test_result', args=[test.pk])}")
    for field, value in results.items():
        page.check(f"input[name={field}][value={value}]")
    page.click("form.result-form button[type=submit]")
    page.wait_for_url(f"{url}{reverse('screening:day')}")
    expect(page.locator(".messages")).to_contain_text("The result is saved")


def segments(message: str, name: str) -> list[list[str]]:
    return [s.split("|") for s in message.split("\r") if s.startswith(name + "|")]


def test_the_counters_rhythm(
    monkeypatch, live_server, transactional_db, settings, sidep, tour_pages
):
    skip_near_midnight()
    pharmacy = make_pharmacy()
    pharmacist = make_member(pharmacy, "pharmacist@example.org")
    totp = pharmacist.totpdevice_set.get()
    first, multiplex, later = patients_of(
        pharmacy, pharmacist, ("Quillebeuf", "Ysaline"), ("Zarkowski", "Anselme"),
        ("Brisemontier", "Clothilde"),
    )  # fmt: skip
    url = live_server.url
    day = f"{url}{reverse('screening:day')}"
    with browser_page(live_server, monkeypatch) as page:
        log_in(page, url, pharmacist, device_code(totp))
        page.wait_for_url(day)

        # Three tests started: two sampled 16 minutes ago (due), one now (reading).
        past = local_minute(timezone.now() - datetime.timedelta(minutes=READING_MINUTES + 1))
        now = local_minute(timezone.now())
        start_test(page, url, first, search=PANBIO, code=PANBIO, lot="PB24A117", sampled_at=past)
        page.goto(f"{url}{reverse('screening:test_new', args=[multiplex.pk])}")
        # The box in use is offered: its device and lot are filled in already.
        expect(page.locator("select[name=device_code]")).to_have_value(PANBIO)
        expect(page.locator("input[name=lot]")).to_have_value("PB24A117")
        page.fill("#device-search", "cov-grip")
        expect(page.locator("select[name=device_code]")).to_have_value(COV_GRIP)
        # The test follows the device (the box had set it to the antigen test), and the
        # Panbio box's lot does not stay on another kit.
        expect(page.locator("select[name=kind]")).to_have_value(devices.get(COV_GRIP).kind)
        expect(page.locator("input[name=lot]")).to_have_value("")
        # The kit's three result fields show (optional: left empty while it reads).
        for analyte in ("influenza_a_antigen", "influenza_b_antigen"):
            expect(page.locator(f"[data-result-field=result__{analyte}]")).to_be_visible()
        tour_pages.check(page, "counter-new-test-multiplex")
        start_test(page, url, multiplex, search="cov-grip", code=COV_GRIP, lot="CG2611",
                   sampled_at=past)  # fmt: skip
        page.goto(f"{url}{reverse('screening:test_new', args=[later.pk])}")
        page.fill("#device-search", PANBIO)  # back to a device of a box in use: its lot again
        expect(page.locator("input[name=lot]")).to_have_value("PB24A117")
        start_test(page, url, later, search=PANBIO, code=PANBIO, lot="PB24A117", sampled_at=now)

        tests = {
            patient.pk: ScreeningTest.objects.get(patient=patient)
            for patient in (first, multiplex, later)
        }
        assert all(test.in_progress for test in tests.values())
        assert (tests[multiplex.pk].device_code, tests[first.pk].device_code) == (COV_GRIP, PANBIO)
        assert not Transmission.objects.exists()  # nothing goes out before its reading

        # The day page: the three tests on top, two due, one counting down.
        progress = page.locator(".in-progress")
        items = progress.locator("[data-due]")
        expect(items).to_have_count(3)
        item = {p.pk: items.filter(has_text=p.display_name) for p in (first, multiplex, later)}
        for due in (first, multiplex):
            expect(item[due.pk]).to_have_class(DUE)
            expect(item[due.pk].locator("[data-countdown]")).to_have_text("Ready to read")
        expect(item[later.pk]).not_to_have_class(DUE)
        countdown = item[later.pk].locator("[data-countdown]")
        expect(countdown).to_have_text(COUNTDOWN)
        minutes, seconds = COUNTDOWN.match(countdown.inner_text()).groups()
        left = tests[later.pk].reading_due_at - timezone.now()
        assert abs(int(minutes) * 60 + int(seconds) - left.total_seconds()) < 5, left
        # A timer: read when asked, not announced every second (no aria-live of its own).
        expect(countdown).to_have_attribute("role", "timer")
        shown = countdown.inner_text()
        expect(countdown).not_to_have_text(shown)  # it runs, second by second
        tour_pages.check(page, "counter-day-tests-in-progress")

        # The multiplex kit's form half-filled; the session ends meanwhile.
        settings.SESSION_COOKIE_AGE = IDLE_SECONDS
        test = tests[multiplex.pk]
        result_path = reverse("screening:test_result", args=[test.pk])
        item[multiplex.pk].get_by_role("link", name="Enter the result").click()
        page.wait_for_url(f"{url}{result_path}")
        page.check("input[name=result][value=positive]")
        page.check("input[name=result__influenza_a_antigen][value=negative]")
        page.locator("[data-session-ending]").wait_for()
        time.sleep(IDLE_SECONDS + 1)
        settings.SESSION_COOKIE_AGE = 15 * 60
        page.click("form.result-form button[type=submit]")
        page.wait_for_url(f"{url}{reverse('accounts:login')}")
        expect(page.locator(".messages")).to_contain_text("what you typed is kept")
        assert ScreeningTest.objects.get(pk=test.pk).in_progress
        assert FormDraft.objects.count() == 1

        # Logged in again: the same form, both choices intact.
        log_in(page, url, pharmacist, next_totp_code(totp))
        page.wait_for_url(f"{url}{result_path}")
        expect(page.locator(".messages")).to_contain_text("nothing was saved yet")
        assert page.is_checked("input[name=result][value=positive]")
        assert page.is_checked("input[name=result__influenza_a_antigen][value=negative]")
        flu_b = page.locator("input[name=result__influenza_b_antigen]:checked")
        expect(flu_b).to_have_count(0)
        tour_pages.check(page, "counter-result-form-restored")
        page.check("input[name=result__influenza_b_antigen][value=negative]")
        page.click("form.result-form button[type=submit]")
        page.wait_for_url(day)
        expect(page.locator(".messages")).to_contain_text("The result is saved")

        enter_result(page, url, item[first.pk], tests[first.pk], {"result": "negative"})

        # The last one is still reading; its sample time moved back, it is due.
        expect(items).to_have_count(1)
        expect(item[later.pk]).not_to_have_class(DUE)
        earlier = tests[later.pk].sampled_at - datetime.timedelta(minutes=READING_MINUTES + 1)
        ScreeningTest.objects.filter(pk=tests[later.pk].pk).update(sampled_at=earlier)
        page.reload()
        expect(item[later.pk]).to_have_class(DUE)
        expect(item[later.pk].locator("[data-countdown]")).to_have_text("Ready to read")
        enter_result(page, url, item[later.pk], tests[later.pk], {"result": "positive"})
        expect(page.locator(".in-progress")).to_have_count(0)

    # Each validated once, each queued once; then drained by the worker's job.
    readings = {p.pk: ScreeningTest.objects.get(patient=p) for p in (first, multiplex, later)}
    assert readings[multiplex.pk].analyte_results() == [
        (catalogue.TEST_KINDS["sars_cov_2_antigen"], "positive"),
        (catalogue.TEST_KINDS["influenza_a_antigen"], "negative"),
        (catalogue.TEST_KINDS["influenza_b_antigen"], "negative"),
    ]
    assert [readings[p.pk].result for p in (first, later)] == ["negative", "positive"]
    assert not FormDraft.objects.exists()
    assert Transmission.objects.filter(state=Transmission.State.PENDING).count() == 3
    drain_here()
    rows = Transmission.objects.all()
    assert {(row.state, row.ack_code) for row in rows} == {(Transmission.State.ACKNOWLEDGED, "AA")}
    assert len(rows) == 3

    # What SI-DEP holds: one message per test, strictly valid, one OBX per analyte.
    stored = Store(sidep.db).messages()
    assert sidep.counts() == {"accepted": 3, "distinct_message_ids": 3, "received": 3}
    assert sorted(message_id for message_id, _at, _body in stored) == sorted(
        row.message_id for row in rows
    )
    by_test = {}
    for _message_id, _received_at, body in stored:
        parsed = parse_message(body, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
        assert parsed.validate()
        [obr] = segments(body, "OBR")
        by_test[obr[2].split("^")[0]] = [
            (obx[3].split("^")[0], obx[5].split("^")[0])
            for obx in segments(body, "OBX")
            if obx[3].split("^")[0] not in QUESTIONS  # the results, not the symptom answers
        ]
    snomed = {code: coded.snomed for code, coded in catalogue.RESULTS.items()}
    assert by_test == {
        order_id(readings[first.pk]): [(loinc("sars_cov_2_antigen"), snomed["negative"])],
        order_id(readings[multiplex.pk]): [
            (loinc("sars_cov_2_antigen"), snomed["positive"]),
            (loinc("influenza_a_antigen"), snomed["negative"]),
            (loinc("influenza_b_antigen"), snomed["negative"]),
        ],
        order_id(readings[later.pk]): [(loinc("sars_cov_2_antigen"), snomed["positive"])],
    }


# --- What the counter costs ------------------------------------------------------------------


def has_focus(locator) -> bool:
    return locator.evaluate("element => element === document.activeElement")


class Counted:
    """The user's actions on a page, counted as they are performed: clicks, keystrokes (each
    key pressed, each character typed) and page loads."""

    def __init__(self, page):
        self.page = page
        self.clicks = self.keystrokes = self.page_loads = 0
        page.on("load", self.loaded)

    def loaded(self, _page) -> None:
        self.page_loads += 1

    def start(self) -> None:
        """From the page shown now: nothing counted yet."""
        self.page.wait_for_load_state()
        self.clicks = self.keystrokes = self.page_loads = 0

    def click(self, locator) -> None:
        self.clicks += 1
        locator.click()

    def type(self, text: str) -> None:
        self.keystrokes += len(text)
        self.page.keyboard.type(text)

    def press(self, key: str) -> None:
        self.keystrokes += 1
        self.page.keyboard.press(key)

    def tab_to(self, locator, limit: int = 100) -> None:
        """Tab until `locator` has the focus."""
        for _ in range(limit):
            if has_focus(locator):
                return
            self.press("Tab")
        raise AssertionError(f"{locator} never got the focus")

    def focus(self, locator) -> None:
        """A click into a field, unless the cursor is there already."""
        if not has_focus(locator):
            self.click(locator)

    def skip_to_content(self) -> None:
        """The page's skip link (its first stop), followed: the focus moves to <main>.
        Not needed when the focus is in the page's content already."""
        if self.page.evaluate("document.activeElement.closest('main') !== null"):
            return
        self.tab_to(self.page.locator("a.skip-link"))
        self.press("Enter")
        expect(self.page.locator("main")).to_be_focused()

    def figures(self) -> dict[str, int]:
        return {"clicks": self.clicks, "keystrokes": self.keystrokes, "page_loads": self.page_loads}


def record_a_test_link(page):
    return page.get_by_role("link", name=re.compile(r"^Record a test"))


def test_what_recording_a_test_costs_at_the_counter(monkeypatch, live_server, transactional_db):
    """Day page to saved result for a returning patient found by NIR, the box in use offered
    and the sample time now: with the mouse, with the keyboard only, and in two steps (the
    test started, its reading entered later from the day page)."""
    pharmacy = make_pharmacy()
    pharmacist = make_member(pharmacy, "pharmacist@example.org")
    returning = patients_of(
        pharmacy, pharmacist, ("Quillebeuf", "Ysaline"), ("Zarkowski", "Anselme"),
        ("Brisemontier", "Clothilde"),
    )  # fmt: skip
    kit = devices.DEVICES[PANBIO]
    for patient in returning:  # each came last week; the box is in use
        make_test(
            patient, pharmacist, kind=kit.kind, device=kit.label, device_code=kit.code,
            lot="PB24A117", lot_expiry=timezone.localdate() + datetime.timedelta(days=200),
            sampled_at=timezone.now() - datetime.timedelta(days=7),
        )  # fmt: skip
    url = live_server.url
    day = f"{url}{reverse('screening:day')}"
    figures = {}
    with browser_page(live_server, monkeypatch) as page:
        log_in(page, url, pharmacist, device_code(pharmacist.totpdevice_set.get()))
        page.wait_for_url(day)
        user = Counted(page)

        def test_form_of(patient):
            page.wait_for_url(f"{url}{reverse('screening:test_new', args=[patient.pk])}")
            # Device and lot come from the box in use: untouched.
            expect(page.locator("select[name=device_code]")).to_have_value(PANBIO)
            expect(page.locator("input[name=lot]")).to_have_value("PB24A117")

        # With the mouse (and the NIR typed).
        patient = returning[0]
        user.start()
        user.click(page.get_by_role("link", name="Find the patient"))
        user.focus(page.locator("#id_nir"))
        user.type(patient.nir)
        user.press("Enter")
        user.click(record_a_test_link(page))
        test_form_of(patient)
        user.click(page.locator("input[name=result][value=positive]"))
        user.click(page.locator("form.test-form button[type=submit]"))
        page.wait_for_url(day)
        expect(page.locator(".messages")).to_contain_text("The result is saved")
        figures["mouse"] = user.figures()

        # With the keyboard only: the shortcut to the search page ("/", shown in every
        # page's footer), the skip link to each page's content, Tab, Space and Enter.
        patient = returning[1]
        user.start()
        user.press("/")
        page.wait_for_url(f"{url}{reverse('screening:patient_search')}")
        user.skip_to_content()
        user.tab_to(page.locator("#id_nir"))
        user.type(patient.nir)
        user.press("Enter")
        record_a_test_link(page).wait_for()
        user.skip_to_content()
        user.tab_to(record_a_test_link(page))
        user.press("Enter")
        test_form_of(patient)
        user.skip_to_content()
        user.tab_to(page.locator("input[name=result][value=positive]"))
        user.press("Space")
        user.tab_to(page.locator("form.test-form button[type=submit]"))
        user.press("Enter")
        # A redirect keeps the address's fragment: the skip link's #main stays, when it
        # was used (a page whose first field has the focus on arrival needs no skip link).
        page.wait_for_url(re.compile(rf"^{re.escape(day)}(#main)?$"))
        expect(page.locator(".messages")).to_contain_text("The result is saved")
        figures["keyboard_only"] = user.figures()

        # In two steps: started without a result, its reading entered later.
        patient = returning[2]
        user.start()
        user.click(page.get_by_role("link", name="Find the patient"))
        user.focus(page.locator("#id_nir"))
        user.type(patient.nir)
        user.press("Enter")
        user.click(record_a_test_link(page))
        test_form_of(patient)
        user.click(page.locator("form.test-form button[type=submit]"))
        page.wait_for_url(day)
        started = user.figures()
        user.click(page.locator(".in-progress").get_by_role("link", name="Enter the result"))
        page.wait_for_url(re.compile(r"/tests/[0-9a-f-]+/result/$"))
        user.click(page.locator("input[name=result][value=positive]"))
        user.click(page.locator("form.result-form button[type=submit]"))
        page.wait_for_url(day)
        expect(page.locator(".messages")).to_contain_text("The result is saved")
        figures["in_progress"] = user.figures()
        figures["in_progress_start"] = started

    print(f"\nCounter cost, day page to saved result (old flow: {OLD_FLOW}, keyboard only "
          f"about {OLD_KEYBOARD_ONLY} keystrokes):")  # fmt: skip
    for path, counted in figures.items():
        print(f"  {path}: {counted}")
    for patient in returning:
        latest = ScreeningTest.objects.filter(patient=patient).order_by("-created_at").first()
        assert (latest.result, latest.device_code, latest.lot) == ("positive", PANBIO, "PB24A117")
        assert latest.validated_at is not None
    assert Transmission.objects.filter(test__patient__in=returning).count() == 6
    for name, value in figures["mouse"].items():
        assert value <= OLD_FLOW[name], (name, figures["mouse"])
    assert figures["keyboard_only"]["keystrokes"] <= OLD_KEYBOARD_ONLY, figures
    assert figures["keyboard_only"]["clicks"] == 0
