"""Streaming importers for the public RPPS and FINESS extracts.

Each import reads its file line by line and writes in batches (constant memory), upserts
on natural keys, and finally deletes the rows the file no longer contains, all in one
transaction: a failed import leaves the previous directory untouched. A malformed line is
reported (line, column, reason) and skipped; the rest is imported.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from relais.directory.models import Activity, DirectoryImport, Establishment, Professional

BATCH_SIZE = 5000
ROWS_PER_STATEMENT = 500  # x 13 columns at most: under SQLite's 32,766 parameters
MAX_KEPT_ERRORS = 1000  # beyond this, errors are counted, not kept (constant memory)

RPPS_TYPE_RPPS = "8"
RPPS_COLUMNS = {
    "type": "Type d'identifiant PP",
    "rpps": "Identifiant PP",
    "last_name": "Nom d'exercice",
    "first_name": "Prénom d'exercice",
    "profession_code": "Code profession",
    "profession_label": "Libellé profession",
    "exercise_mode_code": "Code mode exercice",
    "exercise_mode_label": "Libellé mode exercice",
    "siret_site": "Numéro SIRET site",
    "finess_site": "Numéro FINESS site",
    "finess_legal_entity": "Numéro FINESS établissement juridique",
    "structure_id": "Identifiant technique de la structure",
    "site_name": "Raison sociale site",
    # The last columns of the extract since the ANS added them (TRE_R21-Fonction).
    "role_code": "Code rôle",
    "role_label": "Libellé rôle",
}

# Positions in a `structureet` line of the FINESS extract (etalab layout).
FINESS_FIELDS = {
    "finess": 1,
    "legal_entity_finess": 2,
    "name": 3,
    "long_name": 4,
    "street_number": 7,
    "street_type": 8,
    "street": 9,
    "postal_line": 15,
    "category_code": 18,
    "category_label": 19,
    "siret": 22,
}
FINESS_MIN_FIELDS = 31

RPPS_RE = re.compile(r"^\d{11}$")
FINESS_RE = re.compile(r"^\d[0-9AB]\d{7}$")
SIRET_RE = re.compile(r"^\d{14}$")
CODE_RE = re.compile(r"^\d{1,4}$")
ROLE_RE = re.compile(r"^[A-Z]{3}-[0-9A-Z]{2,3}$")  # FON-03, FON-AU
MODE_RE = re.compile(r"^[A-Z]{1,4}$")  # L, S, B


class ImportAborted(Exception):
    """The file as a whole is not an extract of the expected kind; nothing was changed."""


@dataclass
class LineError:
    line: int
    column: str
    reason: str

    def __str__(self):
        return f"line {self.line}, column {self.column!r}: {self.reason}"


@dataclass
class ImportReport:
    kind: str
    lines_read: int = 0
    rows_imported: int = 0
    rows_skipped: int = 0
    rows_removed: int = 0
    rows_closed: int = 0
    error_count: int = 0
    errors: list[LineError] = field(default_factory=list)

    def add_error(self, line: int, column: str, reason: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append(LineError(line, column, reason))


class InvalidValue(Exception):
    def __init__(self, column: str, reason: str):
        self.column, self.reason = column, reason


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Numbered lines without their line ending. The extracts have been published both
    in UTF-8 and in Windows-1252, so each line is decoded as UTF-8 first."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            raw = raw.rstrip(b"\r\n")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("cp1252", errors="replace")
            yield number, text


def checked(value: str, column: str, pattern: re.Pattern, reason: str, required=True) -> str:
    value = value.strip()
    if not value:
        if required:
            raise InvalidValue(column, "is empty")
        return ""
    if not pattern.match(value):
        raise InvalidValue(column, reason)
    return value


def upsert(model, columns: list[str], key: list[str], rows: list[tuple]) -> None:
    """INSERT … ON CONFLICT DO UPDATE, many rows per statement (few round trips): the
    same SQL on SQLite and PostgreSQL."""
    quote = connection.ops.quote_name
    updates = [c for c in columns if c not in key]
    # Identifiers come from our model metadata (quoted), values are parameters.
    table, names, keys = (
        quote(model._meta.db_table),
        ", ".join(map(quote, columns)),
        ", ".join(map(quote, key)),
    )
    row_placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    assignments = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in updates)
    if connection.vendor == "postgresql":
        batch_table = quote(f"batch_{model._meta.db_table}")
        upsert_by_copy(table, batch_table, names, keys, assignments, rows)
        return
    with connection.cursor() as cursor:
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            values = ", ".join([row_placeholders] * len(chunk))
            sql = f"INSERT INTO {table} ({names}) VALUES {values} ON CONFLICT ({keys}) DO UPDATE SET {assignments}"  # noqa: S608, E501
            cursor.execute(sql, [value for row in chunk for value in row])


def upsert_by_copy(table, batch_table, names, keys, assignments, rows) -> None:
    """PostgreSQL: COPY the batch into a temporary table, then one INSERT … SELECT."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {batch_table} ON COMMIT DROP "  # noqa: S608
            f"AS SELECT {names} FROM {table} WITH NO DATA"
        )
        cursor.execute(f"TRUNCATE {batch_table}")
        with cursor.cursor.copy(f"COPY {batch_table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {batch_table} "  # noqa: S608
            f"ON CONFLICT ({keys}) DO UPDATE SET {assignments}"
        )


def remove_unseen(model, generation: int) -> int:
    deleted, _ = model.objects.exclude(generation=generation).delete()
    return deleted


def start_run(kind: str) -> DirectoryImport:
    return DirectoryImport.objects.create(kind=kind)


def finish_run(run: DirectoryImport, report: ImportReport) -> None:
    run.finished_at = timezone.now()
    run.lines_read = report.lines_read
    run.rows_imported = report.rows_imported
    run.errors = report.error_count
    run.save()


# --- RPPS ----------------------------------------------------------------------------------

PROFESSIONAL_COLUMNS = ["rpps", "last_name", "first_name", "generation"]
ACTIVITY_COLUMNS = [
    "rpps",
    "profession_code",
    "structure_id",
    "finess_site",
    "finess_legal_entity",
    "siret_site",
    "role_code",
    "profession_label",
    "site_name",
    "exercise_mode_code",
    "exercise_mode_label",
    "role_label",
    "generation",
]
ACTIVITY_KEY = [
    "rpps", "profession_code", "structure_id", "finess_site", "siret_site", "role_code",
]  # fmt: skip


def rpps_header_positions(header: str) -> dict[str, int]:
    names = [name.strip() for name in header.lstrip("\ufeff").split("|")]
    missing = [column for column in RPPS_COLUMNS.values() if column not in names]
    if missing:
        raise ImportAborted(
            "line 1: not an RPPS 'Personne activité' extract, missing columns: "
            + ", ".join(repr(m) for m in missing)
        )
    return {key: names.index(column) for key, column in RPPS_COLUMNS.items()} | {
        "_count": len(names)
    }


def parse_rpps_line(fields: list[str], positions: dict[str, int]):
    """(person row, activity row) for an RPPS line, None for another kind of identifier."""
    if len(fields) != positions["_count"]:
        raise InvalidValue("(line)", f"has {len(fields)} fields, expected {positions['_count']}")

    def value(key):
        return fields[positions[key]].strip()

    if value("type") != RPPS_TYPE_RPPS:
        return None
    rpps = checked(value("rpps"), RPPS_COLUMNS["rpps"], RPPS_RE, "is not an 11-digit number")
    last_name = value("last_name")
    if not last_name:
        raise InvalidValue(RPPS_COLUMNS["last_name"], "is empty")
    profession = checked(
        value("profession_code"), RPPS_COLUMNS["profession_code"], CODE_RE, "is not a code"
    )
    finess_site = checked(
        value("finess_site"),
        RPPS_COLUMNS["finess_site"],
        FINESS_RE,
        "is not a 9-character FINESS number",
        required=False,
    )
    finess_legal = checked(
        value("finess_legal_entity"),
        RPPS_COLUMNS["finess_legal_entity"],
        FINESS_RE,
        "is not a 9-character FINESS number",
        required=False,
    )
    siret = checked(
        value("siret_site"),
        RPPS_COLUMNS["siret_site"],
        SIRET_RE,
        "is not a 14-digit SIRET",
        required=False,
    )
    mode = checked(
        value("exercise_mode_code"),
        RPPS_COLUMNS["exercise_mode_code"],
        MODE_RE,
        "is not an exercise mode code",
        required=False,
    )
    role = checked(
        value("role_code"), RPPS_COLUMNS["role_code"], ROLE_RE, "is not a role code", required=False
    )
    person = (rpps, last_name[:100], value("first_name")[:100])
    activity = (
        rpps,
        profession,
        value("structure_id")[:40],
        finess_site,
        finess_legal,
        siret,
        role,
        value("profession_label")[:100],
        value("site_name")[:200],
        mode,
        value("exercise_mode_label")[:100],
        value("role_label")[:150],
    )
    return person, activity


@transaction.atomic
def import_rpps(path: Path) -> ImportReport:
    report = ImportReport(kind="rpps")
    run = start_run(DirectoryImport.Kind.RPPS)
    generation = run.pk
    lines = read_lines(path)
    first = next(lines, None)
    if first is None:
        raise ImportAborted("the file is empty")
    positions = rpps_header_positions(first[1])
    report.lines_read = 1
    people: dict[str, tuple] = {}
    activities: dict[tuple, tuple] = {}

    def flush():
        # Dicts, not lists: one statement must not upsert the same key twice (PostgreSQL).
        upsert(
            Professional,
            PROFESSIONAL_COLUMNS,
            ["rpps"],
            [(*p, generation) for p in people.values()],
        )
        upsert(
            Activity,
            ACTIVITY_COLUMNS,
            ACTIVITY_KEY,
            [(*a, generation) for a in activities.values()],
        )
        people.clear()
        activities.clear()

    for number, text in lines:
        report.lines_read = number
        if not text.strip():
            continue
        try:
            parsed = parse_rpps_line(text.split("|"), positions)
        except InvalidValue as error:
            report.add_error(number, error.column, error.reason)
            continue
        if parsed is None:
            report.rows_skipped += 1
            continue
        person, activity = parsed
        people[person[0]] = person
        activities[(*activity[:4], activity[5], activity[6])] = activity
        report.rows_imported += 1
        if len(activities) >= BATCH_SIZE:
            flush()
    flush()
    report.rows_removed = remove_unseen(Activity, generation) + remove_unseen(
        Professional, generation
    )
    finish_run(run, report)
    return report


# --- FINESS --------------------------------------------------------------------------------

ESTABLISHMENT_COLUMNS = [
    "finess",
    "legal_entity_finess",
    "name",
    "long_name",
    "category_code",
    "category_label",
    "siret",
    "address",
    "closed_at",
    "generation",
]


def parse_structure_line(fields: list[str]) -> tuple:
    if len(fields) < FINESS_MIN_FIELDS:
        raise InvalidValue("(line)", f"has {len(fields)} fields, expected {FINESS_MIN_FIELDS}+")

    def value(key):
        return fields[FINESS_FIELDS[key]].strip()

    finess = checked(value("finess"), "nofinesset", FINESS_RE, "is not a FINESS number")
    legal = checked(
        value("legal_entity_finess"),
        "nofinessej",
        FINESS_RE,
        "is not a FINESS number",
        required=False,
    )
    name = value("name") or value("long_name")
    if not name:
        raise InvalidValue("rs", "is empty")
    category = checked(value("category_code"), "categetab", CODE_RE, "is not a category code")
    siret = checked(value("siret"), "siret", SIRET_RE, "is not a 14-digit SIRET", required=False)
    street = " ".join(
        v for v in (value("street_number"), value("street_type"), value("street")) if v
    )
    address = ", ".join(v for v in (street, value("postal_line")) if v)
    return (
        finess,
        legal,
        name[:200],
        value("long_name")[:300],
        category,
        value("category_label")[:200],
        siret,
        address[:300],
    )


@transaction.atomic
def import_finess(path: Path) -> ImportReport:
    report = ImportReport(kind="finess")
    run = start_run(DirectoryImport.Kind.FINESS)
    generation = run.pk
    lines = read_lines(path)
    first = next(lines, None)
    if first is None or not first[1].lstrip("\ufeff").startswith("finess;"):
        raise ImportAborted("line 1: not a FINESS extract (expected a line starting 'finess;')")
    report.lines_read = 1
    batch: dict[str, tuple] = {}
    for number, text in lines:
        report.lines_read = number
        if not text.strip():
            continue
        fields = text.split(";")
        if fields[0] == "geolocalisation":
            continue  # coordinates, not needed here
        if fields[0] != "structureet":
            report.add_error(number, "(record type)", f"unknown record type {fields[0][:20]!r}")
            continue
        try:
            row = parse_structure_line(fields)
        except InvalidValue as error:
            report.add_error(number, error.column, error.reason)
            continue
        batch[row[0]] = (*row, None, generation)  # in the extract: open
        report.rows_imported += 1
        if len(batch) >= BATCH_SIZE:
            upsert(Establishment, ESTABLISHMENT_COLUMNS, ["finess"], list(batch.values()))
            batch.clear()
    upsert(Establishment, ESTABLISHMENT_COLUMNS, ["finess"], list(batch.values()))
    report.rows_closed = close_unseen(generation)
    finish_run(run, report)
    return report


def close_unseen(generation: int) -> int:
    """The establishments this full extract no longer lists are closed from now on."""
    return (
        Establishment.objects.exclude(generation=generation)
        .filter(closed_at__isnull=True)
        .update(closed_at=timezone.now())
    )
