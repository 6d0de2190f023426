"""CSV import of test results, in two passes with bounded memory.

1. `check_file` reads the upload line by line from its temporary file, validates every
   row with the web forms (PatientForm, ScreeningTestForm: the one set of rules) and
   writes, encrypted, the valid rows' cleaned values and the error report. Nothing is
   imported yet.
2. `import_batch`, when the user confirms, saves the valid rows in ONE transaction
   (nothing half-imported on a crash), by blocks of rows inserted in bulk; each test's
   outbox row and result link are written in it by the receivers of `tests_validated`
   (the bulk counterpart of `record_test`'s signal).

Column names are the forms' field names; the README documents them.
"""

import codecs
import csv
import datetime
import gc
import hashlib
import io
import json
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from relais.bulk_insert import insert_all
from relais.crypto.keyset import get_keys
from relais.imports.models import ImportBatch, ImportChunk
from relais.imports.patients import BlockLookup
from relais.screening import services
from relais.screening.forms import CheckingPatientForm, CheckingScreeningTestForm
from relais.screening.models import Patient

COLUMNS = (*services.PATIENT_FIELDS, *services.TEST_FIELDS)
BOOLEAN_COLUMNS = ("symptoms", "consent_transmission")
TRUE_WORDS = {"1", "true", "yes", "y", "oui", "o", "x"}
FALSE_WORDS = {"", "0", "false", "no", "n", "non"}
DATE_COLUMNS = ("birth_date", "symptom_onset")
DATETIME_COLUMNS = ("sampled_at",)
SEPARATORS = (";", ",")
CHUNK_BYTES = 256 * 1024
READ_BYTES = 64 * 1024
IMPORT_BLOCK = 500
# Forms are reference cycles that only the cyclic collector frees: collect every so
# many rows so peak memory does not depend on when Python decides to.
COLLECT_EVERY = 1000
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

    def as_list(self) -> list:
        return [self.line, self.column, self.value, self.reason]


# --- Reading the file ---------------------------------------------------------------------


def binary_stream(upload):
    """The upload's own file object (its temporary file on disk for large uploads)."""
    upload.seek(0)
    return getattr(upload.file, "file", upload.file)


def detect_encoding(stream) -> str:
    """UTF-8 (with or without BOM) when the whole file decodes strictly, else Latin-1."""
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
        encoding = "latin-1"
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


def check_columns(names: list[str]) -> None:
    missing = [column for column in COLUMNS if column not in names]
    extra = [name for name in names if name not in COLUMNS]
    repeated = sorted({name for name in names if names.count(name) > 1})
    problems = []
    if missing:
        problems.append(_("missing columns: %(names)s") % {"names": ", ".join(missing)})
    if extra:
        problems.append(_("unknown columns: %(names)s") % {"names": ", ".join(extra) or '""'})
    if repeated:
        problems.append(_("repeated columns: %(names)s") % {"names": ", ".join(repeated)})
    if problems:
        raise FileError(
            "columns",
            _("The header line does not match the template (%(problems)s).")
            % {"problems": "; ".join(problems)},
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


def form_inputs(cells: dict) -> tuple[dict, dict, list[tuple[str, str]]]:
    """The forms' input data from a row's cells, and the cells no form can read."""
    patient = {name: cells[name] for name in services.PATIENT_FIELDS}
    test = {name: cells[name] for name in services.TEST_FIELDS}
    unreadable = []
    for name in DATE_COLUMNS + DATETIME_COLUMNS:
        target = patient if name in patient else test
        target[name] = french_to_iso(target[name])
    for name in BOOLEAN_COLUMNS:
        value = parse_boolean(cells[name])
        if value is None:
            unreadable.append((name, _("Write yes or no (or oui / non, 1 / 0).")))
        else:
            test[name] = value
    return patient, test, unreadable


def form_errors(form, cells: dict, line: int) -> list[RowError]:
    errors = []
    for name, field_errors in form.errors.as_data().items():
        column = "" if name == "__all__" else name
        for error in field_errors:
            for message in error.messages:
                errors.append(RowError(line, column, cells.get(column, ""), message))
    return errors


def check_row(cells: dict, line: int) -> tuple[dict | None, list[RowError]]:
    """(cleaned row ready to save, []) or (None, every error of the row)."""
    patient_input, test_input, unreadable = form_inputs(cells)
    errors = [RowError(line, name, cells[name], reason) for name, reason in unreadable]
    patient_form = CheckingPatientForm(data=patient_input)
    patient_ok = patient_form.is_valid()
    errors += form_errors(patient_form, cells, line)
    candidate = Patient(**patient_form.cleaned_data) if patient_ok else None
    test_form = CheckingScreeningTestForm(
        data=test_input,
        patient=candidate,
        birth_date=patient_form.cleaned_data.get("birth_date"),
    )
    if not test_form.is_valid():
        errors += [
            e for e in form_errors(test_form, cells, line) if e.column not in dict(unreadable)
        ]
    if errors:
        return None, errors
    return {"line": line, "patient": patient_form.cleaned_data, "test": test_form.cleaned_data}, []


def row_digest(cells: dict) -> bytes:
    canonical = "\x1f".join(cells[name].strip().casefold() for name in COLUMNS)
    return hashlib.blake2b(canonical.encode(), digest_size=16).digest()


# --- Encrypted chunks ---------------------------------------------------------------------


def chunk_ad(batch_id, kind: str, position: int) -> bytes:
    return f"imports.chunk.{batch_id}.{kind}.{position}".encode()


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
            content=get_keys().aead.encrypt(plain, ad),
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
        plain = get_keys().aead.decrypt(bytes(content), chunk_ad(batch.pk, kind, position))
        for line in plain.decode().splitlines():
            yield json.loads(line)


# --- The two passes -----------------------------------------------------------------------


@transaction.atomic
def check_file(upload, pharmacy, user) -> ImportBatch:
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
        check_rows(batch, csv.reader(text, delimiter=separator), names)
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


def check_rows(batch: ImportBatch, reader, names: list[str]) -> None:
    valid = ChunkWriter(batch, ImportChunk.Kind.VALID)
    report = ChunkWriter(batch, ImportChunk.Kind.ERRORS)
    seen: dict[bytes, int] = {}
    for cells_list in reader:
        line = reader.line_num + 1  # the header is line 1
        if not any(cell.strip() for cell in cells_list):
            continue
        batch.row_count += 1
        if batch.row_count % COLLECT_EVERY == 0:
            gc.collect()
        errors = []
        if len(cells_list) != len(names):
            errors = [
                RowError(
                    line,
                    "",
                    "",
                    _("This line has %(found)d columns; the header has %(expected)d.")
                    % {"found": len(cells_list), "expected": len(names)},
                )
            ]
        else:
            cells = {name: value.strip() for name, value in zip(names, cells_list, strict=True)}
            digest = row_digest(cells)
            if digest in seen:
                errors = [
                    RowError(line, "", "", _("Same as line %(line)d.") % {"line": seen[digest]})
                ]
            else:
                seen[digest] = line
                row, errors = check_row(cells, line)
                if row is not None:
                    valid.add(row)
                    batch.valid_count += 1
        if errors:
            batch.error_count += 1
            for error in errors:
                report.add(error.as_list())
    valid.flush()
    report.flush()


def error_rows(batch: ImportBatch):
    """[line, column, value, reason] of every error, in file order."""
    return read_chunks(batch, ImportChunk.Kind.ERRORS)


def load_row(row: dict) -> tuple[dict, dict]:
    patient, test = dict(row["patient"]), dict(row["test"])
    patient["birth_date"] = datetime.date.fromisoformat(patient["birth_date"])
    test["sampled_at"] = datetime.datetime.fromisoformat(test["sampled_at"])
    if test.get("symptom_onset"):
        test["symptom_onset"] = datetime.date.fromisoformat(test["symptom_onset"])
    return patient, test


class AlreadyImported(Exception):
    pass


@transaction.atomic
def import_batch(batch_id, pharmacy, user) -> ImportBatch:
    """Saves every valid row, or nothing. Raises ImportBatch.DoesNotExist (missing,
    another pharmacy's, expired) or AlreadyImported."""
    batch = (
        ImportBatch.objects.for_pharmacy(pharmacy)
        .select_for_update()
        .get(pk=batch_id, expires_at__gt=timezone.now())
    )
    if batch.state != ImportBatch.State.CHECKED:
        raise AlreadyImported
    block = []
    for row in read_chunks(batch, ImportChunk.Kind.VALID):
        block.append(load_row(row))
        if len(block) == IMPORT_BLOCK:
            import_block(pharmacy, user, block)
            batch.imported_count += len(block)
            block = []
            gc.collect()
    import_block(pharmacy, user, block)
    batch.imported_count += len(block)
    batch.state = ImportBatch.State.IMPORTED
    batch.save()
    batch.chunks.filter(kind=ImportChunk.Kind.VALID).delete()
    return batch


def import_block(pharmacy, user, rows: list[tuple[dict, dict]]) -> None:
    """Saves rows in bulk: their patients found with one query, the new ones inserted
    with one statement, then the tests (and, through tests_validated, their outbox rows
    and links) with a few more."""
    if not rows:
        return
    lookup = BlockLookup(pharmacy, [patient for patient, _ in rows])
    new_patients, tests = [], []
    for patient_data, test_data in rows:
        patient = lookup.find(patient_data)
        if patient is None:
            patient = services.new_patient(pharmacy, user, patient_data)
            lookup.add(patient)
            new_patients.append(patient)
        tests.append((patient, test_data))
    insert_all(new_patients)
    services.record_tests(user, tests)


def purge_expired() -> int:
    """Worker job: drop expired batches and their encrypted rows."""
    deleted, _ = ImportBatch.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted
