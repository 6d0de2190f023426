"""Large files: memory stays bounded, and a file of several check blocks goes through both
passes.

(bench/bulk_import.py runs 10,000 rows with --short and 100,000 without, and reports rows/s
and peak memory.)"""

import tracemalloc

import pytest
from django.core.files.uploadedfile import TemporaryUploadedFile

from relais.imports import bulk_import
from relais.imports.bulk_import import check_file, import_batch
from relais.patient_access.models import Notification, ResultLink
from relais.screening.models import ScreeningTest
from relais.transmission.models import Transmission
from tests.support.fictitious import csv_row, csv_text

pytestmark = [pytest.mark.django_db, pytest.mark.slow]  # files of thousands of rows


def temporary_upload(rows: int) -> TemporaryUploadedFile:
    """A real upload kept in a temporary file, as Django does for large files."""
    data = csv_text(csv_row(number) for number in range(rows)).encode()
    upload = TemporaryUploadedFile("results.csv", "text/csv", len(data), None)
    upload.write(data)
    upload.seek(0)
    return upload


def peak_bytes_while_checking(rows: int, pharmacy, user) -> int:
    upload = temporary_upload(rows)
    tracemalloc.start()
    try:
        check_file(upload, pharmacy, user)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        upload.close()


def test_checking_memory_does_not_grow_with_the_file(pharmacy, pharmacist, monkeypatch):
    # Small chunks, so that both files fill several and the chunk buffer is no factor.
    monkeypatch.setattr(bulk_import, "CHUNK_BYTES", 16 * 1024)
    # The stored upload too (it is read a chunk at a time, encrypted and decrypted whole).
    monkeypatch.setattr(bulk_import, "UPLOAD_CHUNK_BYTES", 16 * 1024)
    monkeypatch.setattr(bulk_import, "IMPORT_BLOCK", 100)
    small = peak_bytes_while_checking(200, pharmacy, pharmacist)
    large = peak_bytes_while_checking(1000, pharmacy, pharmacist)
    # Five times the rows: only the duplicate-row digests (~200 bytes a row) may grow.
    assert large < small + 300_000, (small, large)


def test_a_file_of_several_blocks(pharmacy, pharmacist):
    rows = 5 * bulk_import.IMPORT_BLOCK + 7  # a partial last block
    upload = temporary_upload(rows)
    batch = check_file(upload, pharmacy, pharmacist)
    upload.close()
    assert (batch.row_count, batch.valid_count, batch.error_count) == (rows, rows, 0)
    batch = import_batch(batch.pk, pharmacy, pharmacist)
    assert ScreeningTest.objects.count() == rows
    assert Transmission.objects.filter(sequence=1, state="pending").count() == rows
    # Every row asks for an SMS and has a phone number: one link and one message each.
    assert ResultLink.objects.count() == Notification.objects.count() == rows
