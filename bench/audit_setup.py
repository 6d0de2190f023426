"""Shared set-up of the database benchmarks (audit, key rotation, backup, bulk import,
save test).

A fresh demo-mode database in a temporary directory: SQLite by default, or the
PostgreSQL database named by RELAIS_DATABASE_URL (it is emptied first: use a scratch one).
Rows are made with bulk_create and values encrypted up front, which is what makes a
million rows possible in minutes.
"""

import atexit
import datetime
import os
import random
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import project_path  # noqa: F401 (tests/support)


def setup_django() -> Path:
    var_dir = Path(tempfile.mkdtemp(prefix="relais-bench-audit-"))
    atexit.register(shutil.rmtree, var_dir, ignore_errors=True)  # databases of GBs
    os.environ["RELAIS_DEMO"] = "1"
    os.environ["RELAIS_VAR_DIR"] = str(var_dir)
    os.environ.setdefault("RELAIS_HTTPS", "0")
    os.environ["DJANGO_SETTINGS_MODULE"] = "relais.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    if os.environ.get("RELAIS_DATABASE_URL"):
        call_command("flush", interactive=False, verbosity=0)
    return var_dir


def database_name() -> str:
    from django.db import connection

    return "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"


def make_world():
    """A pharmacy and one pharmacist of it."""
    from tests.support.factories import make_member, make_pharmacy

    pharmacy = make_pharmacy("Bench")
    return pharmacy, make_member(pharmacy, "bench@example.org", full_name="B")


def make_patients(pharmacy, user, count: int, batch: int = 5000) -> list:
    """Patients (PATIENT_DATA's identity) with every identity field encrypted, each with
    its own associated data per row and column."""
    from tests.support.fictitious import PATIENT_DATA

    from relais.crypto.blind_index import blind_index
    from relais.crypto.fields import Ciphertext, associated_data
    from relais.crypto.keyset import get_keys
    from relais.screening.models import IDENTITY_INDEX, NIR_INDEX, Patient, identity_key

    aead = get_keys().aead
    scope = str(pharmacy.pk)
    nir_index = blind_index(NIR_INDEX, scope, PATIENT_DATA["nir"])
    identity = identity_key(PATIENT_DATA["birth_name"], PATIENT_DATA["birth_date"])
    identity_index = blind_index(IDENTITY_INDEX, scope, identity)
    plaintexts = {name: str(value).encode() for name, value in PATIENT_DATA.items() if value}
    ids = []
    for start in range(0, count, batch):
        rows = []
        for _ in range(min(batch, count - start)):
            pk = uuid.uuid4()
            values = {
                name: Ciphertext(aead.encrypt(value, associated_data(Patient, name, pk)))
                for name, value in plaintexts.items()
            }
            rows.append(
                Patient(
                    id=pk, pharmacy=pharmacy, created_by=user, nir_index=nir_index,
                    identity_index=identity_index, **values,
                )
            )  # fmt: skip
            ids.append(pk)
        Patient.objects.bulk_create(rows, batch_size=1000)
    return ids


def make_tests(pharmacy, user, patient_ids: list, count: int, batch: int = 10000) -> None:
    from django.utils import timezone

    from relais.screening.models import ScreeningTest

    now = timezone.now()
    for start in range(0, count, batch):
        rows = [
            ScreeningTest(
                pharmacy=pharmacy, patient_id=patient_ids[n % len(patient_ids)],
                kind="sars_cov_2_antigen", device="Demo AG", specimen="nasal_swab",
                sampled_at=now - datetime.timedelta(minutes=random.randint(0, 200_000)),
                result=random.choice(("negative", "negative", "positive")),
                consent_transmission=True, performed_by=user,
            )
            for n in range(start, min(start + batch, count))
        ]  # fmt: skip
        ScreeningTest.objects.bulk_create(rows, batch_size=2000)


class Timer:
    def __enter__(self):
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.started
