"""A length and table check of an HL7 v2.5.1 message, field by field, against the standard.

hl7apy's strict validation checks structure, not lengths, nor most table values. This
reads every field Relais fills in MSH, SFT, PID, ORC, OBR, OBX and SPM and checks:
- the field's maximum length (per repetition) and each component's / subcomponent's;
- for a field or component of type ID bound to an HL7 table, that the value is in it.

The lengths and data types come from hl7_v251_data.json (its "source" names where it was
extracted from); the tables' values from hl7apy's v2.5.1 tables. IS fields (user-defined
tables) are not checked against a list: the standard leaves their values to each site.
Lengths are counted on the encoded text (escape sequences included), which is stricter.
"""

import json
import re
from functools import cache
from pathlib import Path

from hl7apy.v2_5_1.tables import TABLES

DATA_FILE = Path(__file__).with_name("hl7_v251_data.json")
CHECKED_SEGMENTS = ("MSH", "SFT", "PID", "ORC", "OBR", "OBX", "SPM")

# Values a table allows beyond hl7apy's copy of it, each with its reason.
EXTRA_TABLE_VALUES: dict[int, set[str]] = {
    # Table 0125 (value type) lists CWE since v2.5; hl7apy's copy stops at the v2.4 list.
    125: {"CWE"},
    # Table 0396 (coding system) is maintained by HL7 outside the versions; "SCT" (SNOMED
    # CT) is its current code for SNOMED, used with v2.5.1 by the US ELR and IHE profiles.
    396: {"SCT"},
    # Table 0203 (identifier type) with the French national extension (IHE PAM France,
    # ANS CI-SIS): INS for the national health identifier, RPPS and FINEG.
    203: {"INS", "RPPS", "FINEG"},
}
# Lengths the extracted data gets wrong for v2.5.1's own tables, each with its reason.
LENGTH_ERRATA: dict[str, int] = {
    # OBX-2 is listed with length 2, yet it holds a code of table 0125, where CWE (since
    # v2.5), DTM, TS... have 3 letters; v2.6 lists it with 3.
    "OBX-2": 3,
}
# Table 0396: "99zzz" is any locally defined coding system, "HL7nnnn" HL7 table nnnn.
LOCAL_CODING_SYSTEM = re.compile(r"99[A-Za-z0-9]{1,3}|HL7[0-9]{4}")


@cache
def _data() -> dict:
    return json.loads(DATA_FILE.read_text(encoding="utf-8"))


def table_values(table: int) -> set[str] | None:
    """The values HL7 table `table` allows, or None when hl7apy has no such table."""
    entry = TABLES.get(f"HL7{table:04d}")
    if entry is None:
        return None
    return set(entry[1]) | EXTRA_TABLE_VALUES.get(table, set())


def _in_table(table: int, value: str) -> bool:
    if table == 396 and LOCAL_CODING_SYSTEM.fullmatch(value):
        return True
    allowed = table_values(table)
    return allowed is None or value in allowed


def _check_value(where: str, value: str, datatype: str, length, table, depth: int, problems):
    if length is not None and len(value) > length:
        problems.append((where, value, f"longer than {length}"))
    components = _data()["types"].get(datatype)
    if components and depth < 2:
        separator = "^" if depth == 0 else "&"
        parts = value.split(separator)
        if len(parts) > len(components):
            problems.append((where, value, f"more than {len(components)} components"))
        for number, (part, (_desc, sub_type, sub_length, sub_table)) in enumerate(
            zip(parts, components, strict=False), start=1
        ):
            if part:
                _check_value(
                    f"{where}.{number}", part, sub_type, sub_length, sub_table, depth + 1, problems
                )
        return
    if datatype == "ID" and table and not _in_table(table, value):
        problems.append((where, value, f"not in HL7 table {table:04d}"))


def check_message(raw: str) -> list[tuple[str, str, str]]:
    """Every problem found, as (segment-field[.component...], value, rule); [] if none."""
    problems: list[tuple[str, str, str]] = []
    segments = _data()["segments"]
    for segment in filter(None, raw.split("\r")):
        fields = segment.split("|")
        name = fields[0]
        if name not in CHECKED_SEGMENTS:
            continue
        # MSH-1 is the field separator itself: MSH-n is fields[n - 1].
        numbered = (
            list(enumerate(fields[1:], start=2))
            if name == "MSH"
            else list(enumerate(fields[1:], start=1))
        )
        definitions = segments[name]
        for number, value in numbered:
            if not value:
                continue
            if number > len(definitions):
                problems.append((f"{name}-{number}", value, "no such field in v2.5.1"))
                continue
            _desc, datatype, length, table = definitions[number - 1]
            length = LENGTH_ERRATA.get(f"{name}-{number}", length)
            if name == "MSH" and number == 2:
                _check_value("MSH-2", value, "ST", length, None, 2, problems)
                continue
            if name == "OBX" and number == 5:
                datatype = fields[2] if len(fields) > 2 else "ST"
            for repetition in value.split("~"):
                _check_value(f"{name}-{number}", repetition, datatype, length, table, 0, problems)
    return problems
