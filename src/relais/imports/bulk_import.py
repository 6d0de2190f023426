"""CSV import of test results, in two passes with bounded memory.

1. `check_file` reads the upload line by line from memory (relais.lib.uploads: never a
   temporary file), checks every row
   with the submission service (`screening.submissions.check`: the web form's and the
   API's rules, patient matching and conflicts included), by blocks, and writes,
   encrypted, the valid rows and the error report. Nothing is imported yet.
2. `import_batch`, when the user confirms, submits the valid rows again, by blocks, in ONE
   transaction (nothing half-imported on a crash): checked once more against the
   database as it is now, then recorded (`submissions.record`: patients, tests, their
   outbox rows, links and audit events). A row no longer valid (a patient registered
   meanwhile with other traits) stops the whole import.

Only the file's format is this module's: separators, encodings, French dates, yes/no
cells. Column names are the forms' field names; the README documents them.
"""

import codecs
import csv
import datetime
import gc
import hashlib
import io
import json
import re
from collections import Counter
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from relais.crypto.blobs import decrypt_blob, encrypt_blob
from relais.imports.models import ImportBatch, ImportChunk
from relais.phone import normalise_phone
from relais.screening import services, submissions
from relais.screening.forms import OTHER_RESULT_FIELDS
from relais.screening.validation import normalise_name

# The test's columns every file has; those added later (the device catalogue, lots, the
# other results of a multiplex kit) may be left out, so that older files still import.
TEST_COLUMNS = (
    "kind", "device", "specimen", "sampled_at", "result", "symptoms", "symptom_onset",
    "consent_transmission", "notify_by",
)  # fmt: skip
# The identity status (added later) may be left out: the identity is then provisional.
PATIENT_COLUMNS = tuple(name for name in services.PATIENT_FIELDS if name != "identity_status")
OPTIONAL_COLUMNS = (
    "device_code", "lot", "lot_expiry", *OTHER_RESULT_FIELDS, "new_sample", "identity_status",
)  # fmt: skip
REQUIRED_COLUMNS = (*PATIENT_COLUMNS, *TEST_COLUMNS)
COLUMNS = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
BOOLEAN_COLUMNS = ("symptoms", "consent_transmission", "new_sample")
TRUE_WORDS = {"1", "true", "yes", "y", "oui", "o", "x"}
FALSE_WORDS = {"", "0", "false", "no", "n", "non"}
DATE_COLUMNS = ("birth_date", "symptom_onset", "lot_expiry")
DATETIME_COLUMNS = ("sampled_at",)
SEPARATORS = (";", ",")
CHUNK_BYTES = 256 * 1024
READ_BYTES = 64 * 1024
IMPORT_BLOCK = 500
# French spreadsheets write dates as 14/03/1985 and times as 14/03/1985 09:30.
FRENCH_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


class FileError(Exception):
    """The file as a whole cannot be read (empty, separator, columns, size)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class RowError:
    line: int
    column: str
    value: str
    reason: str
    code: str

    def as_list(self) -> list:
        return [self.line, self.column, self.value, self.reason, self.code]


# --- Reading the file ---------------------------------------------------------------------


def binary_stream(upload):
    """The upload's own file object (in memory: relais.lib.uploads)."""
    upload.seek(0)
    return getattr(upload.file, "file", upload.file)


# Bytes Windows-1252 leaves undefined: a file holding one is in no encoding a French
# spreadsheet writes.
CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")


def detect_encoding(stream) -> str:
    """UTF-8 (with or without BOM) when the whole file decodes strictly, else
    Windows-1252: what Excel's "CSV (point-virgule)" writes in France (’ œ € … where
    Latin-1 has control characters). A file neither can read is a FileError."""
    stream.seek(0)
    if stream.read(3) == codecs.BOM_UTF8:
        encoding = "utf-8-sig"
    else:
        encoding = "utf-8"
    stream.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        for block in iter(lambda: stream.read(READ_BYTES), b""):
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        encoding = "cp1252"
        stream.seek(0)
        for block in iter(lambda: stream.read(READ_BYTES), b""):
            if not CP1252_UNDEFINED.isdisjoint(block):
                stream.seek(0)
                raise FileError(
                    "encoding",
                    _(
                        "The file's encoding cannot be read: save it as CSV UTF-8, or as "
                        "the spreadsheet's CSV (semicolon separated)."
                    ),
                ) from None
    stream.seek(0)
    return encoding


def read_header(text) -> tuple[str, list[str]]:
    """(separator, column names) from the first line, or a FileError saying what is wrong."""
    first = text.readline()
    if not first.strip():
        raise FileError("empty", _("The file is empty: it needs a header line and rows."))
    counts = {separator: first.count(separator) for separator in SEPARATORS}
    separator = max(counts, key=counts.__getitem__)
    if counts[separator] == 0:
        found = _(" (this one seems to use tabs)") if "\t" in first else ""
        raise FileError(
            "separator",
            _("Columns must be separated by semicolons (;) or commas (,)%(found)s.")
            % {"found": found},
        )
    names = [name.strip().lower() for name in next(csv.reader([first], delimiter=separator))]
    check_columns(names)
    return separator, names


# The most unknown or repeated column names an error message quotes.
NAMES_QUOTED = 10


def quoted(names: list[str]) -> str:
    shown = ", ".join(name[:40] for name in names[:NAMES_QUOTED]) or '""'
    return shown + (" …" if len(names) > NAMES_QUOTED else "")


def check_columns(names: list[str]) -> None:
    # Linear in the header's length: a hostile header line of 100,000 names costs
    # milliseconds (a count per name made it quadratic: seconds of CPU per upload).
    present, known = set(names), set(COLUMNS)
    missing = [column for column in REQUIRED_COLUMNS if column not in present]
    extra = list(dict.fromkeys(name for name in names if name not in known))
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    problems = []
    if missing:
        problems.append(_("missing columns: %(names)s") % {"names": ", ".join(missing)})
    if extra:
        problems.append(_("unknown columns: %(names)s") % {"names": quoted(extra)})
    if repeated:
        problems.append(_("repeated columns: %(names)s") % {"names": quoted(repeated)})
    if problems:
        raise FileError(
            "columns",
            _("The header line does not match the template (%(problems)s).")
            % {"problems": "; ".join(problems)},
        )


# --- The template's example row --------------------------------------------------------------

# The example row of the template (imports/template.csv): a fictitious patient whose row
# passes every check, so that it shows what a valid row looks like. It must never be
# imported as a real result, even edited a little (a sample time brought up to date, a cell
# reformatted by a spreadsheet): a row sharing two or more of its identity traits is it.
EXAMPLE_ROW = {
    "birth_name": "Exemple",
    "used_name": "",
    "given_names": "Camille",
    "birth_date": "14/03/1985",
    "sex": "F",
    "birthplace_code": "75056",
    "nir": "285037505699903",
    "address": "1 rue de l'Exemple",
    "postal_code": "75011",
    "city": "Paris",
    "phone": "06 99 99 99 99",
    "email": "camille.exemple@example.org",
    "kind": "sars_cov_2_antigen",
    "device": "Exemple AG Rapid",
    "specimen": "nasal_swab",
    "result": "negative",
    "symptoms": "non",
    "symptom_onset": "",
    "consent_transmission": "oui",
    "notify_by": "sms",
}
EXAMPLE_TRAITS_NEEDED = 2


def _digits(value: str) -> str:
    return "".join(char for char in value if char.isdigit())


def _phone(value: str) -> str:
    try:
        return normalise_phone(value) if value.strip() else ""
    except ValidationError:
        return value.strip()


def _example_traits(cells: dict) -> tuple:
    """The traits a row is recognised by, each in a form spreadsheets and typing do not
    change (digits only, case and accents ignored, E.164)."""
    return (
        _digits(cells.get("nir", "")) or None,
        _phone(cells.get("phone", "")) or None,
        cells.get("email", "").strip().casefold() or None,
        normalise_name(cells.get("birth_name", "") + " " + cells.get("given_names", "")) or None,
        normalise_name(cells.get("address", "")) or None,
    )


EXAMPLE_TRAITS = _example_traits(EXAMPLE_ROW)


def is_example_row(cells: dict) -> bool:
    """Whether a row is the template's example row (see EXAMPLE_ROW)."""
    shared = sum(
        1
        for theirs, example in zip(_example_traits(cells), EXAMPLE_TRAITS, strict=True)
        if theirs is not None and theirs == example
    )
    return shared >= EXAMPLE_TRAITS_NEEDED


def example_row_error(line: int) -> "RowError":
    return file_error(
        line,
        _(
            "This is the template's example row (a fictitious patient): delete it from "
            "the file, nothing of it may be sent to SI-DEP."
        ),
        "example_row",
    )


# --- Checking one row ---------------------------------------------------------------------


def french_to_iso(value: str) -> str:
    match = FRENCH_DATE.match(value)
    if not match:
        return value
    day, month, year, hour, minute, second = match.groups()
    text = f"{year}-{int(month):02d}-{int(day):02d}"
    if hour is not None:
        text += f"T{int(hour):02d}:{minute}:{second or '00'}"
    return text


def parse_boolean(value: str) -> bool | None:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def submission_of(cells: dict) -> submissions.Submission:
    """The submission a row's cells make: the forms' inputs, with the cells no form can
    read (a yes/no cell saying neither) as errors of their own."""
    patient = {name: cells.get(name, "") for name in services.PATIENT_FIELDS}
    test = {
        name: cells.get(name, "")
        for name in (*TEST_COLUMNS, *OPTIONAL_COLUMNS)
        if name != "identity_status"
    }
    unreadable = []
    for name in DATE_COLUMNS + DATETIME_COLUMNS:
        target = patient if name in patient else test
        target[name] = french_to_iso(target[name])
    for name in BOOLEAN_COLUMNS:
        value = parse_boolean(cells.get(name, ""))
        test[name] = bool(value)
        if value is None:
            message = _("Write yes or no (or oui / non, 1 / 0).")
            unreadable.append(submissions.FieldError("test", name, "yes_no", message))
    return submissions.Submission(test=test, patient=patient, errors=unreadable)


def row_errors(checked: submissions.Checked, cells: dict, line: int) -> list[RowError]:
    return [
        RowError(line, error.field, cells.get(error.field, ""), error.message, error.code)
        for error in checked.errors
    ]


def row_digest(cells: dict) -> bytes:
    canonical = "\x1f".join(cells.get(name, "").strip().casefold() for name in COLUMNS)
    return hashlib.blake2b(canonical.encode(), digest_size=16).digest()


# --- Encrypted chunks ---------------------------------------------------------------------


def chunk_ad(batch_id, kind: str, position: int) -> bytes:
    return f"imports.chunk.{batch_id}.{kind}.{position}".encode()


def chunk_row_ad(chunk) -> bytes:
    """The associated data of a stored ImportChunk (what key rotation re-encrypts with)."""
    return chunk_ad(chunk.batch_id, chunk.kind, chunk.position)


class ChunkWriter:
    """Appends JSON lines; every CHUNK_BYTES they are encrypted into one ImportChunk."""

    def __init__(self, batch: ImportBatch, kind: str):
        self.batch, self.kind = batch, kind
        self.lines: list[str] = []
        self.size = 0
        self.position = 0

    def add(self, item) -> None:
        line = json.dumps(item, default=str, ensure_ascii=False)
        self.lines.append(line)
        self.size += len(line) + 1
        if self.size >= CHUNK_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.lines:
            return
        plain = ("\n".join(self.lines) + "\n").encode()
        ad = chunk_ad(self.batch.pk, self.kind, self.position)
        ImportChunk.objects.create(
            batch=self.batch,
            kind=self.kind,
            position=self.position,
            content=encrypt_blob(plain, ad),
        )
        self.position += 1
        self.lines, self.size = [], 0


def read_chunks(batch: ImportBatch, kind: str):
    """The JSON lines of one kind, decrypted one chunk at a time."""
    positions = (
        ImportChunk.objects.filter(batch=batch, kind=kind)
        .order_by("position")
        .values_list("id", "position")
    )
    for chunk_id, position in list(positions):
        content = ImportChunk.objects.values_list("content", flat=True).get(pk=chunk_id)
        plain = decrypt_blob(bytes(content), chunk_ad(batch.pk, kind, position))
        for line in plain.decode().splitlines():
            yield json.loads(line)


# --- The two passes -----------------------------------------------------------------------


@transaction.atomic
def check_file(upload, pharmacy, user, request=None) -> ImportBatch:
    """Validates every row of the upload; raises FileError for a file it cannot read."""
    if upload.size > settings.IMPORT_MAX_BYTES:
        raise FileError(
            "size",
            _("The file is larger than %(size)d MB: split it.")
            % {"size": settings.IMPORT_MAX_BYTES // 1_000_000},
        )
    stream = binary_stream(upload)
    encoding = detect_encoding(stream)
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    try:
        separator, names = read_header(text)
        batch = ImportBatch.objects.create(
            pharmacy=pharmacy,
            user=user,
            encoding=encoding,
            separator=separator,
            expires_at=timezone.now() + datetime.timedelta(minutes=settings.IMPORT_BATCH_MINUTES),
        )
        caller = import_caller(batch, request)
        check_rows(batch, caller, csv.reader(text, delimiter=separator), names)
    except csv.Error:  # e.g. a field longer than the csv module's limit (128 KB)
        raise FileError(
            "malformed", _("The file cannot be read as CSV: a field is too long or malformed.")
        ) from None
    finally:
        text.detach()  # leave the upload's file open for Django to clean up
    if batch.row_count == 0:
        raise FileError("empty", _("The file has a header line but no rows."))
    batch.save()
    return batch


def file_error(line: int, message: str, code: str) -> RowError:
    return RowError(line, "", "", message, code)


def check_rows(batch: ImportBatch, caller: submissions.Caller, reader, names: list[str]) -> None:
    valid = ChunkWriter(batch, ImportChunk.Kind.VALID)
    report = ChunkWriter(batch, ImportChunk.Kind.ERRORS)
    seen: dict[bytes, int] = {}
    # The tests of the rows accepted so far: a row repeating an earlier block's test is
    # caught too (each block still reads the database's with one query). Nothing is
    # recorded yet: no need to lock the patients (the import checks again, locking).
    nearby = submissions.TestsNearby(lock=False)
    # (line, cells, errors found before the row's submission is checked), in file order.
    block: list[tuple[int, dict, list[RowError]]] = []
    for cells_list in reader:
        line = reader.line_num + 1  # the header is line 1
        if not any(cell.strip() for cell in cells_list):
            continue
        batch.row_count += 1
        if len(cells_list) != len(names):
            message = _("This line has %(found)d columns; the header has %(expected)d.") % {
                "found": len(cells_list),
                "expected": len(names),
            }
            block.append((line, {}, [file_error(line, message, "columns")]))
        else:
            cells = {name: value.strip() for name, value in zip(names, cells_list, strict=True)}
            digest = row_digest(cells)
            if is_example_row(cells):
                block.append((line, cells, [example_row_error(line)]))
            elif digest in seen:
                message = _("Same as line %(line)d.") % {"line": seen[digest]}
                block.append((line, cells, [file_error(line, message, "repeated_row")]))
            else:
                seen[digest] = line
                block.append((line, cells, []))
        if len(block) == IMPORT_BLOCK:
            check_block(batch, caller, block, valid, report, nearby)
            block = []
    check_block(batch, caller, block, valid, report, nearby)
    valid.flush()
    report.flush()


def check_block(
    batch, caller, block, valid: "ChunkWriter", report: "ChunkWriter", nearby=None
) -> None:
    """Check a block of rows with one patient look-up and one look-up of their recent
    tests. (Rows of one new person in two blocks are matched only when imported: a
    contradiction between them, or the same test twice, then stops the import, with its
    lines.)"""
    to_check = [(line, cells) for line, cells, errors in block if not errors]
    subs = [submission_of(cells) for _, cells in to_check]
    checked = submissions.check(caller, subs, nearby)
    results = {line: item for (line, _), item in zip(to_check, checked, strict=True)}
    for line, cells, errors in block:
        item = results.get(line)
        if item is not None:
            if item.ok:
                valid.add({"line": line, "cells": cells})
                batch.valid_count += 1
                continue
            errors = row_errors(item, cells, line)
        batch.error_count += 1
        for error in errors:
            report.add(error.as_list())
    gc.collect()  # forms are reference cycles: free each block's at once


def valid_rows(batch: ImportBatch):
    """{"line", "cells"} of every valid row (those an import records), in file order."""
    return read_chunks(batch, ImportChunk.Kind.VALID)


def error_rows(batch: ImportBatch):
    """[line, column, value, reason] of every error, in file order."""
    return read_chunks(batch, ImportChunk.Kind.ERRORS)


class AlreadyImported(Exception):
    pass


class RowsChanged(Exception):
    """Rows valid when the file was checked are not any more (the database changed)."""

    def __init__(self, errors: list[RowError]):
        super().__init__(f"{len(errors)} row error(s)")
        self.errors = errors


@transaction.atomic
def import_batch(batch_id, pharmacy, user, request=None) -> ImportBatch:
    """Saves every valid row, or nothing. Raises ImportBatch.DoesNotExist (missing,
    another pharmacy's, expired), AlreadyImported or RowsChanged."""
    batch = (
        ImportBatch.objects.for_pharmacy(pharmacy)
        .select_for_update()
        .get(pk=batch_id, expires_at__gt=timezone.now())
    )
    if batch.state != ImportBatch.State.CHECKED:
        raise AlreadyImported
    caller = import_caller(batch, request)
    block: list[dict] = []
    for row in read_chunks(batch, ImportChunk.Kind.VALID):
        block.append(row)
        if len(block) == IMPORT_BLOCK:
            batch.imported_count += import_block(caller, block)
            block = []
    batch.imported_count += import_block(caller, block)
    batch.state = ImportBatch.State.IMPORTED
    batch.save()
    batch.chunks.filter(kind=ImportChunk.Kind.VALID).delete()
    return batch


def import_caller(batch: ImportBatch, request) -> submissions.Caller:
    return submissions.Caller(
        pharmacy=batch.pharmacy,
        user=batch.user,
        request=request,
        details={"via": "import", "batch": str(batch.pk)},
    )


def import_block(caller: submissions.Caller, rows: list[dict]) -> int:
    """Checks the rows again and records them (the block's patients found with one
    query, earlier blocks' new patients included, then a few bulk inserts); returns how
    many were recorded."""
    if not rows:
        return 0

    def check_and_record() -> int:
        with transaction.atomic():
            checked = submissions.check(caller, [submission_of(row["cells"]) for row in rows])
            errors = [
                error
                for row, item in zip(rows, checked, strict=True)
                for error in row_errors(item, row["cells"], row["line"])
            ]
            if errors:
                raise RowsChanged(errors)
            submissions.record(caller, checked)
        return len(checked)

    # A new patient of the file registered meanwhile by the web or the API is found then.
    recorded = submissions.found_on_retry(check_and_record)
    gc.collect()
    return recorded


def purge_expired() -> int:
    """Worker job: drop expired batches and their encrypted rows."""
    deleted, _ = ImportBatch.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted
