"""The CSV import cannot ask: a possible duplicate patient or test is a row error, unless
the row's `new_sample` column says it is a new sample. Rows of one file that repeat each
other's test are caught too, with one look-up of recent tests per block of rows."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from relais.imports import bulk_import
from relais.imports.bulk_import import error_rows, import_batch
from relais.screening.models import ScreeningTest
from tests.imports.test_bulk_import import birth_date_of, check
from tests.support.factories import make_patient, make_test
from tests.support.fictitious import csv_row, csv_text

pytestmark = pytest.mark.django_db

NOW = datetime.datetime.now()


def codes(batch) -> list[tuple[int, str, str]]:
    return [(line, column, code) for line, column, _, _, code in error_rows(batch)]


def stored(pharmacy, user, number: int, **test):
    """Row `number`'s person, registered, with a test sampled 2 hours 30 minutes ago."""
    row = csv_row(number)
    patient = make_patient(
        pharmacy, user, nir=row["nir"], sex=row["sex"], birth_name=row["birth_name"],
        given_names=row["given_names"], birth_date=birth_date_of(row),
    )  # fmt: skip
    sampled = NOW.astimezone() - datetime.timedelta(hours=2, minutes=30)
    return make_test(patient, user, sampled_at=sampled, **test)


def test_two_rows_of_one_test_in_a_file_are_caught(pharmacy, pharmacist):
    later = NOW - datetime.timedelta(minutes=90)
    rows = [csv_row(1), csv_row(2), csv_row(1, later, result="positive")]
    batch = check(pharmacy, pharmacist, csv_text(rows))
    assert codes(batch) == [(4, "new_sample", "possible_duplicate_test")]
    assert batch.valid_count == 2


def test_a_row_saying_new_sample_is_imported(pharmacy, pharmacist):
    later = NOW - datetime.timedelta(minutes=90)
    rows = [csv_row(1), csv_row(1, later, result="positive", new_sample="oui")]
    batch = check(pharmacy, pharmacist, csv_text(rows))
    assert batch.valid_count == 2
    import_batch(batch.pk, pharmacy, pharmacist)
    assert ScreeningTest.objects.count() == 2


def test_new_sample_must_be_yes_or_no(pharmacy, pharmacist):
    batch = check(pharmacy, pharmacist, csv_text([csv_row(1, new_sample="peut-être")]))
    assert codes(batch) == [(2, "new_sample", "yes_no")]


def test_rows_repeating_a_test_are_caught_across_blocks(pharmacy, pharmacist, monkeypatch):
    monkeypatch.setattr(bulk_import, "IMPORT_BLOCK", 1)
    stored(pharmacy, pharmacist, 1)
    stored(pharmacy, pharmacist, 2, kind="sars_cov_2_rt_pcr")  # another analyte: no question
    hour_later = NOW - datetime.timedelta(minutes=60)
    rows = [csv_row(1), csv_row(2), csv_row(2, hour_later), csv_row(3), csv_row(3, hour_later)]
    batch = check(pharmacy, pharmacist, csv_text(rows))
    # Line 2 repeats a stored test; line 4 repeats line 3, checked in an earlier block.
    assert codes(batch) == [
        (2, "new_sample", "possible_duplicate_test"),
        (4, "new_sample", "possible_duplicate_test"),
    ]
    # A new person's rows in two blocks are matched when imported: nothing is imported.
    with pytest.raises(bulk_import.RowsChanged) as changed:
        import_batch(batch.pk, pharmacy, pharmacist)
    assert [(error.line, error.code) for error in changed.value.errors] == [
        (6, "possible_duplicate_test")
    ]
    assert ScreeningTest.objects.count() == 2  # the stored ones


def test_a_cancelled_test_does_not_count(pharmacy, pharmacist):
    from relais.screening import services

    services.cancel_test(stored(pharmacy, pharmacist, 1), pharmacist, "entered_in_error")
    batch = check(pharmacy, pharmacist, csv_text([csv_row(1)]))
    assert batch.valid_count == 1


def test_a_new_patient_who_may_be_a_stored_one_is_a_row_error(pharmacy, pharmacist):
    row = csv_row(1)
    make_patient(
        pharmacy, pharmacist, nir="", sex=row["sex"], birth_name=row["birth_name"],
        given_names="Camille Anne", birth_date=birth_date_of(row),
    )  # fmt: skip
    batch = check(pharmacy, pharmacist, csv_text([{**row, "nir": ""}]))
    assert codes(batch) == [(2, "given_names", "possible_duplicate_patient")]


def test_recent_tests_are_read_once_per_block(pharmacy, pharmacist):
    """As many queries for 40 rows of stored patients with recent tests as for 4."""

    def queries(first: int, count: int) -> int:
        numbers = range(first, first + count)
        for number in numbers:
            stored(pharmacy, pharmacist, number, kind="sars_cov_2_rt_pcr")
        with CaptureQueriesContext(connection) as captured:
            batch = check(pharmacy, pharmacist, csv_text([csv_row(number) for number in numbers]))
        assert batch.valid_count == count
        return len(captured.captured_queries)

    assert queries(100, 40) == queries(200, 4)
