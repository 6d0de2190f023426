"""Issue 15: SI-DEP's rejection text can quote patient data. It is stored encrypted
(bound to its row, rewritten by key rotation, erased with the patient's identity), shown
to the pharmacy only, and never logged. The text here is a real AE from the simulator,
which quotes the patient's birth name."""

import logging

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import translation

from relais.crypto import rotation
from relais.crypto.keyset import get_keys
from relais.screening.models import Patient
from relais.screening.signals import patients_purged
from relais.transmission.models import Transmission
from relais.transmission.worker import send_due
from tests.support.factories import log_in, make_patient, make_platform_admin, make_test
from tests.support.fictitious import PATIENT_DATA
from tests.support.keysets import keyset_copy

pytestmark = pytest.mark.django_db
REFUSAL = f"the receiver refuses results for this patient ({PATIENT_DATA['birth_name']})"


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def rejected(start_sidep, screening_test, caplog):
    """The test, rejected by the simulator (AE quoting the birth name); every log record
    of the worker's job kept in caplog."""
    caplog.set_level(logging.DEBUG)
    start_sidep("--reject-birth-name", PATIENT_DATA["birth_name"], "--fast-validation")
    send_due()
    row = screening_test.transmissions.get()
    assert (row.state, row.ack_code, row.ack_text) == (Transmission.State.REJECTED, "AE", REFUSAL)
    return screening_test


def raw_ack_text(row) -> bytes | None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT ack_text FROM {Transmission._meta.db_table} WHERE id = %s",
            [Transmission._meta.pk.get_db_prep_value(row.pk, connection)],
        )
        value = cursor.fetchone()[0]
    return None if value is None else bytes(value)


def test_the_reason_is_stored_encrypted_bound_to_its_row(rejected):
    row = rejected.transmissions.get()
    raw = raw_ack_text(row)
    assert raw and b"refuses" not in raw
    assert PATIENT_DATA["birth_name"].encode() not in raw
    assert Transmission.objects.get(pk=row.pk).ack_text == REFUSAL
    # The same ciphertext copied into another row does not open there.
    other = make_test(rejected.patient, rejected.performed_by).transmissions.get()
    Transmission.objects.filter(pk=other.pk).update(ack_text=raw)
    with pytest.raises(Exception, match="(?i)decryption failed"):
        _ = Transmission.objects.get(pk=other.pk).ack_text


def test_only_the_pharmacy_sees_the_reason(rejected, client, other_pharmacist, caplog):
    page = reverse("screening:test_detail", args=[rejected.pk])
    own = log_in(client, rejected.performed_by).get(page)
    assert own.status_code == 200 and REFUSAL in own.content.decode()
    client.logout()
    other = log_in(client, other_pharmacist).get(page)
    assert other.status_code == 404 and PATIENT_DATA["birth_name"] not in other.content.decode()
    client.logout()
    operator = log_in(client, make_platform_admin()).get(reverse("transmission:operations"))
    assert operator.status_code == 200 and "refuses" not in operator.content.decode()
    # Nothing the worker or the pages logged quotes it.
    assert "refuses" not in caplog.text and PATIENT_DATA["birth_name"] not in caplog.text


def test_key_rotation_rewrites_the_reason(rejected, settings, tmp_path, monkeypatch):
    with keyset_copy(settings, tmp_path, monkeypatch):
        row = rejected.transmissions.get()
        before = raw_ack_text(row)
        rotation.add_primary_keys()
        get_keys.cache_clear()
        totals = rotation.rewrite_all()
        assert totals["transmission.Transmission"].rewritten >= 1
        after = raw_ack_text(row)
        assert after != before and after[1:5] != before[1:5]  # under the new key
        assert Transmission.objects.get(pk=row.pk).ack_text == REFUSAL


def test_the_reason_is_erased_with_the_patient(rejected, pharmacy, pharmacist):
    """Retention (screening/retention.py) erases identities in batches and tells the
    other apps with this signal: the reason may quote the identity, so it goes too."""
    row = rejected.transmissions.get()
    someone_else = make_patient(pharmacy, pharmacist, birth_name="Durand", nir="")
    kept = make_test(someone_else, pharmacist).transmissions.get()
    kept.ack_text = "a reason about a patient not purged"
    kept.save()
    patients_purged.send(sender=Patient, patient_ids=[rejected.patient_id])
    assert raw_ack_text(row) is None
    assert Transmission.objects.get(pk=row.pk).ack_text == ""
    assert Transmission.objects.get(pk=kept.pk).ack_text == "a reason about a patient not purged"
