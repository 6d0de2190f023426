import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from relais.audit.models import AuditEvent
from relais.imports.models import ImportBatch
from relais.screening.models import ScreeningTest
from relais.transmission.models import Transmission
from tests.support.factories import log_in, make_member
from tests.support.fictitious import csv_row, csv_text

pytestmark = pytest.mark.django_db

UPLOAD = "/imports/"


def csv_file(text: str, name="results.csv"):
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def upload(client, text):
    return client.post(UPLOAD, {"file": csv_file(text)})


def test_upload_check_review_and_import(pharmacist_client):
    response = upload(pharmacist_client, csv_text([csv_row(1), csv_row(2, nir="12"), csv_row(3)]))
    assert response.status_code == 302
    review = response["Location"]
    page = pharmacist_client.get(review)
    assert page.status_code == 200
    content = page.content.decode()
    assert "12" in content and "nir" in content  # line, column, value shown to the user
    assert ScreeningTest.objects.count() == 0
    response = pharmacist_client.post(review, {"import": "1"})
    assert response.status_code == 302
    assert ScreeningTest.objects.count() == 2
    assert Transmission.objects.count() == 2
    assert AuditEvent.objects.filter(action="import.confirm").exists()
    # A second confirmation imports nothing more.
    pharmacist_client.post(review, {"import": "1"})
    assert ScreeningTest.objects.count() == 2


def test_error_report_is_a_streamed_csv(pharmacist_client):
    response = upload(
        pharmacist_client, csv_text([csv_row(1, sex="Z"), csv_row(2, result="maybe")])
    )
    batch_id = response["Location"].rstrip("/").split("/")[-1]
    report = pharmacist_client.get(reverse("imports:error_report", args=[batch_id]))
    assert report.status_code == 200
    assert report["Content-Type"].startswith("text/csv")
    assert report["Cache-Control"] == "no-store"
    text = b"".join(report.streaming_content).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert lines[1][:3] == ["2", "sex", "Z"] and lines[2][:3] == ["3", "result", "maybe"]


def test_error_report_neutralises_spreadsheet_formulas(pharmacist_client):
    formula = '=HYPERLINK("http://evil.example","x")'
    response = upload(pharmacist_client, csv_text([csv_row(1, sex=formula)]))
    batch_id = response["Location"].rstrip("/").split("/")[-1]
    report = pharmacist_client.get(reverse("imports:error_report", args=[batch_id]))
    text = b"".join(report.streaming_content).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert lines[1][:3] == ["2", "sex", "'" + formula]


def test_discard_deletes_the_batch(pharmacist_client):
    response = upload(pharmacist_client, csv_text([csv_row(1)]))
    pharmacist_client.post(response["Location"], {"discard": "1"})
    assert ImportBatch.objects.count() == 0
    assert ScreeningTest.objects.count() == 0


def test_file_errors_are_shown_on_the_form(pharmacist_client):
    response = upload(pharmacist_client, "nom\tprenom\r\nDupont\tJean\r\n")
    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert ImportBatch.objects.count() == 0


def test_the_template_passes_validation(pharmacist_client):
    template = pharmacist_client.get(reverse("imports:template"))
    assert template.status_code == 200
    text = template.content.decode("utf-8-sig")
    assert text.count("\n") == 2  # header and one example row
    response = upload(pharmacist_client, text)
    batch = ImportBatch.objects.get()
    assert response.status_code == 302
    assert (batch.valid_count, batch.error_count) == (1, 0)


def test_another_pharmacy_cannot_see_or_import_a_batch(pharmacist_client, client, other_pharmacist):
    response = upload(pharmacist_client, csv_text([csv_row(1)]))
    review = response["Location"]
    batch_id = review.rstrip("/").split("/")[-1]
    pharmacist_client.logout()
    log_in(client, other_pharmacist)
    assert client.get(review).status_code == 404
    assert client.post(review, {"import": "1"}).status_code == 404
    assert client.get(reverse("imports:error_report", args=[batch_id])).status_code == 404
    assert ScreeningTest.objects.count() == 0


def test_a_colleague_cannot_import_my_batch(pharmacist_client, client, pharmacy):
    response = upload(pharmacist_client, csv_text([csv_row(1)]))
    review = response["Location"]
    pharmacist_client.logout()
    log_in(client, make_member(pharmacy, "colleague@example.org"))
    assert client.post(review, {"import": "1"}).status_code == 404


def test_anonymous_is_sent_to_login(client):
    for url in [UPLOAD, reverse("imports:template")]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login" in response["Location"]
    response = client.post(UPLOAD, {"file": csv_file(csv_text([csv_row(1)]))})
    assert response.status_code == 302
    assert ImportBatch.objects.count() == 0


def test_a_file_over_the_limit_is_refused_by_size_and_never_kept(pharmacist_client, settings):
    """The upload handler keeps files in memory up to RELAIS_IMPORT_MAX_BYTES; past it the
    bytes are dropped and the import names the size (tests/security/test_side_channels.py
    shows no temporary file is written)."""
    settings.IMPORT_MAX_BYTES = 100_000
    text = csv_text([csv_row(1)]) + "x" * 150_000 + "\n"
    response = upload(pharmacist_client, text)
    assert response.status_code == 200
    assert "Le fichier dépasse" in response.content.decode()
    assert not ImportBatch.objects.exists()
