"""Key rotation: a new primary key, then every encrypted field and blind index rewritten.

`rotate()` adds a fresh primary AEAD key and PRF key to the keyset file (atomic
replace), then walks every model with encrypted fields in primary-key order, in small
batches, each in its own short transaction with its rows locked, and rewrites the
values still under an old key. Other processes see the new keyset within
RELOAD_CHECK_SECONDS; until then they may still write with the old key, and a row
created behind the walk is missed by it, so passes repeat until one finds nothing
left to rewrite. `usage()` counts rows per key (read from the stored bytes, no
decryption); `drop_unused_keys()` removes old keys that no row uses any more.

Blind indexes: a model with a `refresh_indexes()` method has its `*_index` columns
recomputed from the decrypted values.

Key material outside those fields is registered by the app that stores it (in its
AppConfig.ready, since crypto imports no app): a BlobColumn holds `encrypt_blob`
ciphertext (pending CSV imports), which rotation re-encrypts like a field; a
DigestColumn holds PRF digests that cannot be recomputed (no plaintext is kept), which
usage counts so that drop-old keeps their key until they expire.
"""

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from django.apps import apps
from django.conf import settings
from django.db import connection, models, transaction

from relais.crypto.blind_index import KEY_ID_HEX, index_key_id
from relais.crypto.blobs import decrypt_blob, encrypt_blob
from relais.crypto.fields import Ciphertext, EncryptedField
from relais.crypto.keyset import (
    AEAD_TEMPLATE,
    PRF_TEMPLATE,
    RELOAD_CHECK_SECONDS,
    SIGNING_TEMPLATE,
    Keys,
    ciphertext_key_id,
    get_keys,
    key_ids,
    load_keys,
    primary_key_id,
    replace_keys,
    with_new_primary,
    without_keys,
)

BATCH_SIZE = 500


@dataclass(frozen=True)
class BlobColumn:
    """A column of `encrypt_blob` ciphertext (Tink-prefixed), bound to `associated_data(row)`."""

    model: type[models.Model]
    field_name: str
    associated_data: Callable[[models.Model], bytes]

    @property
    def field(self) -> models.Field:
        return cast(models.Field, self.model._meta.get_field(self.field_name))


@dataclass(frozen=True)
class DigestColumn:
    """A column of keyed digests in the blind-index layout (PRF key id first), kept only
    for a while: they are counted, never rewritten; `expiry` tells the operator when the
    last ones under an old key go."""

    model: type[models.Model]
    field_name: str
    expiry: str

    @property
    def field(self) -> models.Field:
        return cast(models.Field, self.model._meta.get_field(self.field_name))


_blob_columns: dict[tuple[str, str], BlobColumn] = {}
_digest_columns: dict[tuple[str, str], DigestColumn] = {}


def register_blob_column(column: BlobColumn) -> None:
    """Registering the same column again replaces it (ready() may run twice)."""
    _blob_columns[(column.model._meta.label, column.field_name)] = column


def register_digest_column(column: DigestColumn) -> None:
    _digest_columns[(column.model._meta.label, column.field_name)] = column


def digest_columns() -> list[DigestColumn]:
    return list(_digest_columns.values())


@dataclass
class EncryptedModel:
    model: type[models.Model]
    encrypted: list[EncryptedField]
    indexes: list[models.CharField]
    blobs: list[BlobColumn] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.model._meta.label


def encrypted_models() -> list[EncryptedModel]:
    found = []
    for model in apps.get_models():
        encrypted = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedField)]
        blobs = [c for c in _blob_columns.values() if c.model is model]
        if not encrypted and not blobs:
            continue
        indexes = []
        if callable(getattr(model, "refresh_indexes", None)):
            indexes = [
                f
                for f in model._meta.concrete_fields
                if isinstance(f, models.CharField) and f.name.endswith("_index")
            ]
        found.append(EncryptedModel(model, encrypted, indexes, blobs))
    return found


def add_primary_keys() -> Keys:
    """Write the keyset with a new primary AEAD and PRF key; returns the new keys."""
    keys = load_keys()
    rotated = Keys(
        aead_handle=with_new_primary(keys.aead_handle, AEAD_TEMPLATE),
        prf_handle=with_new_primary(keys.prf_handle, PRF_TEMPLATE),
        signing_handle=keys.signing_handle or with_new_primary_signing(),
    )
    replace_keys(settings.KEYSET_FILE, rotated, settings.KEYSET_WRAPPING_KEY_FILE)
    return rotated


def with_new_primary_signing():
    import tink

    return tink.new_keyset_handle(SIGNING_TEMPLATE)


@dataclass
class PassResult:
    scanned: int = 0
    rewritten: int = 0


def _stale_updates(row: models.Model, spec: EncryptedModel, aead_id: int, prf_id: int) -> dict:
    updates = {}
    for f in spec.encrypted:
        raw = row.__dict__.get(f.attname)
        if isinstance(raw, Ciphertext) and ciphertext_key_id(raw) != aead_id:
            updates[f.attname] = f.encrypt(row, getattr(row, f.attname))
    for blob in spec.blobs:
        attname = blob.field.attname
        raw = getattr(row, attname)
        if raw is not None and ciphertext_key_id(bytes(raw)) != aead_id:
            ad = blob.associated_data(row)
            updates[attname] = encrypt_blob(decrypt_blob(bytes(raw), ad), ad)
    stored = {f.attname: getattr(row, f.attname) for f in spec.indexes}
    if any(value and index_key_id(value) != prf_id for value in stored.values()):
        # Only models that define refresh_indexes have index fields (encrypted_models).
        row.refresh_indexes()  # type: ignore[attr-defined]
        for name, old in stored.items():
            if getattr(row, name) != old:
                updates[name] = getattr(row, name)
    return updates


def _column(f: models.Field) -> str:
    # Every concrete field has a column; django-stubs types it Optional for the others.
    return cast(str, f.column)


def _write(model: type[models.Model], changes: list[tuple]) -> int:
    """One executemany per set of changed columns (usually one set per batch)."""
    by_columns: dict[tuple, list] = {}
    for pk, updates in changes:
        by_columns.setdefault(tuple(sorted(updates)), []).append((pk, updates))
    quote, meta = connection.ops.quote_name, model._meta
    by_attname = {f.attname: f for f in meta.concrete_fields}
    for names, group in by_columns.items():
        fields = [by_attname[name] for name in names]
        assignments = ", ".join(f"{quote(_column(f))} = %s" for f in fields)
        sql = (
            f"UPDATE {quote(meta.db_table)} SET {assignments} "  # noqa: S608 (model names)
            f"WHERE {quote(_column(meta.pk))} = %s"
        )
        params = [
            [f.get_db_prep_save(updates[f.attname], connection) for f in fields]
            + [meta.pk.get_db_prep_save(pk, connection)]
            for pk, updates in group
        ]
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)
    return len(changes)


def rewrite_pass(
    spec: EncryptedModel, batch_size: int = BATCH_SIZE, after_batch: Callable | None = None
) -> PassResult:
    keys = get_keys()
    aead_id, prf_id = primary_key_id(keys.aead_handle), primary_key_id(keys.prf_handle)
    manager = spec.model._base_manager
    result, last_pk = PassResult(), None
    while True:
        with transaction.atomic():
            due = manager.select_for_update().order_by("pk")
            if last_pk is not None:
                due = due.filter(pk__gt=last_pk)
            rows = list(due[:batch_size])
            changes = [(row.pk, _stale_updates(row, spec, aead_id, prf_id)) for row in rows]
            result.rewritten += _write(spec.model, [(pk, c) for pk, c in changes if c])
        if not rows:
            return result
        result.scanned += len(rows)
        last_pk = rows[-1].pk
        if after_batch is not None:
            after_batch(spec, result)


def rewrite_all(
    batch_size: int = BATCH_SIZE, after_batch: Callable | None = None, max_passes: int = 20
) -> dict[str, PassResult]:
    """Passes over every encrypted model until one pass rewrites nothing."""
    totals: dict[str, PassResult] = {}
    for _ in range(max_passes):
        rewritten = 0
        for spec in encrypted_models():
            one = rewrite_pass(spec, batch_size, after_batch)
            total = totals.setdefault(spec.label, PassResult())
            total.scanned += one.scanned
            total.rewritten += one.rewritten
            rewritten += one.rewritten
        if rewritten == 0:
            return totals
    raise RuntimeError(f"rows were still written under old keys after {max_passes} passes")


def rotate(batch_size: int = BATCH_SIZE, after_batch: Callable | None = None):
    add_primary_keys()
    # Give every other process time to notice the new keyset before the first pass, so
    # that the passes converge quickly.
    time.sleep(RELOAD_CHECK_SECONDS + 0.2)
    return rewrite_all(batch_size, after_batch)


# --- Usage ------------------------------------------------------------------------------


@dataclass
class Usage:
    aead: Counter = field(default_factory=Counter)
    prf: Counter = field(default_factory=Counter)
    rows: dict[str, Counter] = field(default_factory=dict)


def _grouped(table: str, column: str, length: int, start: int) -> list[tuple]:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT substr({quote(column)}, {start}, {length}), count(*) "  # noqa: S608
            f"FROM {quote(table)} WHERE {quote(column)} IS NOT NULL GROUP BY 1"
        )
        return cursor.fetchall()


def usage() -> Usage:
    """How many stored values use each key id (columns by column, summed)."""
    result = Usage()
    for spec in encrypted_models():
        table = spec.model._meta.db_table
        per_model = result.rows.setdefault(spec.label, Counter())
        ciphertext_columns = [f.column for f in spec.encrypted]
        ciphertext_columns += [_column(blob.field) for blob in spec.blobs]
        for column in ciphertext_columns:
            for prefix, count in _grouped(table, column, 4, 2):
                key_id = ciphertext_key_id(b"\x01" + bytes(prefix)) if prefix else None
                result.aead[key_id] += count
                per_model[f"{column}: AEAD key {key_id}"] += count
        for index in spec.indexes:
            _count_digests(result, spec.model, _column(index))
    for digests in digest_columns():
        _count_digests(result, digests.model, _column(digests.field))
    return result


def _count_digests(result: Usage, model: type[models.Model], column: str) -> None:
    per_model = result.rows.setdefault(model._meta.label, Counter())
    for prefix, count in _grouped(model._meta.db_table, column, KEY_ID_HEX, 1):
        if not prefix:
            continue  # empty index (no value to index)
        key_id = int(prefix, 16) if len(prefix) == KEY_ID_HEX else None
        result.prf[key_id] += count
        per_model[f"{column}: PRF key {key_id}"] += count


def where_used(counts: Usage, key_id: int) -> list[str]:
    """`model: column (count)` for every place that stores values under `key_id`."""
    places = []
    for label, per_column in counts.rows.items():
        for what, count in sorted(per_column.items()):
            column, _, key = what.partition(": ")
            if key.endswith(f" key {key_id}"):
                places.append(f"{label}.{column} ({count})")
    return places


def digest_expiries() -> list[str]:
    return [f"{c.model._meta.label}.{c.field.column}: {c.expiry}" for c in digest_columns()]


def drop_unused_keys() -> tuple[list[int], list[int]]:
    """Remove non-primary keys no stored value uses; returns (dropped, kept because used)."""
    keys, counts = load_keys(), usage()
    dropped, kept = [], []
    handles = {}
    for name, handle, used in (
        ("aead", keys.aead_handle, counts.aead),
        ("prf", keys.prf_handle, counts.prf),
    ):
        old = [k for k in key_ids(handle) if k != primary_key_id(handle)]
        unused = {k for k in old if used.get(k, 0) == 0}
        dropped += sorted(unused)
        kept += sorted(set(old) - unused)
        handles[name] = without_keys(handle, unused) if unused else handle
    if dropped:
        replace_keys(
            settings.KEYSET_FILE,
            Keys(handles["aead"], handles["prf"], keys.signing_handle),
            settings.KEYSET_WRAPPING_KEY_FILE,
        )
    return dropped, kept
