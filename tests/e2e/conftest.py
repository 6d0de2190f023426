"""The whole product as it runs in production, for the browser tests.

- `relais_stack` (module): `relais demo` in a subprocess (gunicorn, the worker and the SI-DEP
  simulator over mutual TLS) on free ports, with its own var dir, and its own database: SQLite
  under that var dir, or a throwaway PostgreSQL database on the server of
  RELAIS_TEST_DATABASE_URL. It reads the demo accounts and the e-mails the file backend writes.
- `chromium`: Debian's chromium, headless.
- `tour_pages`: runs axe-core (WCAG 2.1 A/AA) on a page and, with RELAIS_SCREENSHOTS=1 or
  `pytest --screenshots`, saves its screenshot under var/screenshots/.
"""

import email
import email.policy
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import free_port

PROJECT = Path(__file__).resolve().parents[2]
AXE = PROJECT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SCREENSHOTS_DIR = PROJECT / "var" / "screenshots"
START_TIMEOUT_SECONDS = 90
# The file e-mail backend separates the messages of one file with this line.
MAIL_SEPARATOR = "\n" + "-" * 79 + "\n"


@dataclass
class RelaisStack:
    url: str
    var_dir: Path
    log: Path
    accounts: dict = field(default_factory=dict)

    def account(self, role: str) -> dict:
        return self.accounts[role]

    def mails(self) -> list[email.message.EmailMessage]:
        messages = []
        for path in sorted((self.var_dir / "mail").glob("*.log")):
            for chunk in path.read_text().split(MAIL_SEPARATOR):
                if chunk.strip():
                    messages.append(email.message_from_string(chunk, policy=email.policy.default))
        return messages

    def wait_for_mail(self, to: str, link_pattern: str, nth: int = 1, timeout=30.0) -> str:
        """The link matching `link_pattern` in the `nth` such e-mail sent to `to`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            links = []
            for message in self.mails():
                if to in message["To"]:
                    found = re.search(link_pattern, message.get_body(("plain",)).get_content())
                    links += [found.group(0)] if found else []
            if len(links) >= nth:
                return links[nth - 1]
            time.sleep(0.2)
        raise AssertionError(f"no e-mail #{nth} to {to} with {link_pattern!r} in {timeout}s")


def throwaway_postgres_database(server_url: str):
    """A new empty database on the test server, and a function that drops it."""
    import psycopg

    name = f"relais_e2e_{uuid.uuid4().hex[:12]}"
    parts = urlsplit(server_url)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlunsplit(parts._replace(path=f"/{name}")), drop


def wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"relais demo exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/accounts/login/", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"relais demo did not answer in time:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    # `relais demo` stops its own children (web, worker, simulator) on SIGTERM.
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def relais_stack(tmp_path_factory):
    assert Path(CHROMIUM).exists() and AXE.exists(), "run `make browser` first"
    var_dir = tmp_path_factory.mktemp("relais-e2e-var")
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("RELAIS_") and key != "DJANGO_SETTINGS_MODULE"
    }
    env.update(
        RELAIS_DEMO="1",
        RELAIS_VAR_DIR=str(var_dir),
        RELAIS_PORT=str(port),
        RELAIS_SIDEP_URL=f"https://127.0.0.1:{free_port()}/hl7/v2/batch",
        PYTHONUNBUFFERED="1",
    )
    drop_database = None
    if os.environ.get("RELAIS_TEST_DATABASE_URL"):
        env["RELAIS_DATABASE_URL"], drop_database = throwaway_postgres_database(
            os.environ["RELAIS_TEST_DATABASE_URL"]
        )
    log = var_dir / "demo.log"
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as output:
        # Our own fixed command line; its own session so a stuck child can be killed with it.
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "relais", "demo"],
            env=env,
            cwd=var_dir,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_serving(url, process, log)
        content = json.loads((var_dir / "demo-accounts.json").read_text())
        accounts = {account["role"]: account for account in content["accounts"]}
        yield RelaisStack(url=url, var_dir=var_dir, log=log, accounts=accounts)
    finally:
        stop(process)
        if drop_database:
            drop_database()


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def axe_violations(page) -> tuple[int, list[str]]:
    page.add_script_tag(path=str(AXE))
    results = page.evaluate(
        """async (tags) => {
            const results = await axe.run(document, {runOnly: tags});
            return [results.passes.length, results.violations.map(
                v => v.id + ": " + v.nodes.map(n => n.target.join(" ")).join(", "))];
        }""",
        WCAG_21_AA,
    )
    return results[0], results[1]


class TourPages:
    """Checks every page of a tour with axe-core and keeps its screenshot when asked."""

    def __init__(self, screenshots: bool):
        self.screenshots = screenshots
        self.checked: list[str] = []

    def check(self, page, name: str) -> None:
        page.wait_for_load_state()
        passes, violations = axe_violations(page)
        assert violations == [], f"{name} ({page.url}): {violations}"
        assert passes > 10, f"{name}: axe checked almost nothing"
        self.checked.append(name)
        if self.screenshots:
            SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS_DIR / f"{name}.png"), type="png")


@pytest.fixture
def tour_pages(request):
    wanted = request.config.getoption("--screenshots", default=False)
    return TourPages(bool(wanted) or os.environ.get("RELAIS_SCREENSHOTS") == "1")
