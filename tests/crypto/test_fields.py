import datetime

import pytest
import tink
from django.db import connection

from relais.crypto.fields import Ciphertext
from relais.crypto.keyset import get_keys
from relais.screening.models import Patient
from tests.support.factories import make_patient
from tests.support.fictitious import PATIENT_DATA


@pytest.fixture
def stored(patient):
    return Patient.objects.get(pk=patient.pk)


def raw_column(patient, column):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM screening_patient WHERE id = %s",
            [patient.pk.hex if connection.vendor == "sqlite" else patient.pk],
        )  # noqa: E501
        return bytes(cursor.fetchone()[0])


def test_round_trip(stored):
    assert stored.birth_name == PATIENT_DATA["birth_name"]
    assert stored.given_names == PATIENT_DATA["given_names"]
    assert stored.birth_date == PATIENT_DATA["birth_date"]
    assert stored.nir == PATIENT_DATA["nir"]
    assert stored.email == PATIENT_DATA["email"]


def test_empty_values_round_trip(pharmacy, pharmacist):
    patient = make_patient(pharmacy, pharmacist, used_name="", nir="", email="")
    stored = Patient.objects.get(pk=patient.pk)
    assert stored.used_name == "" and stored.nir == "" and stored.email == ""
    assert stored.nir_index == ""


def test_stored_value_is_ciphertext(stored):
    raw = raw_column(stored, "birth_name")
    assert PATIENT_DATA["birth_name"].encode() not in raw
    assert len(raw) > len(PATIENT_DATA["birth_name"])


def test_same_value_encrypts_differently(pharmacy, pharmacist):
    first = make_patient(pharmacy, pharmacist)
    second = make_patient(pharmacy, pharmacist)
    assert raw_column(first, "birth_name") != raw_column(second, "birth_name")


def test_ciphertext_moved_to_another_row_is_refused(pharmacy, pharmacist):
    victim = make_patient(pharmacy, pharmacist, birth_name="Victime")
    attacker = make_patient(pharmacy, pharmacist, birth_name="Attaquant")
    stolen = raw_column(victim, "birth_name")
    Patient.objects.filter(pk=attacker.pk).update(birth_name=stolen)
    moved = Patient.objects.get(pk=attacker.pk)
    with pytest.raises(tink.TinkError):
        moved.birth_name  # noqa: B018


def test_ciphertext_moved_to_another_column_is_refused(patient):
    given = raw_column(patient, "given_names")
    Patient.objects.filter(pk=patient.pk).update(used_name=given)
    with pytest.raises(tink.TinkError):
        Patient.objects.get(pk=patient.pk).used_name  # noqa: B018


def test_unchanged_fields_keep_their_ciphertext_on_save(stored):
    before = raw_column(stored, "email")
    stored.city = "Lyon"
    stored.save()
    assert raw_column(stored, "email") == before
    assert Patient.objects.get(pk=stored.pk).city == "Lyon"


def test_loaded_value_decrypts_lazily(stored):
    assert isinstance(stored.__dict__["birth_name"], Ciphertext)
    assert stored.birth_name == PATIENT_DATA["birth_name"]
    assert not isinstance(stored.__dict__["birth_name"], Ciphertext)


def test_deferred_field_is_loaded(patient):
    partial = Patient.objects.only("id").get(pk=patient.pk)
    assert partial.birth_date == datetime.date(1985, 3, 14)


def test_lookups_on_encrypted_fields_are_not_allowed(patient):
    with pytest.raises(Exception):  # noqa: B017
        list(Patient.objects.filter(birth_name="Lefèvre"))


def test_update_with_plaintext_is_refused(patient):
    with pytest.raises(TypeError):
        Patient.objects.filter(pk=patient.pk).update(birth_name="Plaintext")


def test_keyset_uses_aes256_gcm_and_hmac():
    keys = get_keys()
    assert "AesGcmKey" in keys.aead_handle.keyset_info().key_info[0].type_url
    assert "HmacPrfKey" in keys.prf_handle.keyset_info().key_info[0].type_url
