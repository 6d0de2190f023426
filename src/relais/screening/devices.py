"""Rapid-test devices: the EU common list of SARS-CoV-2 rapid antigen tests and French kits.

Both lists ship as JSON beside this module (``data/``) and are read once, at import:
- ``eu_rat_devices.json``: the EU DCC value set "covid-19-lab-test-manufacturer-and-name",
  converted by ``scripts/update-eu-rat-devices`` (its header names the source file and commit);
- ``french_kits.json``: multiplex, flu, RSV and strep A kits sold to French pharmacies,
  each with the reference it was taken from.
"""

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"
EU_FILE = DATA_DIR / "eu_rat_devices.json"
FRENCH_FILE = DATA_DIR / "french_kits.json"

EU_VALUE_SET_ID = "covid-19-lab-test-manufacturer-and-name"
# The value set says nothing of these: every entry is a SARS-CoV-2 rapid antigen test on a
# nasal or nasopharyngeal swab, read after the usual 15 minutes (marked as assumed).
EU_DEFAULTS: dict[str, Any] = {
    "kind": "sars_cov_2_antigen",
    "specimens": ["nasopharyngeal_swab", "nasal_swab"],
    "reading_minutes": 15,
    "reading_minutes_assumed": True,
}

# Query bounds: a search box sends a few words, never a page of text.
MAX_QUERY_CHARS = 200
MAX_QUERY_WORDS = 8
MAX_LIMIT = 100

# "Hangzhou Clongene Biotech Co., Ltd, Covid-19 ..." : "Ltd" still belongs to the maker.
_COMPANY_SUFFIX = re.compile(r"^(inc|ltd|co|llc|s\.?\s?l|s\.?\s?a|gmbh|ag|corp)\.?$", re.IGNORECASE)
_NOT_WORD = re.compile(r"[^0-9a-z]+")


@dataclass(frozen=True)
class Device:
    code: str  # EU value-set id (e.g. "1232") or our "FR-..." id
    manufacturer: str
    name: str  # commercial name
    kind: str  # a catalogue test kind code
    specimens: tuple[str, ...]
    reading_minutes: int
    source: str  # "EU DCC value set <date>" or the kit's source reference
    active: bool
    reading_minutes_assumed: bool = False  # the instructions for use were not found

    @property
    def eu_listed(self) -> bool:
        """From the EU list of rapid antigen tests (our own kits' codes start "FR-")."""
        return not self.code.startswith("FR-")

    @property
    def label(self) -> str:
        """The "Manufacturer, Name" shown and sent (for the EU list, the value set's display)."""
        return f"{self.manufacturer}, {self.name}" if self.manufacturer else self.name


def split_display(display: str) -> tuple[str, str]:
    """Split an EU display "Manufacturer, Commercial name" at the comma that ends the maker.

    The value set joins the two with ", " and makers' names hold commas of their own
    ("ACON Laboratories, Inc"), so company suffixes stay with the maker. Joining the two
    parts with ", " always gives the display back.
    """
    parts = display.split(", ")
    if len(parts) < 2:
        return "", display.strip()
    end = 1
    while end < len(parts) - 1 and _COMPANY_SUFFIX.match(parts[end].strip()):
        end += 1
    return ", ".join(parts[:end]), ", ".join(parts[end:])


def convert_value_set(value_set: dict[str, Any], origin: dict[str, str]) -> dict[str, Any]:
    """Our eu_rat_devices.json document from the EU value set (the test-manf.json format).

    ``origin`` records where the file came from: repository, path, commit, retrieved.
    Every entry is kept, active or not, in the value set's order of ids.
    """
    if value_set.get("valueSetId") != EU_VALUE_SET_ID:
        raise ValueError(f"not the {EU_VALUE_SET_ID} value set: {value_set.get('valueSetId')!r}")
    values = value_set["valueSetValues"]
    devices = []
    for code in sorted(values, key=lambda c: (len(c), c)):
        entry = values[code]
        manufacturer, name = split_display(entry["display"])
        devices.append(
            {
                "id": code,
                "display": entry["display"],
                "manufacturer": manufacturer,
                "name": name,
                "active": bool(entry["active"]),
                "version": entry.get("version", ""),
            }
        )
    systems = sorted({v.get("system", "") for v in values.values()} - {""})
    return {
        "source": {
            **origin,
            "valueSetId": value_set["valueSetId"],
            "valueSetDate": value_set["valueSetDate"],
            "system": systems[0] if len(systems) == 1 else systems,
            "entries": len(devices),
            "active": sum(1 for d in devices if d["active"]),
        },
        "defaults": EU_DEFAULTS,
        "devices": devices,
    }


def _read(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def _device(entry: dict[str, Any], source: str) -> Device:
    return Device(
        code=entry["id"],
        manufacturer=entry["manufacturer"],
        name=entry["name"],
        kind=entry["kind"],
        specimens=tuple(entry["specimens"]),
        reading_minutes=int(entry["reading_minutes"]),
        source=source,
        active=bool(entry.get("active", True)),
        reading_minutes_assumed=bool(entry.get("reading_minutes_assumed", False)),
    )


def _load() -> tuple[dict[str, Device], dict[str, Any]]:
    eu = _read(EU_FILE)
    header = eu["source"]
    defaults = {**EU_DEFAULTS, **eu.get("defaults", {})}
    source = f"EU DCC value set {header['valueSetDate']}"
    devices: dict[str, Device] = {}
    for entry in eu["devices"]:
        devices[entry["id"]] = _device({**defaults, **entry}, source)
    for kit in _read(FRENCH_FILE)["kits"]:
        if kit["id"] in devices:
            raise ValueError(f"duplicate device code {kit['id']!r}")
        devices[kit["id"]] = _device(kit, kit["source"])
    catalogue_source = {
        "source": f"{header['repository']}:{header['path']}",
        "repository": header["repository"],
        "path": header["path"],
        "commit": header["commit"],
        "date": header["valueSetDate"],
        "size": header["entries"],
        "active": header["active"],
    }
    return devices, catalogue_source


DEVICES, CATALOGUE_SOURCE = _load()


def _fold(text: str) -> str:
    """Lower case, accents and punctuation gone: "Strep-A Rapide™" -> " strep a rapidetm "."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " " + _NOT_WORD.sub(" ", bare.casefold()).strip() + " "


_HAYSTACKS: dict[str, str] = {
    code: _fold(f"{d.code} {d.manufacturer} {d.name}") for code, d in DEVICES.items()
}


def get(code: str) -> Device | None:
    return DEVICES.get(code.strip()) if isinstance(code, str) else None


def search(query: str, limit: int = 20) -> list[Device]:
    """Devices whose code, maker or name hold every word of the query, as substrings.

    Case, accents and punctuation are ignored and words match in any order. An exact code
    comes first, then active devices before withdrawn ones, then by label. An empty query
    finds nothing; an over-long one is cut to its first words.
    """
    limit = max(0, min(limit, MAX_LIMIT))
    words = _fold(query[:MAX_QUERY_CHARS]).split()[:MAX_QUERY_WORDS]
    if not words or not limit:
        return []
    exact = query.strip().casefold()
    found = [d for code, d in DEVICES.items() if all(w in _HAYSTACKS[code] for w in words)]
    found.sort(key=lambda d: (d.code.casefold() != exact, not d.active, d.label.casefold()))
    return found[:limit]
