"""Every page that renders a form's fields sums up its errors with the one shared include
(templates/includes/form_errors.html), so the summary reads, and is announced, the same
everywhere; no page writes its own."""

import re
from pathlib import Path

from django.urls import reverse
from django.utils.html import escape

import relais

TEMPLATES = Path(relais.__file__).parent / "templates"
SUMMARY = "includes/form_errors.html"
FIELD_OF = re.compile(r'\{%\s*include\s+"includes/field\.html"\s+with\s+field=(\w+)\.')
SUMMARY_FOR = re.compile(r'\{%\s*include\s+"includes/form_errors\.html"(?:\s+with\s+form=(\w+))?')


def pages(root: Path) -> dict[str, str]:
    """Every page template (partials under an includes/ folder are parts of a page)."""
    return {
        str(path.relative_to(root)): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*.html"))
        if "includes" not in path.relative_to(root).parts
    }


def pages_missing_the_summary(root: Path = TEMPLATES) -> set[str]:
    """Pages rendering a form's fields without the shared summary for that form, or
    reading a form's errors themselves."""
    missing = set()
    for name, text in pages(root).items():
        forms = set(FIELD_OF.findall(text))
        summed_up = {form or "form" for form in SUMMARY_FOR.findall(text)}
        if forms - summed_up or "non_field_errors" in text or "form.errors" in text:
            missing.add(name)
    return missing


def test_every_page_with_form_fields_uses_the_shared_error_summary():
    assert pages_missing_the_summary() == set()


def test_the_rule_catches_a_page_that_writes_its_own_summary(tmp_path):
    page = tmp_path / "accounts" / "own.html"
    page.parent.mkdir()
    page.write_text(
        '{% if form.non_field_errors %}<div class="form-errors">…</div>{% endif %}\n'
        '{% include "includes/field.html" with field=form.email %}',
        encoding="utf-8",
    )
    (tmp_path / "other.html").write_text(
        '{% include "includes/form_errors.html" %}\n'
        '{% include "includes/field.html" with field=refusal_form.reason %}',
        encoding="utf-8",
    )
    (tmp_path / "fine.html").write_text(
        '{% include "includes/form_errors.html" with form=refusal_form %}\n'
        '{% include "includes/field.html" with field=refusal_form.reason %}',
        encoding="utf-8",
    )
    assert pages_missing_the_summary(tmp_path) == {"accounts/own.html", "other.html"}


def test_the_login_page_shows_its_refusal_in_the_shared_summary(client, db):
    response = client.post(
        reverse("accounts:login"),
        {"email": "nobody@example.org", "password": "wrong", "otp_token": "000000"},
    )
    html = response.content.decode()
    assert html.count('class="form-errors" role="alert"') == 1
    assert escape(response.context["form"].non_field_errors()[0]) in html
