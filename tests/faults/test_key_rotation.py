"""Issue 13, item 7: `keys drop-old` must not destroy the key of ciphertext kept outside
the encrypted fields: pending CSV imports (and keyed idempotency digests)."""

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import BinaryField
from django.utils import timezone

from relais.api.idempotency import DIGEST_PURPOSE
from relais.api.models import IdempotencyKey
from relais.crypto import rotation
from relais.crypto.blind_index import blind_index
from relais.crypto.keyset import get_keys, key_ids, load_keys, primary_key_id
from relais.imports.bulk_import import check_file, import_batch
from relais.imports.models import ImportChunk
from relais.screening.models import ScreeningTest
from tests.support.fictitious import csv_row, csv_text
from tests.support.keysets import keyset_copy


@pytest.fixture
def own_keyset(settings, tmp_path, monkeypatch):
    with keyset_copy(settings, tmp_path, monkeypatch) as copy:
        yield copy


def chunk_keys() -> set:
    return {bytes(c)[1:5] for c in ImportChunk.objects.values_list("content", flat=True)}


def test_a_pending_import_survives_rotate_and_drop_old(own_keyset, pharmacy, pharmacist, capsys):
    upload = SimpleUploadedFile("results.csv", csv_text([csv_row(1), csv_row(2)]).encode())
    batch = check_file(upload, pharmacy, pharmacist)
    old_aead = primary_key_id(load_keys().aead_handle)
    # A new primary key, chunks not yet re-encrypted: drop-old must refuse, naming them.
    rotation.add_primary_keys()
    get_keys.cache_clear()
    with pytest.raises(CommandError, match="still in use"):
        call_command("keys", "drop-old")
    out = capsys.readouterr().out
    assert f"Kept key {old_aead}: still used by imports.ImportChunk.content" in out
    assert old_aead in key_ids(load_keys().aead_handle)
    # Rotation re-encrypts the chunks too; then the old key can go.
    totals = rotation.rewrite_all()
    assert totals["imports.ImportChunk"].rewritten == ImportChunk.objects.count() > 0
    assert chunk_keys() == {primary_key_id(load_keys().aead_handle).to_bytes(4, "big")}
    call_command("keys", "drop-old")
    assert f"Dropped key {old_aead}" in capsys.readouterr().out
    get_keys.cache_clear()
    # The pharmacist confirms the import: the rows open with the keys that are left.
    assert import_batch(batch.pk, pharmacy, pharmacist).imported_count == 2
    assert ScreeningTest.objects.filter(pharmacy=pharmacy).count() == 2


def test_drop_old_keeps_the_prf_key_of_live_idempotency_digests(own_keyset, pharmacy):
    IdempotencyKey.objects.create(
        pharmacy=pharmacy,
        key="order-1",
        request_hash=blind_index(DIGEST_PURPOSE, str(pharmacy.pk), "a request"),
        status_code=201,
        created_at=timezone.now(),
    )
    old_prf = primary_key_id(load_keys().prf_handle)
    rotation.rotate()
    dropped, kept = rotation.drop_unused_keys()
    assert kept == [old_prf] and old_prf not in dropped
    IdempotencyKey.objects.all().delete()  # they expire after 24 hours
    dropped, kept = rotation.drop_unused_keys()
    assert dropped == [old_prf] and kept == []


def test_every_binary_column_is_known_to_rotation():
    """Ciphertext outside EncryptedField must be registered, or rotation skips it and
    drop-old destroys its key: any binary column is an encrypted field or a BlobColumn."""
    rotated = {
        (spec.model._meta.label, f.name)
        for spec in rotation.encrypted_models()
        for f in [*spec.encrypted, *(blob.field for blob in spec.blobs)]
    }
    binary = {
        (model._meta.label, f.name)
        for model in apps.get_models()
        for f in model._meta.concrete_fields
        if isinstance(f, BinaryField)
    }
    assert binary - rotated == set()
    assert ("imports.ImportChunk", "content") in rotated
    assert {("accounts.QueuedEmail", "body"), ("patient_access.Notification", "token")} <= rotated
