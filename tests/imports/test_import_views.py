import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from relais.audit.models import AuditEvent
from relais.imports import bulk_import
from relais.imports import views as import_views
from relais.imports.models import ImportBatch
from relais.screening.models import ScreeningTest
from relais.transmission.models import Transmission
from tests.support.factories import log_in, make_member
from tests.support.fictitious import csv_row, csv_text
from tests.support.imports import work_imports
from tests.support.patient_pages import in_english

pytestmark = pytest.mark.django_db

UPLOAD = "/imports/"


def csv_file(text: str, name="results.csv"):
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def upload(client, text):
    """The upload, then the worker's check of it."""
    response = client.post(UPLOAD, {"file": csv_file(text)})
    work_imports()
    return response


def confirm(client, review):
    """The confirmation, then the worker's import."""
    response = client.post(review, {"import": "1"})
    work_imports()
    return response


def test_upload_check_review_and_import(pharmacist_client):
    response = upload(pharmacist_client, csv_text([csv_row(1), csv_row(2, nir="12"), csv_row(3)]))
    assert response.status_code == 302
    review = response["Location"]
    page = pharmacist_client.get(review)
    assert page.status_code == 200
    content = page.content.decode()
    assert "12" in content and "nir" in content  # line, column, value shown to the user
    assert ScreeningTest.objects.count() == 0
    response = confirm(pharmacist_client, review)
    assert response.status_code == 302
    assert ScreeningTest.objects.count() == 2
    assert Transmission.objects.count() == 2
    assert AuditEvent.objects.filter(action="import.confirm").exists()
    # A second confirmation imports nothing more.
    confirm(pharmacist_client, review)
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


def test_a_character_a_name_cannot_hold_is_named_on_the_page_and_in_the_report(
    pharmacist_client,
):
    response = upload(pharmacist_client, csv_text([csv_row(1, birth_name="Dupont\x07")]))
    review = pharmacist_client.get(response["Location"])
    page = review.content.decode()
    assert "U+0007" in page and "\\x07" in page
    batch_id = response["Location"].rstrip("/").split("/")[-1]
    report = pharmacist_client.get(reverse("imports:error_report", args=[batch_id]))
    text = b"".join(report.streaming_content).decode("utf-8-sig")
    [_, row] = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert row[:3] == ["2", "birth_name", "Dupont\x07"]
    assert 'U+0007 "\\x07"' in row[3]


def test_a_file_in_no_encoding_is_refused_on_the_form(pharmacist_client):
    content = (
        csv_text([csv_row(1, birth_name="Lefèvre")]).encode("cp1252").replace(b"\xe8", b"\x81")
    )
    response = pharmacist_client.post(UPLOAD, {"file": SimpleUploadedFile("r.csv", content)})
    assert response.status_code == 200
    assert "UTF-8" in " ".join(response.context["form"].errors["file"])
    assert ImportBatch.objects.count() == 0


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


def template_rows(client) -> tuple[list[str], dict]:
    template = client.get(reverse("imports:template"))
    assert template.status_code == 200
    text = template.content.decode("utf-8-sig")
    assert text.count("\n") == 2  # header and one example row
    header, example = list(csv.reader(io.StringIO(text), delimiter=";"))
    return header, dict(zip(header, example, strict=True))


def as_csv(header: list[str], *rows: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row[name] for name in header])
    return out.getvalue()


def checked(client, text: str) -> tuple[ImportBatch, list[list]]:
    ImportBatch.objects.all().delete()
    assert upload(client, text).status_code == 302
    batch = ImportBatch.objects.get()
    return batch, list(bulk_import.error_rows(batch))


def test_the_template_example_row_is_refused_with_what_to_do(pharmacist_client):
    header, example = template_rows(in_english(pharmacist_client))
    batch, errors = checked(pharmacist_client, as_csv(header, example))
    assert (batch.valid_count, batch.error_count) == (0, 1)
    assert [error[4] for error in errors] == ["example_row"]
    assert "example row" in errors[0][3] and "delete it" in errors[0][3]


@pytest.mark.parametrize(
    "edits",
    [
        {"sampled_at": "01/01/2025 10:00", "result": "positive"},  # brought up to date
        {"birth_name": "EXEMPLE", "given_names": "camille", "phone": "+33 6 99 99 99 99"},
        {"nir": "2 85 03 75 056 999 03", "email": "Camille.Exemple@EXAMPLE.org"},
        {"birth_name": "Dupont", "given_names": "Jeanne", "email": "", "address": ""},
    ],
    ids=["other sample", "retyped identity", "reformatted", "two traits left"],
)
def test_the_example_row_edited_a_little_is_still_refused(pharmacist_client, edits):
    header, example = template_rows(pharmacist_client)
    _, errors = checked(pharmacist_client, as_csv(header, example | edits))
    assert "example_row" in [error[4] for error in errors]


def test_the_example_row_made_into_a_real_patient_passes_the_checks(pharmacist_client):
    """The rest of the example is a valid row: only its identity makes it the example."""
    header, example = template_rows(pharmacist_client)
    real = example | {
        "birth_name": "Lefèvre", "given_names": "Élodie Anne", "nir": "285037505612306",
        "phone": "06 12 34 56 78", "email": "elodie.lefevre@example.org",
        "address": "12 rue des Lilas",
    }  # fmt: skip
    # Someone sharing one trait (a Camille Exemple, say) is not the example either.
    namesake = real | {"birth_name": "Exemple", "given_names": "Camille", "nir": ""}
    batch, errors = checked(pharmacist_client, as_csv(header, real))
    assert (batch.valid_count, batch.error_count, errors) == (1, 0, [])
    _, errors = checked(pharmacist_client, as_csv(header, namesake))
    assert "example_row" not in [error[4] for error in errors]


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


# --- The review page shows the rows an import would record ----------------------------------


def test_the_review_page_shows_the_rows_to_import_and_audits_it(pharmacist_client, pharmacist):
    rows = [csv_row(1), csv_row(2, nir="12"), csv_row(3, result="positive")]
    review = upload(pharmacist_client, csv_text(rows))["Location"]
    page = in_english(pharmacist_client).get(review).content.decode()
    shown = page.split('id="rows-title"')[1].split("</section>")[0]
    assert rows[0]["birth_name"].upper() in shown and rows[2]["birth_name"].upper() in shown
    assert rows[1]["birth_name"].upper() not in shown  # a row with errors is not imported
    assert rows[0]["birth_date"] in shown and "positive" in shown.lower()
    assert rows[0]["sampled_at"] in shown
    event = AuditEvent.objects.get(action="import.view_rows")
    assert event.actor_id == pharmacist.pk
    assert event.details == {"shown": 2, "lines": [2, 4]}
    # Once imported, the rows are no longer kept: nothing more to show.
    confirm(pharmacist_client, review)
    assert 'id="rows-title"' not in pharmacist_client.get(review).content.decode()


def test_the_review_page_shows_at_most_a_page_of_rows_and_says_so(pharmacist_client, monkeypatch):
    monkeypatch.setattr(import_views, "SHOWN_ROWS", 2)
    review = upload(pharmacist_client, csv_text([csv_row(n) for n in range(1, 5)]))["Location"]
    response = in_english(pharmacist_client).get(review)
    assert len(response.context["rows"]) == 2
    assert "The first 2 of the 4 rows to import are shown" in response.content.decode()


def test_another_pharmacy_cannot_see_the_rows(pharmacist_client, client, other_pharmacist):
    review = upload(pharmacist_client, csv_text([csv_row(1)]))["Location"]
    assert log_in(client, other_pharmacist).get(review).status_code == 404
    assert not AuditEvent.objects.filter(action="import.view_rows").exists()
