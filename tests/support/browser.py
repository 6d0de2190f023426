"""Debian's chromium, headless, axe-core (WCAG 2.1 A/AA), and the staff login page, for
the browser tests."""

from pathlib import Path

from django.urls import reverse

from tests.support.factories import PASSWORD

PROJECT_DIR = Path(__file__).resolve().parents[2]
AXE = PROJECT_DIR / "node_modules" / "axe-core" / "axe.min.js"
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
SCREENSHOTS_DIR = PROJECT_DIR / "var" / "screenshots"


def browser_tools_installed() -> bool:
    return Path(CHROMIUM).exists() and AXE.exists()


def log_in(page, base_url: str, user, code: str, password: str = PASSWORD) -> None:
    """Log `user` in on the login page (password and second-factor `code`, one form)."""
    page.goto(f"{base_url}{reverse('accounts:login')}")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", password)
    page.fill("input[name=otp_token]", code)
    page.click("form.login-form button[type=submit]")


def axe_violations(page) -> tuple[int, list[str]]:
    """(number of passed checks, violations) of axe-core's WCAG 2.1 AA run on `page`."""
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
