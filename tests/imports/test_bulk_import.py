"""The two passes of the CSV import, on real files and the real database."""

import codecs
import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from relais.imports import bulk_import
from relais.imports.bulk_import import COLUMNS, FileError, check_file, error_rows, import_batch
from relais.imports.models import ImportBatch, ImportChunk
from relais.screening.models import Patient, ScreeningTest
from relais.transmission.models import Transmission
from tests.support.factories import make_patient
from tests.support.fictitious import csv_row, csv_text

pytestmark = pytest.mark.django_db


def upload(content: bytes | str, encoding="utf-8"):
    data = content.encode(encoding) if isinstance(content, str) else content
    return SimpleUploadedFile("results.csv", data, content_type="text/csv")


def check(pharmacy, user, content, encoding="utf-8"):
    return check_file(upload(content, encoding), pharmacy, user)


def test_valid_file_is_checked_then_imported(pharmacy, pharmacist):
    batch = check(pharmacy, pharmacist, csv_text([csv_row(1), csv_row(2), csv_row(3)]))
    assert (batch.row_count, batch.valid_count, batch.error_count) == (3, 3, 0)
    assert ScreeningTest.objects.count() == 0  # nothing saved before confirmation
    batch = import_batch(batch.pk, pharmacy, pharmacist)
    assert batch.imported_count == 3
    assert ScreeningTest.objects.filter(pharmacy=pharmacy).count() == 3
    assert Transmission.objects.count() == 3  # outbox rows in the same transaction
    assert not batch.chunks.filter(kind=ImportChunk.Kind.VALID).exists()
    with pytest.raises(bulk_import.AlreadyImported):
        import_batch(batch.pk, pharmacy, pharmacist)


def test_rows_are_stored_encrypted(pharmacy, pharmacist):
    batch = check(pharmacy, pharmacist, csv_text([csv_row(1)]))
    content = bytes(ImportChunk.objects.get(batch=batch).content)
    assert csv_row(1)["birth_name"].encode() not in content
    assert csv_row(1)["nir"].encode() not in content


def test_every_bad_row_is_reported_with_line_column_value_reason(pharmacy, pharmacist):
    rows = [
        csv_row(1),
        csv_row(2, nir="123"),
        csv_row(3, symptoms="peut-être", sex="X"),
        csv_row(4, specimen="throat_swab"),
        csv_row(5),
    ]
    batch = check(pharmacy, pharmacist, csv_text(rows))
    assert (batch.row_count, batch.valid_count, batch.error_count) == (5, 2, 3)
    errors = list(error_rows(batch))
    found = {(line, column, value, code) for line, column, value, _, code in errors}
    assert (3, "nir", "123", "nir_format") in found
    assert (4, "symptoms", "peut-être", "yes_no") in found
    assert (4, "sex", "X", "invalid_choice") in found
    assert (5, "specimen", "throat_swab", "specimen_kind") in found
    assert all(reason for _, _, _, reason, _ in errors)
    import_batch(batch.pk, pharmacy, pharmacist)
    assert ScreeningTest.objects.count() == 2


def test_empty_file(pharmacy, pharmacist):
    for content in ["", "\r\n\r\n", ";".join(COLUMNS) + "\r\n"]:
        with pytest.raises(FileError) as error:
            check(pharmacy, pharmacist, content)
        assert error.value.code == "empty"
    assert ImportBatch.objects.count() == 0


def test_windows_1252_file_is_read_as_such(pharmacy, pharmacist):
    # Excel's "CSV (séparateur: point-virgule)" in France: ’ œ Œ € are bytes 0x92 0x9C
    # 0x8C 0x80, control characters in Latin-1.
    row = csv_row(1, birth_name="L’Œillet", given_names="Lœtitia", address="2 € rue d’Hôte")
    content = csv_text([row]).encode("cp1252")
    assert b"\x92" in content and b"\x9c" in content and b"\x8c" in content
    assert b"\x80" in content
    batch = check(pharmacy, pharmacist, content)
    assert batch.encoding == "cp1252" and batch.valid_count == 1, list(error_rows(batch))
    import_batch(batch.pk, pharmacy, pharmacist)
    patient = Patient.objects.get()
    assert (patient.birth_name, patient.given_names) == ("L’Œillet", "Lœtitia")
    assert patient.address == "2 € rue d’Hôte"


def test_utf8_file_with_the_same_characters(pharmacy, pharmacist):
    row = csv_row(1, birth_name="L’Œillet", given_names="Lœtitia")
    batch = check(pharmacy, pharmacist, csv_text([row]))
    assert batch.encoding == "utf-8" and batch.valid_count == 1
    import_batch(batch.pk, pharmacy, pharmacist)
    assert Patient.objects.get().birth_name == "L’Œillet"


def test_the_report_names_an_invisible_character(pharmacy, pharmacist):
    batch = check(pharmacy, pharmacist, csv_text([csv_row(1, given_names="Jean\x07")]))
    [(line, column, value, reason, code)] = list(error_rows(batch))
    assert (line, column, value, code) == (2, "given_names", "Jean\x07", "name")
    assert 'U+0007 "\\x07"' in reason


@pytest.mark.parametrize("byte", [b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d"])
def test_bytes_undefined_in_windows_1252_are_a_file_error(pharmacy, pharmacist, byte):
    content = csv_text([csv_row(1, birth_name="Lefèvre")]).encode("cp1252")
    content = content.replace(b"Lef", b"Le" + byte)
    with pytest.raises(FileError) as error:
        check(pharmacy, pharmacist, content)
    assert error.value.code == "encoding" and "UTF-8" in error.value.message
    assert ImportBatch.objects.count() == 0


def test_utf8_with_bom_is_accepted(pharmacy, pharmacist):
    content = codecs.BOM_UTF8 + csv_text([csv_row(1, birth_name="Lefèvre")]).encode()
    batch = check(pharmacy, pharmacist, content)
    assert batch.encoding == "utf-8-sig" and batch.valid_count == 1
    import_batch(batch.pk, pharmacy, pharmacist)
    assert Patient.objects.get().birth_name == "Lefèvre"


def test_comma_separator_is_accepted(pharmacy, pharmacist):
    rows = [csv_row(1, address="1, rue de l'Exemple")]  # a quoted comma inside a field
    batch = check(pharmacy, pharmacist, csv_text(rows, separator=","))
    assert batch.separator == "," and batch.valid_count == 1


def test_wrong_separator(pharmacy, pharmacist):
    with pytest.raises(FileError) as error:
        check(pharmacy, pharmacist, csv_text([csv_row(1)], separator="\t"))
    assert error.value.code == "separator"
    assert "tab" in error.value.message


def test_missing_columns(pharmacy, pharmacist):
    columns = [c for c in COLUMNS if c not in ("nir", "result")]
    with pytest.raises(FileError) as error:
        check(pharmacy, pharmacist, csv_text([csv_row(1)], columns=columns))
    assert error.value.code == "columns"
    assert "nir" in error.value.message and "result" in error.value.message


def test_extra_columns(pharmacy, pharmacist):
    with pytest.raises(FileError) as error:
        check(pharmacy, pharmacist, csv_text([csv_row(1)], columns=[*COLUMNS, "comment"]))
    assert error.value.code == "columns" and "comment" in error.value.message


def test_a_huge_hostile_header_is_refused_with_a_short_message(pharmacy, pharmacist):
    # 100,000 names (~600 KB): a count per name once made this quadratic, minutes of CPU.
    names = [*COLUMNS, *(f"x{n}" for n in range(50_000)), *(["nir"] * 50_000)]
    header = ";".join(names)
    with pytest.raises(FileError) as error:
        check(pharmacy, pharmacist, header + "\n" + ";" * (len(names) - 1) + "\n")
    message = error.value.message
    assert error.value.code == "columns"
    assert "x0, x1" in message and "x9 …" in message and "x10" not in message
    assert message.endswith(": nir).")  # the one repeated name
    assert len(message) < 500


def test_columns_in_any_order_and_case(pharmacy, pharmacist):
    columns = list(reversed(COLUMNS))
    text = csv_text([csv_row(1)], columns=columns)
    text = text.replace("birth_name", "Birth_Name", 1)
    assert check(pharmacy, pharmacist, text).valid_count == 1


def test_duplicated_rows_are_reported(pharmacy, pharmacist):
    batch = check(pharmacy, pharmacist, csv_text([csv_row(1), csv_row(2), csv_row(1)]))
    assert (batch.valid_count, batch.error_count) == (2, 1)
    [(line, column, value, reason, code)] = list(error_rows(batch))
    assert line == 4 and "2" in reason and code == "repeated_row"


def test_short_line(pharmacy, pharmacist):
    text = csv_text([csv_row(1)]) + "Dupont;Jean\r\n"
    batch = check(pharmacy, pharmacist, text)
    [(line, column, value, reason, code)] = list(error_rows(batch))
    assert line == 3 and "2" in reason and code == "columns"


def test_another_pharmacy_cannot_import_the_batch(pharmacy, pharmacist, other_pharmacy):
    batch = check(pharmacy, pharmacist, csv_text([csv_row(1)]))
    with pytest.raises(ImportBatch.DoesNotExist):
        import_batch(batch.pk, other_pharmacy, pharmacist)
    assert ScreeningTest.objects.count() == 0


def test_a_crash_midway_imports_nothing(pharmacy, pharmacist, monkeypatch):
    batch = check(pharmacy, pharmacist, csv_text([csv_row(n) for n in range(5)]))
    calls = []
    real = bulk_import.services.record_tests

    def failing(user, rows):
        calls.append(1)
        if len(calls) == 2:  # the first block of two rows is saved by then
            raise RuntimeError("disk full")
        return real(user, rows)

    monkeypatch.setattr(bulk_import, "IMPORT_BLOCK", 2)
    monkeypatch.setattr(bulk_import.services, "record_tests", failing)
    with pytest.raises(RuntimeError):
        import_batch(batch.pk, pharmacy, pharmacist)
    assert ScreeningTest.objects.count() == 0
    assert Patient.objects.count() == 0
    assert Transmission.objects.count() == 0
    batch.refresh_from_db()
    assert batch.state == ImportBatch.State.CHECKED


def test_same_patient_on_several_rows_is_one_patient(pharmacy, pharmacist):
    # Another sample 3 hours before (not a possible duplicate), and an RT-PCR.
    earlier = datetime.datetime.now() - datetime.timedelta(hours=5)
    rows = [
        csv_row(1),
        csv_row(1, earlier, result="positive"),
        csv_row(1, kind="sars_cov_2_rt_pcr"),
    ]
    batch = check(pharmacy, pharmacist, csv_text(rows))
    import_batch(batch.pk, pharmacy, pharmacist)
    assert Patient.objects.count() == 1
    assert ScreeningTest.objects.count() == 3


def birth_date_of(values: dict) -> datetime.date:
    return datetime.date.fromisoformat("-".join(reversed(values["birth_date"].split("/"))))


def test_existing_patients_are_found_not_duplicated(pharmacy, pharmacist):
    by_nir, by_identity = csv_row(7), csv_row(8)
    existing = make_patient(
        pharmacy,
        pharmacist,
        nir=by_nir["nir"],
        sex=by_nir["sex"],
        birth_name=by_nir["birth_name"].upper(),  # typed differently: the same name
        birth_date=birth_date_of(by_nir),
    )
    existing_by_identity = make_patient(
        pharmacy,
        pharmacist,
        nir="",
        birth_name=by_identity["birth_name"],
        given_names="Camille",
        birth_date=birth_date_of(by_identity),
        sex=by_identity["sex"],
    )
    batch = check(pharmacy, pharmacist, csv_text([by_nir, csv_row(8, nir="")]))
    import_batch(batch.pk, pharmacy, pharmacist)
    assert Patient.objects.count() == 2
    assert existing.tests.count() == 1 and existing_by_identity.tests.count() == 1


def test_a_nir_known_for_another_person_is_refused(pharmacy, pharmacist):
    values = csv_row(7)
    make_patient(pharmacy, pharmacist, nir=values["nir"], sex=values["sex"])  # Lefèvre, 1985
    batch = check(pharmacy, pharmacist, csv_text([values]))
    assert (batch.valid_count, batch.error_count) == (0, 1)
    [(line, column, _, reason, code)] = list(error_rows(batch))
    assert (line, column, code) == (2, "nir", "nir_conflict")
    assert "birth date" in reason or "date de naissance" in reason


def test_rows_that_stopped_being_valid_import_nothing(pharmacy, pharmacist):
    first, second = csv_row(7), csv_row(8)
    batch = check(pharmacy, pharmacist, csv_text([first, second]))
    assert batch.valid_count == 2
    # Meanwhile, someone else is registered under the second row's NIR.
    make_patient(pharmacy, pharmacist, nir=second["nir"], sex=second["sex"])
    with pytest.raises(bulk_import.RowsChanged) as changed:
        import_batch(batch.pk, pharmacy, pharmacist)
    assert [(error.line, error.code) for error in changed.value.errors] == [(3, "nir_conflict")]
    assert ScreeningTest.objects.count() == 0
    assert ImportBatch.objects.get(pk=batch.pk).state == ImportBatch.State.CHECKED


def test_two_rows_of_one_new_person_make_one_patient_across_blocks(
    pharmacy, pharmacist, monkeypatch
):
    monkeypatch.setattr(bulk_import, "IMPORT_BLOCK", 2)
    # Rows 1 and 4: one new person, two results (two samples), in two blocks.
    earlier = datetime.datetime.now() - datetime.timedelta(hours=5)
    rows = [csv_row(1), csv_row(2), csv_row(3), csv_row(1, earlier, result="positive")]
    batch = check(pharmacy, pharmacist, csv_text(rows))
    assert batch.valid_count == 4
    import_batch(batch.pk, pharmacy, pharmacist)
    assert Patient.objects.count() == 3
    assert ScreeningTest.objects.count() == 4


def test_one_nir_for_two_people_of_the_file(pharmacy, pharmacist, monkeypatch):
    first = csv_row(1)
    day, month, year = first["birth_date"].split("/")
    other = csv_row(1, birth_name="Autre", birth_date=f"{int(day) + 1:02d}/{month}/{year}")
    # In one block the check sees it; across blocks the import does, and imports nothing.
    batch = check(pharmacy, pharmacist, csv_text([first, other]))
    assert [code for *_, code in error_rows(batch)] == ["nir_conflict"]
    monkeypatch.setattr(bulk_import, "IMPORT_BLOCK", 1)
    batch = check(pharmacy, pharmacist, csv_text([first, other]))
    assert batch.valid_count == 2
    with pytest.raises(bulk_import.RowsChanged) as changed:
        import_batch(batch.pk, pharmacy, pharmacist)
    assert [(error.line, error.code) for error in changed.value.errors] == [(3, "nir_conflict")]
    assert Patient.objects.count() == ScreeningTest.objects.count() == 0


def test_expired_batches_are_purged_by_the_worker(pharmacy, pharmacist):
    from django.utils import timezone

    from relais.lib.jobs import registered

    kept = check(pharmacy, pharmacist, csv_text([csv_row(1)]))
    expired = check(pharmacy, pharmacist, csv_text([csv_row(2)]))
    ImportBatch.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    job = dict(registered())["expired import batches"]
    assert job() == 1 + 1  # the batch and its chunk
    assert list(ImportBatch.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not ImportChunk.objects.filter(batch_id=expired.pk).exists()
    with pytest.raises(ImportBatch.DoesNotExist):
        import_batch(expired.pk, pharmacy, pharmacist)
