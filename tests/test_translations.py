"""Every interface string is translated: the French catalogue has a French text for every
entry (none empty, none fuzzy), and the staff pages rendered in French show none of the
English words of the navigation, header and footer (base.html)."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.test import Client
from django.utils import translation

import relais
from relais.accounts.models import Membership
from tests.support.factories import log_in, make_member, make_patient, make_platform_admin

PACKAGE = Path(relais.__file__).parent
CATALOGUE = PACKAGE / "locale" / "fr" / "LC_MESSAGES" / "django.po"
BASE = PACKAGE / "templates" / "base.html"


def catalogue_entries(text: str) -> list[dict]:
    """The entries of a PO file: flags, msgid and every msgstr (msgstr[n] of plurals)."""
    entries = []
    for block in text.split("\n\n"):
        lines = [line for line in block.strip().splitlines() if not line.startswith("#~")]
        if not lines:
            continue
        entry: dict = {"flags": "", "msgid": "", "msgstr": {}}
        key = None
        for line in lines:
            if line.startswith("#,"):
                entry["flags"] += line
            elif line.startswith("#"):
                continue
            else:
                match = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?) "(.*)"$', line)
                if match:
                    key, value = match.groups()
                else:
                    value = re.match(r'^"(.*)"$', line).group(1)  # a continuation line
                if key and key.startswith("msgstr"):
                    entry["msgstr"][key] = entry["msgstr"].get(key, "") + value
                elif key in ("msgid", "msgid_plural", "msgctxt"):
                    entry[key] = entry.get(key, "") + value
        entries.append(entry)
    return entries


def test_the_reader_sees_untranslated_and_fuzzy_entries():
    text = (
        'msgid ""\nmsgstr "Language: fr\\n"\n\n'
        'msgid "A"\nmsgstr ""\n\n'
        '#, fuzzy\nmsgid "B"\nmsgstr "b"\n\n'
        'msgid "one"\nmsgid_plural "many"\nmsgstr[0] "un"\nmsgstr[1] ""\n\n'
        'msgid "C"\nmsgstr ""\n"c"\n'
    )
    assert untranslated(catalogue_entries(text)) == ["A", "B", "one"]


def untranslated(entries: list[dict]) -> list[str]:
    return [
        entry["msgid"]
        for entry in entries
        if entry["msgid"]
        and ("fuzzy" in entry["flags"] or not all(entry["msgstr"].values()) or not entry["msgstr"])
    ]


def test_every_entry_of_the_french_catalogue_has_a_french_text():
    entries = catalogue_entries(CATALOGUE.read_text())
    assert len(entries) > 500
    assert untranslated(entries) == []


class TextNodes(HTMLParser):
    """The text a page shows (text nodes and aria-label values), stripped."""

    def __init__(self):
        super().__init__()
        self.texts: set[str] = set()
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        for name, value in attrs:
            if name in ("aria-label", "title") and value:
                self.texts.add(value.strip())

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip and data.strip():
            self.texts.add(" ".join(data.split()))


# The English of the navigation, header and footer, as the counter sees it: none of it may
# show on a French page, whether a template writes it out or the catalogue lacks it.
NAVIGATION = [
    "Day's tests", "Find a patient", "New patient", "Import a file", "Staff",
    "API credentials", "Log out", "Main menu", "Skip to content", "Keyboard shortcuts:",
    "Applications", "Audit log", "new patient", "find a patient", "day's tests",
]  # fmt: skip


def english_of_base() -> list[str]:
    """NAVIGATION and every string base.html translates whose French differs."""
    strings = re.findall(r'\{% translate "([^"]+)" %\}', BASE.read_text())
    strings += re.findall(r"\{% translate '([^']+)' %\}", BASE.read_text())
    with translation.override("fr"):
        translated = [text for text in strings if translation.gettext(text) != text]
    return sorted(set(NAVIGATION) | set(translated))


@pytest.mark.django_db
def test_staff_pages_in_french_show_no_english_navigation(pharmacy, pharmacist):
    owner = make_member(pharmacy, "owner@example.org", Membership.Role.OWNER)
    patient = make_patient(pharmacy, pharmacist)
    english = english_of_base()
    pages = [
        (log_in(Client(), owner), path)
        for path in ("/", "/patients/", "/patients/new/", f"/patients/{patient.pk}/",
                     "/imports/", "/accounts/staff/", "/api-credentials/")
    ]  # fmt: skip
    admin = log_in(Client(), make_platform_admin())
    pages += [(admin, path) for path in ("/platform/applications/", "/platform/pharmacies/",
                                         "/operations/transmissions/", "/audit/")]  # fmt: skip
    for client, path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response["Content-Language"] == "fr", path
        page = TextNodes()
        page.feed(response.content.decode())
        assert sorted(page.texts & set(english)) == [], path
