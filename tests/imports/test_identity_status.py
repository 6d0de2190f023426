"""The CSV import's optional identity_status column: the same rules as the API."""

import pytest

from relais.imports.bulk_import import COLUMNS, check_file, error_rows, import_batch
from relais.screening.models import IdentityStatus, Patient
from tests.imports.test_bulk_import import upload
from tests.support.fictitious import csv_row, csv_text

pytestmark = pytest.mark.django_db


def test_a_file_without_the_column_makes_provisional_identities(pharmacy, pharmacist):
    columns = [c for c in COLUMNS if c != "identity_status"]
    batch = check_file(upload(csv_text([csv_row(1)], columns=columns)), pharmacy, pharmacist)
    import_batch(batch.pk, pharmacy, pharmacist)
    assert Patient.objects.get().identity_status == IdentityStatus.PROVISIONAL


def test_each_row_gives_its_status_and_a_qualified_one_needs_its_ins_traits(pharmacy, pharmacist):
    rows = [
        csv_row(1, identity_status="VALI"),
        csv_row(2, identity_status="QUAL"),
        csv_row(3, identity_status="QUAL", birthplace_code=""),
        csv_row(4, identity_status="qualified"),
        csv_row(5, identity_status=""),
    ]
    batch = check_file(upload(csv_text(rows)), pharmacy, pharmacist)
    found = {(line, column, code) for line, column, _, _, code in error_rows(batch)}
    assert found == {
        (4, "birthplace_code", "qualified_without_birthplace"),
        (5, "identity_status", "invalid_choice"),
    }
    import_batch(batch.pk, pharmacy, pharmacist)
    statuses = sorted(Patient.objects.values_list("identity_status", flat=True))
    assert statuses == ["PROV", "QUAL", "VALI"]
