"""Shared set-up of the audit, key-rotation and backup benchmarks.

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
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> Path:
    var_dir = Path(tempfile.mkdtemp(prefix="relais-bench-audit-"))
    atexit.register(shutil.rmtree, var_dir, ignore_errors=True)  # databases of GBs
    os.environ["RELAIS_DEMO"] = "1"
    os.environ["RELAIS_VAR_DIR"] = str(var_dir)
    os.environ.setdefault("RELAIS_HTTPS", "0")
    os.environ["DJANGO_SETTINGS_MODULE"] = "relais.settings"
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
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
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from relais.accounts.models import Membership, Pharmacy, User

    pharmacy = Pharmacy.objects.create(
        name="Bench", finess="750000001", address="1 rue", status=Pharmacy.Status.ACTIVE
    )
    user = User.objects.create_user("bench@example.org", "bench password 1234", full_name="B")
    Membership.objects.create(user=user, pharmacy=pharmacy, role=Membership.Role.PHARMACIST)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return pharmacy, user


IDENTITY = {
    "birth_name": "Dupont", "used_name": "", "given_names": "Jeanne Marie",
    "birth_date": "1980-05-17", "sex": "F", "birthplace_code": "75056",
    "nir": "280057505600112", "address": "12 rue des Lilas", "postal_code": "75011",
    "city": "Paris", "phone": "+33612345678", "email": "jeanne.dupont@example.org",
}  # fmt: skip


def make_patients(pharmacy, user, count: int, batch: int = 5000) -> list:
    """Patients with every identity field encrypted (its own AD per row and column)."""
    from relais.crypto.blind_index import blind_index
    from relais.crypto.fields import Ciphertext, associated_data
    from relais.crypto.keyset import get_keys
    from relais.screening.models import IDENTITY_INDEX, NIR_INDEX, Patient

    aead = get_keys().aead
    scope = str(pharmacy.pk)
    nir_index = blind_index(NIR_INDEX, scope, IDENTITY["nir"])
    identity_index = blind_index(IDENTITY_INDEX, scope, "dupont|1980-05-17")
    ids = []
    for start in range(0, count, batch):
        rows = []
        for _ in range(min(batch, count - start)):
            pk = uuid.uuid4()
            values = {
                name: Ciphertext(aead.encrypt(value.encode(), associated_data(Patient, name, pk)))
                for name, value in IDENTITY.items()
                if value
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
