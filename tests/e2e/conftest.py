"""The whole product as it runs in production, for the browser tests.

- `relais_stack` (module): `relais demo` in a subprocess (gunicorn, the worker and the SI-DEP
  simulator over mutual TLS) on free ports, with its own var dir, and its own database: SQLite
  under that var dir, or a throwaway PostgreSQL database on the server of
  RELAIS_TEST_DATABASE_URL. It reads the demo accounts and the e-mails the file backend writes.
- `chromium`: Debian's chromium, headless.
- `tour_pages`: runs axe-core (WCAG 2.1 A/AA) on a page and, with RELAIS_SCREENSHOTS=1 or
  `pytest --screenshots`, saves its screenshot under var/screenshots/.
"""

import contextlib
import os

import pytest
from playwright.sync_api import sync_playwright

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, TourPages, browser_tools_installed
from tests.support.databases import throwaway_database
from tests.support.servers import relais_demo


@pytest.fixture(scope="module")
def relais_stack(tmp_path_factory):
    assert browser_tools_installed(), "run `make browser` first"
    var_dir = tmp_path_factory.mktemp("relais-e2e-var")
    server = os.environ.get("RELAIS_TEST_DATABASE_URL")
    with contextlib.ExitStack() as stack:
        database_url = (
            stack.enter_context(throwaway_database(server, "relais_e2e")) if server else ""
        )
        yield stack.enter_context(relais_demo(var_dir, database_url))


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def tour_pages(request):
    wanted = request.config.getoption("--screenshots", default=False)
    return TourPages(bool(wanted) or os.environ.get("RELAIS_SCREENSHOTS") == "1")
