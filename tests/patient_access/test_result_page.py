"""The result page, its PDF, and the session that holds it."""

import datetime
import os
import sys
import tempfile
from pathlib import Path

from django.conf import settings
from django.utils import timezone, translation

from relais.audit.models import AuditEvent
from relais.patient_access.pdf import result_pdf
from relais.patient_access.views import SESSION_OPENED_AT
from tests.support.factories import make_test
from tests.support.patient_pages import follow_link, in_english, issue, open_result
from tests.support.pdf import pdf_text


def test_the_result_page_shows_test_date_result_advice_and_pharmacy(client, linked_test):
    test, token = linked_test
    test.pharmacy.phone = "01 23 45 67 89"
    test.pharmacy.save()
    open_result(client, token)
    response = in_english(client).get("/r/result/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "SARS-CoV-2 antigen (rapid test)" in page
    assert "Positive" in page
    assert "What to do now" in page
    assert "1 rue de Test, 75001 Paris" in page and "01 23 45 67 89" in page
    assert "/r/result/pdf" in page
    assert token not in page
    assert AuditEvent.objects.filter(action="patient_result.view", target_id=str(test.pk)).exists()


def test_a_negative_result_gives_no_positive_advice(client, patient, pharmacist):
    test = make_test(patient, pharmacist, result="negative")
    link, token = issue(test)
    open_result(client, token)
    page = in_english(client).get("/r/result/").content.decode()
    assert "Negative" in page
    assert "What to do now" not in page


def test_the_pages_speak_french_and_english(client, linked_test):
    test, token = linked_test
    open_result(client, token)
    assert "Your test result" in in_english(client).get("/r/result/").content.decode()
    response = client.post("/r/language/", {"language": "en", "next": "/r/result/"})
    assert response.status_code == 302 and response["Location"] == "/r/result/"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert '<html lang="en">' in client.get("/r/result/").content.decode()
    client.post("/r/language/", {"language": "fr", "next": "https://evil.example/"})
    assert '<html lang="fr">' in client.get("/r/result/").content.decode()


def test_the_language_switch_never_redirects_off_the_patient_pages(client):
    for target in ("https://evil.example/", "//evil.example/", "/accounts/login/"):
        response = client.post("/r/language/", {"language": "en", "next": target})
        assert response["Location"] == "/r/result/"


def test_no_result_without_the_date_check(client, linked_test):
    assert client.get("/r/result/").status_code == 403
    assert client.get("/r/result/pdf").status_code == 403


def test_the_result_session_expires_quickly(client, linked_test):
    test, token = linked_test
    open_result(client, token)
    session = client.session
    opened = timezone.now() - datetime.timedelta(minutes=settings.PATIENT_SESSION_MINUTES + 1)
    session[SESSION_OPENED_AT] = opened.isoformat()
    session.save()
    assert client.get("/r/result/").status_code == 403
    assert client.get("/r/result/pdf").status_code == 403


def test_close_clears_the_session(client, linked_test):
    test, token = linked_test
    open_result(client, token)
    assert client.get("/r/result/").status_code == 200
    response = client.post("/r/close/")
    assert response.status_code == 200
    assert client.get("/r/result/").status_code == 403
    assert AuditEvent.objects.filter(action="patient_result.close", target_id=str(test.pk)).exists()


def test_a_resend_revokes_the_old_link_and_its_open_session(client, linked_test, pharmacist):
    test, old_token = linked_test
    open_result(client, old_token)
    link, new_token = issue(test)
    assert client.get("/r/result/").status_code == 403
    response = follow_link(client, old_token)
    assert response.status_code == 403 and response.context["reason"] == "revoked"
    open_result(client, new_token)
    assert client.get("/r/result/").status_code == 200


def test_a_cancelled_test_closes_its_link(client, linked_test):
    test, token = linked_test
    test.cancelled_at = timezone.now()
    test.save()
    assert follow_link(client, token).context["reason"] == "revoked"


def test_the_pdf_says_whose_result_it_is_and_nothing_else_about_the_patient(linked_test):
    """Name and date of birth tell a parent's children apart; the rest of the record
    (birth name, NIR, contact details, address) stays out."""
    test, token = linked_test
    with translation.override("en"):
        content = result_pdf(test, compress=False)
    assert content.startswith(b"%PDF-")
    lines = pdf_text(content).splitlines()
    assert "positive" in lines
    assert "SARS-CoV-2 antigen (rapid test)" in lines
    assert "Pharmacie Test" in lines and "Claire Dubois" in lines
    assert "MARTIN Élodie Anne" in lines and "March 14, 1985" in lines
    text = content.decode("latin-1")
    for personal in ("Lefèvre", "Lefevre", "285037", "612345678", "example.org", "Lilas"):
        assert personal not in text


def test_the_pdf_writes_characters_outside_latin_1_without_failing(linked_test):
    test, token = linked_test
    test.pharmacy.name = "Pharmacie Œuvre – Ševčík"
    lines = pdf_text(result_pdf(test, compress=False)).splitlines()
    assert "Pharmacie OEuvre - Sevcík" in lines


def test_the_pdf_download_is_served_to_the_session(client, linked_test):
    test, token = linked_test
    open_result(client, token)
    response = client.get("/r/result/pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment")
    assert response.content.startswith(b"%PDF-")
    assert AuditEvent.objects.filter(action="patient_result.pdf", target_id=str(test.pk)).exists()


WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class WriteWatch:
    """Records every file this process opens for writing (Python's audit hooks see each
    open(), os.open() and the like)."""

    active = False
    writes: list[str] = []

    @classmethod
    def hook(cls, event, args):
        if not cls.active or event != "open":
            return
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & WRITE_FLAGS
        )
        if writing:
            cls.writes.append(str(path))


sys.addaudithook(WriteWatch.hook)


def files_under(*roots: Path) -> set[Path]:
    return {path for root in roots for path in root.rglob("*") if path.is_file()}


def test_the_pdf_is_never_written_to_disk(client, linked_test):
    test, token = linked_test
    open_result(client, token)
    roots = [Path(settings.VAR_DIR), Path(tempfile.gettempdir())]
    before = files_under(Path(settings.VAR_DIR))
    tmp_before = {p for p in Path(tempfile.gettempdir()).iterdir()}
    WriteWatch.writes.clear()
    WriteWatch.active = True
    try:
        response = client.get("/r/result/pdf")
    finally:
        WriteWatch.active = False
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")
    assert WriteWatch.writes == []
    assert files_under(roots[0]) == before
    new_in_tmp = {p for p in Path(tempfile.gettempdir()).iterdir()} - tmp_before
    assert not [p for p in new_in_tmp if p.suffix == ".pdf"]
