"""Encrypted, integrity-protected logical backups of the whole database.

Format: Tink streaming AEAD (AES256-GCM-HKDF, 1 MB segments; key in
RELAIS_BACKUP_KEY_FILE, never the data keys) around gzip around JSON lines:
a header (format, migrations applied), then for each table a line naming it and
its columns, one JSON array per row, and a closing count; then a trailer. Any
modified byte, truncation or another key makes decryption fail.

Values are the stored column values: encrypted fields stay ciphertext (their AEAD
binds table, column and row id, so a restore must keep the ids and use the same
data keyset), audit events keep their chain. Restore goes into an empty database
migrated to the same migrations, in one transaction, so a refused file leaves
nothing behind.

The header names the data keys (AEAD and PRF key ids) of the keyset in use; restore
checks the key id of every ciphertext and blind index it inserts against the current
keyset and refuses, before committing, when one is missing: another keyset would
"restore" records nobody can read.
"""

import base64
import datetime
import decimal
import gzip
import io
import json
import uuid
from collections.abc import Iterator
from typing import BinaryIO, cast

from django.apps import apps
from django.conf import settings
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.db.migrations.recorder import MigrationRecorder

from relais.crypto.blind_index import index_key_id
from relais.crypto.blobs import (
    CryptoError,
    backup_decrypting_stream,
    backup_encrypting_stream,
    blob_key_id,
    data_key_ids,
)
from relais.crypto.fields import Ciphertext, EncryptedField
from relais.crypto.rotation import digest_columns, encrypted_models

FORMAT = "relais-backup-1"
ASSOCIATED_DATA = b"relais backup " + FORMAT.encode()
# Made again by `migrate` in every database; restore replaces them with the backup's.
REGENERATED = {"contenttypes.contenttype", "auth.permission"}
INSERT_BATCH = 1000


class BackupError(Exception):
    """A backup that cannot be restored, with the reason."""


def backup_key_file(key_file: str | None = None) -> str:
    path = key_file or settings.BACKUP_KEY_FILE
    if not path:
        raise BackupError("RELAIS_BACKUP_KEY_FILE is not set (create one: relais keys init-backup)")
    return path


def backed_up_models() -> list[type[models.Model]]:
    return [
        model
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy
    ]


def applied_migrations() -> list[list[str]]:
    recorder = MigrationRecorder(connection)
    return sorted([app, name] for app, name in recorder.applied_migrations())


# --- Writing ------------------------------------------------------------------------------


def _encode(field: models.Field, value):
    if value is None:
        return None
    if isinstance(field, EncryptedField):
        # The descriptor is bypassed: values_list gives Ciphertext, or "" for NULL.
        return base64.b64encode(value).decode() if isinstance(value, Ciphertext) else None
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal | datetime.timedelta):
        return str(value) if not isinstance(value, datetime.timedelta) else value.total_seconds()
    return value


def _lines() -> Iterator[dict | list]:
    yield {"format": FORMAT, "migrations": applied_migrations(), "data_keys": data_key_ids()}
    total = 0
    for model in backed_up_models():
        fields = model._meta.concrete_fields
        yield {"table": model._meta.label_lower, "columns": [f.attname for f in fields]}
        rows = model._base_manager.order_by("pk").values_list(*(f.attname for f in fields))
        count = 0
        for row in rows.iterator(chunk_size=2000):
            yield [_encode(f, v) for f, v in zip(fields, row, strict=True)]
            count += 1
        yield {"end_table": model._meta.label_lower, "rows": count}
        total += count
    yield {"end": True, "rows": total}


class _KeepOpen(io.RawIOBase):
    """Tink closes the destination when it finishes; stdout must stay open."""

    def __init__(self, target: BinaryIO):
        self.target = target
        self.error: OSError | None = None  # the destination's own failure (a full disk)

    def writable(self):
        return True

    def write(self, data):
        try:
            return self.target.write(data)
        except OSError as error:
            self.error = error
            raise

    def close(self):
        self.target.flush()
        super().close()


def write_backup(destination: BinaryIO, key_file: str | None = None) -> int:
    """Stream the whole database, encrypted, into `destination`; returns the row count."""
    key_path = backup_key_file(key_file)  # refused before the snapshot starts
    rows = 0
    with transaction.atomic():  # one consistent snapshot (repeatable on PostgreSQL below)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        target = _KeepOpen(destination)
        sealing = backup_encrypting_stream(target, ASSOCIATED_DATA, key_path)
        try:
            with sealing as sealed:
                with gzip.GzipFile(fileobj=sealed, mode="wb", compresslevel=1, mtime=0) as packed:
                    buffer = io.BufferedWriter(packed, buffer_size=1 << 20)
                    for line in _lines():
                        buffer.write(json.dumps(line, separators=(",", ":")).encode() + b"\n")
                        if isinstance(line, list):
                            rows += 1
                    buffer.flush()
        except Exception:
            # Tink wraps a write that fails in its last flush (at close) in an error of
            # its own: the disk's error is the reason (ENOSPC must read as such).
            if target.error is not None:
                raise target.error from None
            raise
    return rows


# --- Restoring ----------------------------------------------------------------------------


def _decode(field: models.Field, value):
    if value is None:
        return None
    if isinstance(field, models.BinaryField):
        return base64.b64decode(value)
    if isinstance(field, models.JSONField):
        return value
    if isinstance(field, models.DurationField):
        return datetime.timedelta(seconds=value)
    return field.to_python(value)


def _read_lines(source: BinaryIO, key_file: str | None) -> Iterator:
    opening = backup_decrypting_stream(source, ASSOCIATED_DATA, backup_key_file(key_file))
    try:
        with opening as opened:
            with gzip.GzipFile(fileobj=opened, mode="rb") as unpacked:
                for raw in io.BufferedReader(unpacked, buffer_size=1 << 20):
                    yield json.loads(raw)
    except (CryptoError, OSError, EOFError, ValueError) as error:
        raise BackupError(
            "the backup cannot be decrypted: it was modified, truncated, or made with "
            f"another backup key ({type(error).__name__})"
        ) from None


def non_empty_tables() -> list[str]:
    return [
        model._meta.label_lower
        for model in backed_up_models()
        if model._meta.label_lower not in REGENERATED and model._base_manager.exists()
    ]


class KeyCheck:
    """Which restored columns hold data-key material, and the key ids found in them that
    the current keyset lacks."""

    def __init__(self):
        current = data_key_ids()
        self.current = {"aead": set(current["aead"]), "prf": set(current["prf"])}
        self.kinds: dict[tuple[str, str], str] = {}
        for spec in encrypted_models():
            for f in [*spec.encrypted, *(blob.field for blob in spec.blobs)]:
                self.kinds[(spec.model._meta.label_lower, f.attname)] = "aead"
            for f in spec.indexes:
                self.kinds[(spec.model._meta.label_lower, f.attname)] = "prf"
        for digests in digest_columns():
            self.kinds[(digests.model._meta.label_lower, digests.field.attname)] = "prf"
        self.missing: dict[str, set] = {"aead": set(), "prf": set()}

    def columns(self, model: type[models.Model], columns: list[str]) -> list[tuple[int, str]]:
        label = model._meta.label_lower
        return [
            (i, self.kinds[(label, c)]) for i, c in enumerate(columns) if (label, c) in self.kinds
        ]

    def check(self, keyed: list[tuple[int, str]], rows: list[list]) -> None:
        for row in rows:
            for i, kind in keyed:
                value = row[i]
                if not value:
                    continue
                if kind == "aead":
                    key_id = blob_key_id(base64.b64decode(value))
                else:
                    key_id = index_key_id(value)
                if key_id not in self.current[kind]:
                    self.missing[kind].add(key_id)

    def refuse_if_missing(self, header: dict) -> None:
        if not any(self.missing.values()):
            return
        named = ", ".join(
            f"{kind.upper()} {key_id}"
            for kind in ("aead", "prf")
            for key_id in sorted(self.missing[kind], key=lambda k: -1 if k is None else k)
        )
        made_with = header.get("data_keys")
        hint = f" (the backup was made with {made_with})" if made_with else ""
        raise BackupError(
            f"the backup's data uses keys absent from the current keyset: {named}{hint}; "
            "set RELAIS_KEYSET_FILE to the keyset in use when it was made"
        )


def _insert(model: type[models.Model], columns: list[str], rows: list[list]) -> None:
    fields = [_field_by_attname(model, name) for name in columns]
    quote = connection.ops.quote_name
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608 (names from the models)
        quote(model._meta.db_table),
        ", ".join(quote(cast(str, f.column)) for f in fields),  # concrete: never None
        ", ".join(["%s"] * len(fields)),
    )
    params = [
        [f.get_db_prep_save(_decode(f, v), connection) for f, v in zip(fields, row, strict=True)]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _field_by_attname(model: type[models.Model], attname: str) -> models.Field:
    for field in model._meta.concrete_fields:
        if field.attname == attname:
            return field
    raise BackupError(f"{model._meta.label_lower} has no column {attname}: schema differs")


def restore_backup(source: BinaryIO, key_file: str | None = None) -> int:
    """Restore into an empty database; all or nothing. Returns the row count."""
    busy = non_empty_tables()
    if busy:
        raise BackupError(f"the database is not empty ({', '.join(busy[:5])}…): refusing")
    known = {m._meta.label_lower: m for m in backed_up_models()}
    restored, finished = 0, False
    with transaction.atomic():
        lines = _read_lines(source, key_file)
        header = next(lines, None)
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise BackupError("not a Relais backup")
        if header["migrations"] != applied_migrations():
            raise BackupError(
                "the database's migrations differ from the backup's: run the same release"
            )
        for label in REGENERATED:
            known[label]._base_manager.all().delete()
        keys = KeyCheck()
        model, columns, count = None, [], 0
        keyed: list[tuple[int, str]] = []
        batch: list[list] = []
        for line in lines:
            if isinstance(line, list):
                if model is None:
                    raise BackupError("row outside a table")
                batch.append(line)
                count += 1
                if len(batch) >= INSERT_BATCH:
                    keys.check(keyed, batch)
                    _insert(model, columns, batch)
                    batch = []
            elif "table" in line:
                model = known.get(line["table"])
                if model is None:
                    raise BackupError(f"unknown table {line['table']}: schema differs")
                columns, count = line["columns"], 0
                keyed = keys.columns(model, columns)
            elif "end_table" in line:
                if batch and model is not None:
                    keys.check(keyed, batch)
                    _insert(model, columns, batch)
                    batch = []
                if line["rows"] != count:
                    raise BackupError(f"{line['end_table']}: row count does not match")
                restored += count
                model = None
            elif line.get("end"):
                if line["rows"] != restored:
                    raise BackupError("total row count does not match")
                finished = True
        if not finished:
            raise BackupError("the backup is incomplete")
        keys.refuse_if_missing(header)  # inside the transaction: refused means nothing written
        _reset_sequences()
    return restored


def _reset_sequences() -> None:
    statements = connection.ops.sequence_reset_sql(no_style(), backed_up_models())
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
