"""Small things a counter notices, in a real browser (Debian's chromium) against the live
test server: the cursor starts in the first field of a form; Back after a patient search
shows the results again without sending the search again; on a phone, every cell of a
table says which column it belongs to; axe-core finds nothing on the pages added."""

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from playwright.sync_api import sync_playwright

from relais.accounts.models import Membership
from relais.api.credentials import create_credential
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, axe_violations
from tests.support.factories import (
    earlier_today,
    log_in,
    make_member,
    make_patient,
    make_pharmacy,
    make_platform_admin,
    make_test,
)
from tests.support.fictitious import PATIENT_DATA, csv_row, csv_text
from tests.support.imports import work_imports

pytestmark = pytest.mark.slow  # a browser

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}


@pytest.fixture
def counter(transactional_db):
    pharmacy = make_pharmacy()
    owner = make_member(pharmacy, "owner@example.org", Membership.Role.OWNER)
    pharmacist = make_member(pharmacy, "pharmacist@example.org")
    patient = make_patient(pharmacy, pharmacist)
    make_test(patient, pharmacist, sampled_at=earlier_today(20))
    create_credential(pharmacy, "LGO comptoir")
    uploader = log_in(Client(), pharmacist)
    upload = SimpleUploadedFile("r.csv", csv_text([csv_row(1), csv_row(2)]).encode(), "text/csv")
    review = uploader.post("/imports/", {"file": upload})["Location"]
    work_imports()  # the worker checks the file
    upload = SimpleUploadedFile("s.csv", csv_text([csv_row(3)]).encode(), "text/csv")
    queued = uploader.post("/imports/", {"file": upload})["Location"]  # not checked yet
    # Everything the database gives is read now: no ORM call while Playwright's loop runs.
    return {
        "owner": session_of(owner),
        "pharmacist": uploader.cookies[settings.SESSION_COOKIE_NAME].value,
        "admin": session_of(make_platform_admin()),
        "patient": patient,
        "removal": f"/accounts/staff/{Membership.objects.get(user=pharmacist).pk}/remove/",
        "suspension": f"/platform/pharmacies/{pharmacy.pk}/status/?action=suspend",
        "review": review,
        "queued": queued,
    }


def session_of(user) -> str:
    """The cookie of a verified session of `user` (password and TOTP checked)."""
    return log_in(Client(), user).cookies[settings.SESSION_COOKIE_NAME].value


@pytest.fixture
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def signed_in(browser, live_server, session: str, viewport=DESKTOP):
    """A page of a browser holding the session `session` (bypass_csp: axe-core is injected
    as a script the pages' CSP rightly refuses)."""
    context = browser.new_context(viewport=viewport, locale="en-GB", bypass_csp=True)
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )
    return context.new_page()


def focused(page) -> str:
    page.wait_for_load_state("load")
    return page.evaluate(
        "() => { const e = document.activeElement;"
        " return e.id || e.className || e.tagName.toLowerCase(); }"
    )


def test_the_cursor_starts_in_the_first_field(live_server, counter, browser):
    page = signed_in(browser, live_server, counter["owner"])
    url = live_server.url
    for path, first in [
        ("/patients/", "id_nir"),
        ("/patients/new/", "id_birth_name"),
        ("/accounts/staff/", "id_full_name"),
        ("/api-credentials/", "id_name"),
        ("/imports/", "id_file"),
    ]:
        page.goto(url + path)
        assert focused(page) == first, path
    # Not on a list, whose keyboard shortcuts work only outside fields (its date filter
    # is a GET form), nor on a confirmation page.
    page.goto(url + "/")
    assert focused(page) == "body"
    page.goto(url + counter["removal"])
    assert focused(page) == "body"


def test_after_errors_the_cursor_starts_at_the_first_one(live_server, counter, browser):
    page = signed_in(browser, live_server, counter["pharmacist"])
    page.goto(live_server.url + "/patients/")
    page.fill("#id_nir", "285037505612399")  # a wrong key
    page.click("form.search-form button[type=submit]")
    assert focused(page) == "id_nir"
    page.fill("#id_nir", "")
    page.fill("#id_birth_name", "Lefèvre")  # no birth date: an error about the whole form
    page.click("form.search-form button[type=submit]")
    assert focused(page) == "form-errors"


def test_back_after_a_search_shows_the_results_without_sending_it_again(
    live_server, counter, browser
):
    page = signed_in(browser, live_server, counter["pharmacist"])
    sent: list[tuple[str, str]] = []
    page.on("request", lambda request: sent.append((request.method, request.url)))
    page.goto(live_server.url + "/patients/")
    page.fill("#id_nir", PATIENT_DATA["nir"])
    page.click("form.search-form button[type=submit]")
    page.wait_for_url("**/patients/?search=*")
    results = page.url
    assert PATIENT_DATA["nir"] not in results
    assert ("POST", live_server.url + "/patients/") in sent
    assert page.locator(".result-card").count() == 1

    page.click(".result-card__name")
    page.wait_for_url(f"**/patients/{counter['patient'].pk}/")
    sent.clear()
    page.go_back()
    page.wait_for_load_state("load")
    assert page.url == results
    assert page.locator(".result-card").count() == 1
    page.reload()
    assert page.locator(".result-card").count() == 1
    assert [method for method, _ in sent if method != "GET"] == []


LABELS = """() => Array.from(document.querySelectorAll("table.table tbody td"))
    .filter(cell => !cell.classList.contains("table__actions"))
    .map(cell => {
        const before = getComputedStyle(cell, "::before");
        return [cell.dataset.label || "", before.content, before.display,
                cell.getBoundingClientRect().width];
    })"""


def test_on_a_phone_every_table_cell_shows_its_column(live_server, counter, browser):
    page = signed_in(browser, live_server, counter["owner"], viewport=PHONE)
    checked = 0
    for path in ("/", f"/patients/{counter['patient'].pk}/", "/accounts/staff/",
                 "/api-credentials/"):  # fmt: skip
        page.goto(live_server.url + path)
        page.wait_for_load_state("load")
        cells = page.evaluate(LABELS)
        assert cells, f"{path}: no table"
        for label, content, display, width in cells:
            assert label, f"{path}: a cell without data-label"
            assert content == f'"{label}"' and display != "none", f"{path}: {label}"
            assert width > 0
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
        checked += len(cells)
    assert checked > 15


def test_the_new_pages_pass_axe_core(live_server, counter, browser):
    """WCAG 2.1 A/AA on the pages these changes added: the confirmations and the rows an
    import would record."""
    pages = [
        ("owner", counter["removal"]),
        ("admin", counter["suspension"]),
        ("pharmacist", counter["review"]),
    ]
    for who, path in pages:
        page = signed_in(browser, live_server, counter[who])
        page.goto(live_server.url + path)
        page.wait_for_load_state("load")
        assert page.locator("main form").count() >= 1, path
        passes, violations = axe_violations(page)
        assert violations == [] and passes > 10, path
    assert page.locator("table.import-rows tbody tr").count() == 2


def test_the_progress_bar_passes_axe_core_and_follows_the_worker(
    live_server, counter, browser, monkeypatch
):
    """The review page of a file waiting for the worker: a labelled <progress> that
    relais.js moves, then the page reloaded with the result once the worker is done."""
    page = signed_in(browser, live_server, counter["pharmacist"])
    page.goto(live_server.url + counter["queued"])
    page.wait_for_load_state("load")
    assert page.locator("progress#import-progress").count() == 1
    label = page.locator("label[for=import-progress]").inner_text()  # in the page's language
    assert label and page.get_by_label(label).count() == 1
    passes, violations = axe_violations(page)
    assert violations == [] and passes > 10
    # The worker, here (the live server shares this process's database).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    work_imports()
    page.wait_for_selector("#summary-title", timeout=20_000)  # reloaded by relais.js
    assert page.locator("progress").count() == 0
    assert page.locator("button[name=import]").count() == 1
