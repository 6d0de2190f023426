"""CSV import of test results, in two passes by the worker, with bounded memory.

0. The web request (`queue_file`) only refuses a file it cannot read at all (size,
   encoding, header line), stores the upload encrypted (relais.crypto.blobs) and queues
   the batch: the site never checks a row while someone waits for a page.
1. The check (worker job `check_next`, a relais.lib.queue claim with a lease) reads the
   stored upload line by line, checks every row with the submission service
   (`screening.submissions.check`: the web form's and the API's rules, patient matching
   and conflicts included), by blocks, in a bounded pool of processes for a large file,
   and writes, encrypted, the valid rows and the error report, committing each block
   with its progress and a renewed lease. A batch whose worker died is checked again
   from the start by another. Nothing is imported yet.
2. The import (`queue_import` when the user confirms, then worker job `import_next`)
   submits the valid rows again, by blocks, in ONE transaction (nothing half-imported on
   a crash): checked once more against the database as it is now, then recorded
   (`submissions.record`: patients, tests, their outbox rows, links and audit events).
   A row no longer valid (a patient registered meanwhile with other traits) stops the
   whole import and sends the batch back to "checked", with its lines.

`check_file` and `import_batch` run both passes in the calling process (tests, scripts).

Only the file's format is this module's: separators, encodings, French dates, yes/no
cells. Column names are the forms' field names; the README documents them.
"""

import codecs
import csv
import datetime
import hashlib
import io
import json
import logging
import multiprocessing
import re
from collections import Counter, deque
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from relais.audit.events import record
from relais.crypto.blobs import decrypt_blob, encrypt_blob
from relais.imports import checking
from relais.imports.models import ImportBatch, ImportChunk
from relais.lib import queue
from relais.lib.clock import database_now
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
log = logging.getLogger(__name__)
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


def chunk_plaintext(batch_id, kind: str, chunk_id: int, position: int) -> bytes:
    content = ImportChunk.objects.values_list("content", flat=True).get(pk=chunk_id)
    return decrypt_blob(bytes(content), chunk_ad(batch_id, kind, position))


def chunk_positions(batch: ImportBatch, kind: str) -> list[tuple[int, int]]:
    positions = (
        ImportChunk.objects.filter(batch=batch, kind=kind)
        .order_by("position")
        .values_list("id", "position")
    )
    return list(positions)


def read_chunks(batch: ImportBatch, kind: str):
    """The JSON lines of one kind, decrypted one chunk at a time."""
    for chunk_id, position in chunk_positions(batch, kind):
        plain = chunk_plaintext(batch.pk, kind, chunk_id, position)
        for line in plain.decode().splitlines():
            yield json.loads(line)


class UploadReader(io.RawIOBase):
    """The stored upload's bytes, decrypted one chunk at a time; `consumed` counts the
    bytes read so far (the check's progress)."""

    def __init__(self, batch: ImportBatch):
        self.batch = batch
        self.positions = chunk_positions(batch, ImportChunk.Kind.UPLOAD)
        self.plain = b""
        self.offset = 0
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while self.offset == len(self.plain) and self.positions:
            chunk_id, position = self.positions.pop(0)
            kind = ImportChunk.Kind.UPLOAD
            self.plain, self.offset = chunk_plaintext(self.batch.pk, kind, chunk_id, position), 0
        size = min(len(target), len(self.plain) - self.offset)
        target[:size] = self.plain[self.offset : self.offset + size]
        self.offset += size
        self.consumed += size
        return size


# --- The web request's part: store the upload, queue its check --------------------------------

UPLOAD_CHUNK_BYTES = 1024 * 1024


def queue_file(upload, pharmacy, user, request=None) -> ImportBatch:
    """Stores the upload encrypted and queues its check by the worker; raises FileError
    for a file that cannot be read at all. Only what reads the file whole at the speed of
    C is done here (its size, its encoding, its header line and whether a row follows),
    so that such a file is refused on the form; no row is checked."""
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
        separator, _names = read_header(text)
        if not any(line.strip().strip(separator + '"').strip() for line in text):
            raise FileError("empty", _("The file has a header line but no rows."))
    except csv.Error:  # a header cell longer than the csv module's limit (128 KB)
        raise FileError(
            "malformed", _("The file cannot be read as CSV: a field is too long or malformed.")
        ) from None
    finally:
        text.detach()  # leave the upload's file open for Django to clean up
    with transaction.atomic():
        batch = ImportBatch.objects.create(
            pharmacy=pharmacy,
            user=user,
            encoding=encoding,
            separator=separator,
            language=translation.get_language() or settings.LANGUAGE_CODE,
            size=upload.size,
            expires_at=timezone.now() + datetime.timedelta(minutes=settings.IMPORT_BATCH_MINUTES),
        )
        stream.seek(0)
        kind = ImportChunk.Kind.UPLOAD
        for position, block in enumerate(iter(lambda: stream.read(UPLOAD_CHUNK_BYTES), b"")):
            content = encrypt_blob(block, chunk_ad(batch.pk, kind, position))
            ImportChunk.objects.create(batch=batch, kind=kind, position=position, content=content)
    return batch


def check_file(upload, pharmacy, user, request=None) -> ImportBatch:
    """Stores the upload and checks it at once, in this process (the worker's check
    without the worker: tests, scripts). Raises FileError as queue_file does."""
    batch = queue_file(upload, pharmacy, user, request)
    token = queue.claim(check_queue(), 1, database_now())  # the oldest due: this one in tests
    claimed = ImportBatch.objects.get(claim_token=token)
    if claimed.pk != batch.pk:
        raise RuntimeError("another batch was due first")
    check_batch(claimed, token)
    claimed.refresh_from_db()
    return claimed


# --- The worker's queues --------------------------------------------------------------------

# A worker renews its lease on a batch after each block it checks or imports; one that
# dies loses the batch this long after its last block, and another worker takes it again.
LEASE_SECONDS = 120
MAX_ATTEMPTS = 3
# A file of at least this many bytes is checked by several processes (when the database
# is not an in-memory one): each sets up Django and checks blocks of rows.
PARALLEL_FROM_BYTES = 512 * 1024
PROCESSES = 2
# Blocks handed out to the processes ahead of the one being written (bounds memory).
BLOCKS_AHEAD = 2
# A block not checked in this time fails the job (a process that cannot start, say).
BLOCK_SECONDS = 600

State = ImportBatch.State


def batch_queue(waiting: str, claimed: str) -> queue.Queue:
    return queue.Queue(
        model=ImportBatch,
        waiting=waiting,
        claimed=claimed,
        dead=State.FAILED,
        max_attempts=MAX_ATTEMPTS,
        lease=datetime.timedelta(seconds=LEASE_SECONDS),
        backoff_base_seconds=5,
        backoff_max_seconds=60,
    )


def check_queue() -> queue.Queue:
    return batch_queue(State.QUEUED, State.CHECKING)


def import_queue() -> queue.Queue:
    return batch_queue(State.IMPORT_QUEUED, State.IMPORTING)


class LeaseLost(Exception):
    """Another worker took the batch (this one's lease had passed): it stops there."""


def hold(batch: ImportBatch, token, claimed: str, **values) -> None:
    """Renews the lease and writes `values`, if the batch is still this claim's (in the
    `claimed` state); else LeaseLost (the caller's transaction is then rolled back)."""
    lease_end = database_now() + datetime.timedelta(seconds=LEASE_SECONDS)
    held = ImportBatch.objects.filter(pk=batch.pk, claim_token=token, state=claimed)
    if not held.update(**{"claimed_until": lease_end, **values}):
        raise LeaseLost


def run_job(job_queue: queue.Queue, work) -> int:
    """Claims one due batch and does `work(batch, token)` in the uploader's language; a
    failure gives the batch back for a later attempt (or to the dead after the last)."""
    token = queue.claim(job_queue, 1, database_now())
    if token is None:
        return 0
    batch = ImportBatch.objects.select_related("pharmacy", "user").get(claim_token=token)
    try:
        with translation.override(batch.language or settings.LANGUAGE_CODE):
            work(batch, token)
    except LeaseLost:
        log.warning("import batch %s: taken by another worker (lease passed)", batch.pk)
    except Exception:
        queue.fail(job_queue, batch, database_now(), ImportBatch.Error.FAILED)
        fields = ["state", "claimed_until", "claim_token", "next_attempt_at", "last_error"]
        queue.record(job_queue, token, [batch], fields)
        raise
    return 1


def check_next() -> int:
    """Worker job: checks the next queued file (one file a round)."""
    return run_job(check_queue(), check_batch)


def import_next() -> int:
    """Worker job: imports the next confirmed file (one file a round)."""
    return run_job(import_queue(), import_claimed)


# --- The check ------------------------------------------------------------------------------


@dataclass
class Outcome:
    """A row's check: its errors, or none; for a valid row of a stored patient, what a
    later block's test of the same patient is compared with (patient id, kind, sample
    time, the row's cleaned test data)."""

    errors: list[RowError]
    test: tuple | None = None


def check_batch(batch: ImportBatch, token) -> None:
    """Checks every row of a claimed batch's upload and writes, encrypted, its valid rows
    and error report, block by block, each block's writes committed with the lease
    renewed and the progress. Taken again after a crash, a check starts over."""
    with transaction.atomic():
        hold(batch, token, State.CHECKING, progress=0, row_count=0, valid_count=0, error_count=0)
        batch.chunks.exclude(kind=ImportChunk.Kind.UPLOAD).delete()
    batch.row_count = batch.valid_count = batch.error_count = 0
    source = UploadReader(batch)
    text = io.TextIOWrapper(io.BufferedReader(source), encoding=batch.encoding, newline="")
    valid = ChunkWriter(batch, ImportChunk.Kind.VALID)
    report = ChunkWriter(batch, ImportChunk.Kind.ERRORS)
    # The tests of the rows accepted so far, across blocks (each block, checked on its
    # own, compares its rows with the stored tests and with each other).
    accepted = submissions.TestsNearby(lock=False)
    reader = None
    try:
        _separator, names = read_header(text)
        reader = csv.reader(text, delimiter=batch.separator)
        with block_checker(batch) as checker:
            for block, outcomes in checker(read_blocks(reader, names)):
                with transaction.atomic():
                    write_block(batch, block, outcomes, accepted, valid, report)
                    hold(batch, token, State.CHECKING, progress=source.consumed,
                         **counts(batch))  # fmt: skip
    except csv.Error:  # e.g. a field longer than the csv module's limit (128 KB)
        line = reader.line_num + 1 if reader is not None else 1
        message = _("The file cannot be read as CSV from this line: a field is too long or "
                    "malformed. Nothing of the file can be imported.")  # fmt: skip
        with transaction.atomic():
            hold(batch, token, State.CHECKING)
            batch.chunks.filter(kind=ImportChunk.Kind.VALID).delete()
            valid.lines, batch.valid_count = [], 0
            report.add(file_error(line, message, "malformed").as_list())
            batch.error_count += 1
    with transaction.atomic():
        valid.flush()
        report.flush()
        hold(batch, token, State.CHECKING, progress=batch.size, **counts(batch))
        batch.chunks.filter(kind=ImportChunk.Kind.UPLOAD).delete()
        queue.succeed(batch, State.CHECKED)
        batch.progress = batch.size
        batch.save()
        details = counts(batch)
        record("import.check", actor=batch.user, pharmacy=batch.pharmacy, target=batch,
               details={"rows": details["row_count"], "valid": details["valid_count"],
                        "errors": details["error_count"]})  # fmt: skip


def counts(batch: ImportBatch) -> dict[str, int]:
    return {
        "row_count": batch.row_count,
        "valid_count": batch.valid_count,
        "error_count": batch.error_count,
    }


def file_error(line: int, message: str, code: str) -> RowError:
    return RowError(line, "", "", message, code)


Block = list[tuple[int, dict, list[RowError]]]


def read_blocks(reader, names: list[str]):
    """Blocks of (line, cells, errors found before the row's submission is checked), in
    file order: what needs no database (the row's shape, the example row, a row repeated
    in the file) is found here, in order."""
    seen: dict[bytes, int] = {}
    block: Block = []
    for cells_list in reader:
        line = reader.line_num + 1  # the header is line 1
        if not any(cell.strip() for cell in cells_list):
            continue
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
            yield block
            block = []
    if block:
        yield block


def check_block(caller: submissions.Caller, block: Block) -> list[Outcome]:
    """Checks a block of rows with one patient look-up and one look-up of their recent
    tests (submissions.check: the web form's and the API's rules). Rows of one new person
    in two blocks are matched only when imported: a contradiction between them, or the
    same test twice, then stops the import, with its lines."""
    to_check = [(line, cells) for line, cells, errors in block if not errors]
    subs = [submission_of(cells) for _, cells in to_check]
    checked = submissions.check(caller, subs, submissions.TestsNearby(lock=False))
    results = {line: item for (line, _), item in zip(to_check, checked, strict=True)}
    outcomes = []
    for line, cells, errors in block:
        item = results.get(line)
        if item is None:
            outcomes.append(Outcome(errors))
        elif not item.ok:
            outcomes.append(Outcome(row_errors(item, cells, line)))
        else:
            outcomes.append(Outcome([], accepted_test(item)))
    return outcomes


def accepted_test(item: submissions.Checked) -> tuple | None:
    """What later blocks compare their tests with: a stored patient's test only (a new
    patient of one block is not the same record as in the next: see check_block)."""
    if item.patient is None or item.patient_created:
        return None
    data = item.test_form.cleaned_data
    kind, sampled_at = data.get("kind"), data.get("sampled_at")
    if not kind or not sampled_at:
        return None
    return (item.patient.pk, kind, sampled_at, {"new_sample": bool(data.get("new_sample"))})


def write_block(batch, block: Block, outcomes: list[Outcome], accepted, valid, report) -> None:
    for (line, cells, _errors), outcome in zip(block, outcomes, strict=True):
        batch.row_count += 1
        errors = outcome.errors
        if not errors and outcome.test is not None:
            patient_id, kind, sampled_at, data = outcome.test
            _earlier, asked = submissions.duplicate_test(
                accepted, patient_id, kind, sampled_at, data
            )
            if asked is not None:
                errors = [RowError(line, asked.field, cells.get(asked.field, ""),
                                   asked.message, asked.code)]  # fmt: skip
            else:
                accepted.add(patient_id, kind, sampled_at)
        if errors:
            batch.error_count += 1
            for error in errors:
                report.add(error.as_list())
        else:
            valid.add({"line": line, "cells": cells})
            batch.valid_count += 1


@contextmanager
def block_checker(batch: ImportBatch):
    """A function from blocks to (block, outcomes), in order: checked here for a small
    file, by a bounded pool of processes for a large one."""
    caller = import_caller(batch, None)
    if batch.size < PARALLEL_FROM_BYTES or PROCESSES < 2 or connection_in_memory():
        yield lambda blocks: ((block, check_block(caller, block)) for block in blocks)
        return
    context = multiprocessing.get_context("spawn")
    database = connection.settings_dict["NAME"]
    with context.Pool(PROCESSES, initializer=checking.setup, initargs=(database,)) as pool:
        key = (batch.pharmacy_id, batch.user_id, batch.pk, translation.get_language())

        def run(blocks):
            pending: deque = deque()
            for block in blocks:
                pending.append((block, pool.apply_async(checking.check_block, (key, block))))
                if len(pending) > PROCESSES * BLOCKS_AHEAD:
                    done, result = pending.popleft()
                    yield done, result.get(BLOCK_SECONDS)
            while pending:
                done, result = pending.popleft()
                yield done, result.get(BLOCK_SECONDS)

        yield run


def connection_in_memory() -> bool:
    return connection.vendor == "sqlite" and connection.is_in_memory_db()  # type: ignore[attr-defined]


_child_callers: dict[tuple, submissions.Caller] = {}


def check_block_in_child(key: tuple, block: Block) -> list[Outcome]:
    """A checking process's block (relais.imports.checking): the batch's caller read once."""
    pharmacy_id, user_id, batch_id, language = key
    caller = _child_callers.get(key)
    if caller is None:
        batch = ImportBatch.objects.select_related("pharmacy", "user").get(
            pk=batch_id, pharmacy_id=pharmacy_id, user_id=user_id
        )
        _child_callers.clear()
        caller = _child_callers[key] = import_caller(batch, None)
    with translation.override(language):
        return check_block(caller, block)


def valid_rows(batch: ImportBatch):
    """{"line", "cells"} of every valid row (those an import records), in file order."""
    return read_chunks(batch, ImportChunk.Kind.VALID)


def error_rows(batch: ImportBatch):
    """[line, column, value, reason] of every error, in file order."""
    return read_chunks(batch, ImportChunk.Kind.ERRORS)


# --- The import -----------------------------------------------------------------------------


class AlreadyImported(Exception):
    pass


class RowsChanged(Exception):
    """Rows valid when the file was checked are not any more (the database changed)."""

    def __init__(self, errors: list[RowError]):
        super().__init__(f"{len(errors)} row error(s)")
        self.errors = errors


def locked_checked_batch(batch_id, pharmacy) -> ImportBatch:
    """The pharmacy's live batch, locked, checked and not yet imported nor queued:
    ImportBatch.DoesNotExist (missing, another pharmacy's, expired) or AlreadyImported."""
    batch = (
        ImportBatch.objects.for_pharmacy(pharmacy)
        .select_for_update()
        .get(pk=batch_id, expires_at__gt=timezone.now())
    )
    if batch.state != State.CHECKED:
        raise AlreadyImported
    return batch


@transaction.atomic
def queue_import(batch_id, pharmacy) -> ImportBatch:
    """The user's confirmation: the checked batch is queued for its import by the
    worker. Raises ImportBatch.DoesNotExist (missing, another pharmacy's, expired) or
    AlreadyImported (queued or imported already)."""
    batch = locked_checked_batch(batch_id, pharmacy)
    now = timezone.now()
    batch.state, batch.attempts, batch.next_attempt_at = State.IMPORT_QUEUED, 0, now
    batch.last_error, batch.changed_lines, batch.progress = "", [], 0
    # The import must not expire while it waits for a worker.
    batch.expires_at = now + datetime.timedelta(minutes=settings.IMPORT_BATCH_MINUTES)
    batch.save()
    return batch


@transaction.atomic
def import_batch(batch_id, pharmacy, user, request=None) -> ImportBatch:
    """Saves every valid row, or nothing, in this process (the worker's import without
    the worker: tests, scripts). Raises ImportBatch.DoesNotExist (missing, another
    pharmacy's, expired), AlreadyImported or RowsChanged."""
    batch = locked_checked_batch(batch_id, pharmacy)
    batch.imported_count = import_rows(batch, import_caller(batch, request))
    batch.state = State.IMPORTED
    batch.progress = batch.imported_count
    batch.save()
    batch.chunks.filter(kind=ImportChunk.Kind.VALID).delete()
    return batch


def import_claimed(batch: ImportBatch, token) -> None:
    """The worker's import of a claimed batch: every valid row or nothing, in one
    transaction; rows no longer valid send the batch back to "checked" with their lines.
    Progress (and the lease) is written by a second connection, outside the import's
    transaction, when there is one to be outside of (the worker; not a test's)."""
    try:
        with Heartbeat(batch, token) as heartbeat, transaction.atomic():
            imported = import_rows(batch, import_caller(batch, None), heartbeat.beat)
            heartbeat.stop()
            hold(batch, token, State.IMPORTING, state=State.IMPORTED, imported_count=imported,
                 progress=imported, claimed_until=None, claim_token=None,
                 last_error="")  # fmt: skip
            batch.chunks.filter(kind=ImportChunk.Kind.VALID).delete()
            batch.imported_count = imported
            record("import.confirm", actor=batch.user, pharmacy=batch.pharmacy, target=batch,
                   details={"tests": imported})  # fmt: skip
    except RowsChanged as changed:
        lines = sorted({error.line for error in changed.errors})
        with transaction.atomic():
            hold(batch, token, State.IMPORTING, state=State.CHECKED, claimed_until=None,
                 claim_token=None, last_error=ImportBatch.Error.ROWS_CHANGED,
                 changed_lines=lines[:100])  # fmt: skip
            record("import.refuse", actor=batch.user, pharmacy=batch.pharmacy, target=batch,
                   details={"reason": "changed"})  # fmt: skip


class Heartbeat:
    """Writes a batch's progress and renews its lease through a connection of its own
    (autocommit), while the import's transaction is open on the main one; raises
    LeaseLost when another worker took the batch. PostgreSQL only (SQLite has one
    writer: the import's transaction), and only outside a transaction."""

    def __init__(self, batch: ImportBatch, token):
        self.batch, self.token = batch, token
        self.side: BaseDatabaseWrapper | None = None
        self.done = 0

    def __enter__(self):
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            self.side = connections.create_connection(DEFAULT_DB_ALIAS)
        return self

    def beat(self, imported: int) -> None:
        self.done = imported
        if self.side is None:
            return
        table = connection.ops.quote_name(ImportBatch._meta.db_table)
        with self.side.cursor() as cursor:
            # The lease goes by the database's clock, as every claim's (relais.lib.queue).
            cursor.execute(
                f"UPDATE {table} SET progress = %s, "  # noqa: S608
                "claimed_until = statement_timestamp() + %s * interval '1 second' "
                "WHERE id = %s AND claim_token = %s AND state = %s",
                [imported, LEASE_SECONDS, self.batch.pk, self.token, State.IMPORTING],
            )
            if cursor.rowcount != 1:
                raise LeaseLost

    def stop(self) -> None:
        if self.side is not None:
            self.side.close()
            self.side = None

    def __exit__(self, *exc):
        self.stop()


def import_rows(batch: ImportBatch, caller: submissions.Caller, progress=None) -> int:
    """Records every valid row of the batch, by blocks (in the caller's transaction);
    returns how many. `progress(imported)` is called after each block."""
    imported = 0
    block: list[dict] = []
    for row in read_chunks(batch, ImportChunk.Kind.VALID):
        block.append(row)
        if len(block) == IMPORT_BLOCK:
            imported += import_block(caller, block)
            block = []
            if progress is not None:
                progress(imported)
    imported += import_block(caller, block)
    return imported


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
    return submissions.found_on_retry(check_and_record)


def purge_expired() -> int:
    """Worker job: drop expired batches and their encrypted rows (never one a worker
    holds: its lease has not passed)."""
    now = timezone.now()
    held = Q(state__in=(State.CHECKING, State.IMPORTING), claimed_until__gt=now)
    deleted, _ = ImportBatch.objects.filter(expires_at__lt=now).exclude(held).delete()
    return deleted
