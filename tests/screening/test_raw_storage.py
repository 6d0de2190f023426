"""What an attacker holding the database (file, dump or rows) would read: no identity."""

from pathlib import Path

import pytest
from django.db import connection

from tests.support.factories import make_patient, make_test
from tests.support.fictitious import PATIENT_DATA

SECRETS = [
    PATIENT_DATA["birth_name"],
    PATIENT_DATA["used_name"],
    PATIENT_DATA["given_names"],
    PATIENT_DATA["nir"],
    PATIENT_DATA["phone"],
    PATIENT_DATA["email"],
    PATIENT_DATA["address"],
    PATIENT_DATA["birth_date"].isoformat(),
    "0612345678",
]


def needles(value: str) -> list[bytes]:
    raw = value.encode()
    return [raw, raw.hex().encode(), value.encode("utf-16-le")]


def assert_no_plaintext(blob: bytes):
    lowered = blob.lower()
    for secret in SECRETS:
        for needle in needles(secret):
            assert needle.lower() not in lowered, f"found {secret!r} in the database"


@pytest.fixture
def saved(transactional_db, pharmacy, pharmacist):
    patient = make_patient(pharmacy, pharmacist)
    make_test(patient, pharmacist)
    return patient


@pytest.mark.skipif(connection.vendor != "sqlite", reason="reads the SQLite file")
def test_sqlite_file_holds_no_identity(saved):
    connection.close()  # flush the write-ahead log into the file we read
    path = Path(connection.settings_dict["NAME"])
    blob = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert saved.pk.hex.encode() in blob  # the row is really there
    assert_no_plaintext(blob)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL rows")
def test_postgresql_rows_hold_no_identity(saved):
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        dump = []
        for table in tables:
            cursor.execute(f'SELECT t::text FROM "{table}" t')
            dump.extend(row[0] for row in cursor.fetchall())
    assert str(saved.pk) in "\n".join(dump)  # the row is really there
    assert_no_plaintext("\n".join(dump).encode())


def test_the_check_would_catch_plaintext():
    with pytest.raises(AssertionError):
        assert_no_plaintext(b"xx" + PATIENT_DATA["nir"].encode() + b"yy")
