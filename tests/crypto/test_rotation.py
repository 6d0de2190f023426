import pytest
import tink
from django.core.management import call_command
from django.core.management.base import CommandError

from relais.audit.models import AuditEvent
from relais.crypto import keyset, rotation
from relais.crypto.fields import associated_data
from relais.crypto.keyset import ciphertext_key_id, get_keys, load_keys, primary_key_id
from relais.screening.models import Patient
from relais.screening.services import find_patients, update_patient
from tests.support.factories import built_from, make_patient
from tests.support.fictitious import PATIENT_DATA
from tests.support.keysets import keyset_copy


@pytest.fixture
def own_keyset(settings, tmp_path, monkeypatch):
    """A copy of the keyset for this test, so rotations stay here."""
    with keyset_copy(settings, tmp_path, monkeypatch) as copy:
        yield copy


def stored_key_ids(patient_id) -> set[int]:
    raw = Patient.objects.filter(pk=patient_id).values_list("birth_name", "nir", "email").get()
    return {ciphertext_key_id(bytes(value)) for value in raw if value}


def test_rotate_reencrypts_every_field_and_index(own_keyset, pharmacy, pharmacist):
    patients = [make_patient(pharmacy, pharmacist, nir="") for _ in range(3)]
    patients.append(make_patient(pharmacy, pharmacist))
    old = load_keys()
    totals = rotation.rotate(batch_size=2)
    new = load_keys()
    new_aead, new_prf = primary_key_id(new.aead_handle), primary_key_id(new.prf_handle)
    assert new_aead != primary_key_id(old.aead_handle)
    assert totals["screening.Patient"].rewritten == 4
    for patient in patients:
        stored = Patient.objects.get(pk=patient.pk)
        assert stored_key_ids(patient.pk) == {new_aead}
        assert stored.identity_index.startswith(f"{new_prf:08x}")
        assert stored.birth_name == PATIENT_DATA["birth_name"]
    assert list(find_patients(pharmacy, nir=PATIENT_DATA["nir"])) == [patients[-1]]
    assert own_keyset.stat().st_mode & 0o777 == 0o600


def test_rotation_while_writes_continue_loses_nothing(own_keyset, pharmacy, pharmacist):
    before = [make_patient(pharmacy, pharmacist, birth_name=f"Avant{n}") for n in range(10)]
    old_aead = load_keys().aead
    written, stale_written = [], []

    def writes_continue(spec, progress):
        # This process writes with the new key; a stale process (which has not yet seen
        # the new keyset) writes a few rows with the old one.
        written.append(make_patient(pharmacy, pharmacist, birth_name=f"Pendant{len(written)}"))
        if len(stale_written) < 3:
            stale = make_patient(pharmacy, pharmacist, birth_name="Stale")
            ad = associated_data(Patient, "birth_name", stale.pk)
            Patient.objects.filter(pk=stale.pk).update(birth_name=old_aead.encrypt(b"Stale", ad))
            stale_written.append(stale)
        edited = Patient.objects.get(pk=before[len(written) % 10].pk)
        update_patient(
            edited,
            {**PATIENT_DATA, "nir": edited.nir, "birth_name": f"Modifie{len(written)}"},
            built_from(edited),
        )

    rotation.rotate(batch_size=3, after_batch=writes_continue)
    assert len(written) > 4 and len(stale_written) == 3
    primary = primary_key_id(load_keys().aead_handle)
    everyone = list(Patient.objects.all())
    assert len(everyone) == 10 + len(written) + len(stale_written)
    for patient in everyone:
        assert patient.given_names == PATIENT_DATA["given_names"]  # every row still readable
        assert patient.birth_name.startswith(("Avant", "Pendant", "Stale", "Modifie"))
        assert stored_key_ids(patient.pk) == {primary}
    # No row uses the old key any more: it can be dropped, and everything stays readable.
    dropped, kept = rotation.drop_unused_keys()
    assert len(dropped) == 2 and kept == []
    get_keys.cache_clear()
    assert all(p.email == PATIENT_DATA["email"] for p in Patient.objects.all())


def test_drop_old_refuses_while_a_row_uses_the_key(own_keyset, pharmacy, pharmacist):
    patient = make_patient(pharmacy, pharmacist)
    old_keys = load_keys()
    rotation.add_primary_keys()
    get_keys.cache_clear()
    with pytest.raises(CommandError, match="still in use"):
        call_command("keys", "drop-old")
    assert primary_key_id(old_keys.aead_handle) in keyset.key_ids(load_keys().aead_handle)
    assert Patient.objects.get(pk=patient.pk).birth_name == PATIENT_DATA["birth_name"]
    assert len(keyset.key_ids(load_keys().aead_handle)) == 2


def test_status_counts_rows_per_key(own_keyset, pharmacy, pharmacist, capsys):
    make_patient(pharmacy, pharmacist)
    make_patient(pharmacy, pharmacist, nir="", email="")
    keys = load_keys()
    aead_id, prf_id = primary_key_id(keys.aead_handle), primary_key_id(keys.prf_handle)
    counts = rotation.usage()
    assert counts.aead[aead_id] == 12 + 10  # non-empty encrypted values
    assert counts.prf[prf_id] == 3  # two identity indexes, one NIR index
    call_command("keys", "status")
    out = capsys.readouterr().out
    assert f"key {aead_id} (primary): 22 value(s)" in out


def test_command_rotate_then_drop_old(own_keyset, pharmacy, pharmacist, capsys):
    patient = make_patient(pharmacy, pharmacist)
    first = primary_key_id(load_keys().aead_handle)
    call_command("keys", "rotate", "--batch-size", "10")
    assert "1 row(s) rewritten" in capsys.readouterr().out
    call_command("keys", "drop-old")
    assert f"Dropped key {first}" in capsys.readouterr().out
    assert AuditEvent.objects.get(action="keys.rotate").details["rows_rewritten"] == 1
    assert AuditEvent.objects.get(action="keys.drop_old").details["dropped"][0] == first
    get_keys.cache_clear()
    assert keyset.key_ids(load_keys().aead_handle) == [primary_key_id(load_keys().aead_handle)]
    assert Patient.objects.get(pk=patient.pk).nir == PATIENT_DATA["nir"]


def test_dropped_key_really_is_gone(own_keyset, pharmacy, pharmacist):
    old_aead = load_keys().aead
    rotation.rotate()
    rotation.drop_unused_keys()
    get_keys.cache_clear()
    ciphertext = old_aead.encrypt(b"x", b"ad")
    with pytest.raises(tink.TinkError):
        get_keys().aead.decrypt(ciphertext, b"ad")


def test_other_processes_pick_up_a_rotated_keyset(own_keyset, monkeypatch):
    first = get_keys()
    rotation.add_primary_keys()
    monkeypatch.setattr(keyset, "RELOAD_CHECK_SECONDS", 0)
    keyset._cache.checked_at = float("-inf")  # what a second's wait does
    reloaded = get_keys()
    assert primary_key_id(reloaded.aead_handle) != primary_key_id(first.aead_handle)


def test_keyset_is_not_read_again_within_the_check_interval(own_keyset, monkeypatch):
    first = get_keys()
    monkeypatch.setattr(keyset, "RELOAD_CHECK_SECONDS", 3600)
    own_keyset.write_text("garbage")  # would fail to parse if it were read
    assert get_keys() is first


def test_rotation_keeps_a_wrapped_keyset_wrapped(settings, tmp_path, monkeypatch):
    wrap = tmp_path / "wrap.json"
    wrap.write_text(keyset.new_wrapping_keyset_json())
    path = tmp_path / "keyset.json"
    keyset.write_keys(path, keyset.new_keys(), str(wrap))
    settings.KEYSET_FILE, settings.KEYSET_WRAPPING_KEY_FILE = path, str(wrap)
    monkeypatch.setattr(rotation, "RELOAD_CHECK_SECONDS", 0)
    get_keys.cache_clear()
    try:
        rotation.add_primary_keys()
        assert '"wrapped": true' in path.read_text()
        assert len(keyset.key_ids(load_keys().aead_handle)) == 2
    finally:
        get_keys.cache_clear()
