import io
import os
import shutil
import subprocess
import sys

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError

from relais.audit import chain
from relais.audit.events import record
from relais.audit.models import AuditEvent
from relais.backup.dump import (
    BackupError,
    backed_up_models,
    non_empty_tables,
    restore_backup,
    write_backup,
)
from relais.crypto.keyset import get_keys, new_backup_keyset_json, new_keys, write_keys
from relais.screening.models import Patient, ScreeningTest
from tests.support.factories import make_patient, make_test
from tests.support.fictitious import PATIENT_DATA

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def backup_key(settings, tmp_path):
    path = tmp_path / "backup-key.json"
    path.write_text(new_backup_keyset_json())
    settings.BACKUP_KEY_FILE = str(path)
    return path


@pytest.fixture
def source_data(pharmacy, pharmacist, other_pharmacist):
    patient = make_patient(pharmacy, pharmacist)
    make_test(patient, pharmacist)
    make_test(patient, pharmacist, result="positive")
    make_patient(pharmacy, pharmacist, nir="", email="")
    record("patient.view", actor=pharmacist, pharmacy=pharmacy, target=patient)
    chain.chain_all()
    record("test.view", actor=pharmacist, pharmacy=pharmacy, details={"note": "unchained"})
    return patient


def snapshot() -> dict:
    """Every stored column value of every table (ciphertext as stored)."""
    tables = {}
    for model in backed_up_models():
        names = [f.attname for f in model._meta.concrete_fields]
        rows = model._base_manager.order_by("pk").values_list(*names)
        tables[model._meta.label_lower] = [
            tuple(bytes(v) if isinstance(v, bytes | memoryview) else v for v in row) for row in rows
        ]
    return tables


def empty_the_database():
    call_command("flush", interactive=False, verbosity=0)  # like a freshly migrated database


def test_round_trip_restores_exactly_the_source(backup_key, source_data):
    before = snapshot()
    stream = io.BytesIO()
    rows = write_backup(stream)
    assert rows == sum(len(t) for t in before.values())
    assert PATIENT_DATA["nir"].encode() not in stream.getvalue()
    assert b"screening" not in stream.getvalue()  # nothing readable, not even table names
    empty_the_database()
    assert not Patient.objects.exists()
    restore_backup(io.BytesIO(stream.getvalue()))
    assert snapshot() == before
    restored = Patient.objects.get(pk=source_data.pk)
    assert restored.nir == PATIENT_DATA["nir"]  # same data keyset: ciphertext still opens
    assert ScreeningTest.objects.filter(patient=restored).count() == 2
    assert chain.verify_chain().ok  # the audit chain survived unchanged
    assert chain.chain_all() == 1  # the unchained event is chained after the restore
    make_patient(restored.pharmacy, restored.created_by)  # sequences and ids still work
    record("backup.restore")  # the audit log takes new events after the restore


def test_restore_refuses_a_non_empty_database(backup_key, source_data):
    stream = io.BytesIO()
    write_backup(stream)
    count = Patient.objects.count()
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(io.BytesIO(stream.getvalue()))
    assert Patient.objects.count() == count


@pytest.mark.parametrize("where", ["header", "middle", "end"])
def test_modified_backup_is_refused_and_nothing_is_written(backup_key, source_data, where):
    stream = io.BytesIO()
    write_backup(stream)
    data = bytearray(stream.getvalue())
    position = {"header": 30, "middle": len(data) // 2, "end": len(data) - 5}[where]
    data[position] ^= 0x01
    empty_the_database()
    with pytest.raises(BackupError, match="modified"):
        restore_backup(io.BytesIO(bytes(data)))
    assert not Patient.objects.exists()
    assert apps.get_model("contenttypes", "ContentType").objects.exists()  # rolled back


def test_truncated_backup_is_refused(backup_key, source_data):
    stream = io.BytesIO()
    write_backup(stream)
    empty_the_database()
    with pytest.raises(BackupError):
        restore_backup(io.BytesIO(stream.getvalue()[:-100]))
    assert not Patient.objects.exists()


def test_backup_made_with_another_key_is_refused(backup_key, source_data, settings, tmp_path):
    stream = io.BytesIO()
    write_backup(stream)
    other = tmp_path / "other-key.json"
    other.write_text(new_backup_keyset_json())
    settings.BACKUP_KEY_FILE = str(other)
    empty_the_database()
    with pytest.raises(BackupError, match="another backup key"):
        restore_backup(io.BytesIO(stream.getvalue()))
    assert not Patient.objects.exists()


def test_restore_with_another_data_keyset_is_refused_and_writes_nothing(
    backup_key, source_data, settings, tmp_path, capsys
):
    """Issue 13, item 7: the ciphertext would be restored, and nobody could read it."""
    out = tmp_path / "relais.backup"
    call_command("backup", "--out", str(out))
    empty_the_database()
    other = tmp_path / "other-keyset.json"
    write_keys(other, new_keys())
    settings.KEYSET_FILE = other
    get_keys.cache_clear()
    try:
        with pytest.raises(CommandError, match="keys absent from the current keyset") as refused:
            call_command("restore", str(out))
    finally:
        get_keys.cache_clear()
    assert "nothing written" in str(refused.value) and "\n" not in str(refused.value)
    assert not Patient.objects.exists() and non_empty_tables() == []
    assert apps.get_model("contenttypes", "ContentType").objects.exists()  # rolled back


def test_commands_write_a_private_file_and_restore_it(backup_key, source_data, tmp_path):
    before = snapshot()
    out = tmp_path / "relais.backup"
    call_command("backup", "--out", str(out))
    assert out.stat().st_mode & 0o777 == 0o600
    with pytest.raises(CommandError, match="already exists"):
        call_command("backup", "--out", str(out))
    with pytest.raises(CommandError, match="not empty"):
        call_command("restore", str(out))
    assert AuditEvent.objects.filter(action="backup.create").exists()
    empty_the_database()
    call_command("restore", str(out))
    restored = AuditEvent.objects.get(action="backup.restore")
    assert restored.details == {"rows": sum(len(t) for t in before.values())}
    del before["audit.auditevent"]  # the restore's own event was added after
    after = snapshot()
    del after["audit.auditevent"]
    assert after == before


def test_backup_without_a_key_is_refused(settings, db):
    settings.BACKUP_KEY_FILE = ""
    with pytest.raises(BackupError, match="RELAIS_BACKUP_KEY_FILE"):
        write_backup(io.BytesIO())


@pytest.mark.slow  # `relais` processes
def test_backup_to_stdout_and_restore_from_stdin_with_the_real_commands(tmp_path):
    """Two migrated databases of their own: back one up to stdout, restore into the other."""
    key = tmp_path / "key.json"
    key.write_text(new_backup_keyset_json())
    keyset = tmp_path / "keyset.json"  # the data keyset must be the same on both sides

    def env_for(name):
        env = {**os.environ, "RELAIS_DEMO": "1", "RELAIS_VAR_DIR": str(tmp_path / name)}
        env.update(RELAIS_BACKUP_KEY_FILE=str(key), RELAIS_KEYSET_FILE=str(keyset))
        for inherited in ("RELAIS_DATABASE_URL", "RELAIS_TEST_DATABASE_URL"):
            env.pop(inherited, None)
        env["DJANGO_SETTINGS_MODULE"] = "relais.settings"
        return env

    relais = [sys.executable, "-m", "relais"]
    create = (
        "from relais.accounts.models import Pharmacy;"
        "Pharmacy.objects.create(name='P', finess='750000001', address='1 rue')"
    )
    subprocess.run([*relais, "migrate", "-v", "0"], env=env_for("source"), check=True)
    (tmp_path / "target").mkdir(mode=0o700)
    shutil.copy(tmp_path / "source" / "relais.sqlite3", tmp_path / "target" / "relais.sqlite3")
    subprocess.run([*relais, "shell", "-c", create], env=env_for("source"), check=True)
    made = subprocess.run([*relais, "backup"], env=env_for("source"), capture_output=True)
    assert made.returncode == 0, made.stderr
    assert b"750000001" not in made.stdout and len(made.stdout) > 100
    restored = subprocess.run(
        [*relais, "restore", "-"], env=env_for("target"), input=made.stdout, capture_output=True
    )
    assert restored.returncode == 0, restored.stderr
    assert b"Restored" in restored.stdout
    again = subprocess.run(
        [*relais, "restore", "-"], env=env_for("target"), input=made.stdout, capture_output=True
    )
    assert again.returncode != 0 and b"not empty" in again.stderr
