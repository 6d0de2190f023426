"""Backup and restore time: `relais backup` then `relais restore` of N tests.

Tests are spread over N/4 patients (each with 11 encrypted identity fields). The
restore goes into the same database after a flush (an empty, migrated database).

    python bench/backup.py            # 1,000,000 tests
    python bench/backup.py --short    # 20,000 tests
"""

import json
import sys

from audit_setup import (
    Timer,
    database_name,
    make_patients,
    make_tests,
    make_world,
    setup_django,
)
from tests.support.fictitious import PATIENT_DATA


def main() -> None:
    tests = 20_000 if "--short" in sys.argv else 1_000_000
    var_dir = setup_django()
    from django.conf import settings
    from django.core.management import call_command

    from relais.backup.dump import restore_backup, write_backup
    from relais.crypto.keyset import new_backup_keyset_json
    from relais.screening.models import Patient, ScreeningTest

    key = var_dir / "backup-key.json"
    key.write_text(new_backup_keyset_json())
    settings.BACKUP_KEY_FILE = str(key)
    pharmacy, user = make_world()
    with Timer() as creating:
        patient_ids = make_patients(pharmacy, user, tests // 4)
        make_tests(pharmacy, user, patient_ids, tests)
    out = var_dir / "relais.backup"
    with Timer() as backing_up, open(out, "wb") as destination:
        rows = write_backup(destination)
    call_command("flush", interactive=False, verbosity=0)
    with Timer() as restoring, open(out, "rb") as source:
        restored = restore_backup(source)
    assert restored == rows and ScreeningTest.objects.count() == tests
    assert Patient.objects.order_by("?").first().birth_name == PATIENT_DATA["birth_name"]
    size = out.stat().st_size / 1e6
    print(f"Backup on {database_name()}: {tests:,} tests, {tests // 4:,} patients, {rows:,} rows")
    print(f"  create (bulk):  {creating.seconds:7.1f} s")
    print(f"  backup:         {backing_up.seconds:7.1f} s  ({size:,.0f} MB encrypted)")
    print(f"  restore:        {restoring.seconds:7.1f} s")
    if "--json" in sys.argv:
        print("RESULT " + json.dumps({
            "database": database_name(), "tests": tests, "rows": rows, "size_mb": size,
            "backup_s": backing_up.seconds, "restore_s": restoring.seconds,
        }))  # fmt: skip


if __name__ == "__main__":
    main()
