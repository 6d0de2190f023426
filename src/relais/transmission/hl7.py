"""HL7 v2.5.1 ORU^R01 messages for SI-DEP, and the strict reading of its acknowledgements.

Messages are composed as text, field by field, with every data value escaped: hl7apy is
used only by the tests (and the simulator) to prove each message passes its strict
validation, which keeps building fast. Segments end with "\\r".
"""

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings

from relais.screening import catalogue

VERSION = "2.5.1"
SENDING_APPLICATION = "Relais"
SOFTWARE_VERSION = "0.1.0"
RECEIVER = "SI-DEP"
# OBX-11 (HL7 table 0085): final, correction, deleted, and W "post original as wrong,
# e.g. transmitted for wrong patient".
RESULT_STATUSES = {"F", "C", "D", "W"}
# MSH-10: what a message id may look like, in what we send and in what we accept back.
MESSAGE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# OBR-25 (HL7 table 0123) has no "deleted" nor "wrong": a result cancelled, or recorded
# for the wrong patient, leaves no result for this order: X "no results available; order
# canceled".
ORDER_STATUS = {"F": "F", "C": "C", "D": "X", "W": "X"}

# Object identifiers of the French health identifiers.
OID_INS_NIR = "1.2.250.1.213.1.4.8"
OID_FINESS = "1.2.250.1.71.4.2.2"
OID_RPPS = "1.2.250.1.71.4.2.1"

_ESCAPES = {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"}
_TO_ESCAPE = re.compile(r"[\\|^&~\x00-\x1f\x7f]")


def escape(value: object) -> str:
    """One data value made safe for any field, component or subcomponent.

    Delimiters get HL7's standard escape sequences; line breaks and any other control
    character are written as hexadecimal data (\\X0D\\), so no value can end a segment.
    """
    text = "" if value is None else str(value)
    return _TO_ESCAPE.sub(
        lambda m: _ESCAPES.get(m.group(), f"\\X{ord(m.group()):02X}\\"),
        text,
    )


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo(settings.TIME_ZONE)).strftime("%Y%m%d%H%M%S%z")


def _date(day: date) -> str:
    return day.strftime("%Y%m%d")


def _components(*values: str) -> str:
    """Join already-escaped components, dropping empty trailing ones."""
    return "^".join(values).rstrip("^")


def _segment(name: str, fields: dict[int, str]) -> str:
    """A segment from {field number: already-encoded value}; absent fields stay empty."""
    last = max(fields)
    return "|".join([name, *(fields.get(n, "") for n in range(1, last + 1))]) + "\r"


def _pharmacy_xon(pharmacy) -> str:
    # XON-6 assigning authority (FINESS) and XON-10 the pharmacy's FINESS number.
    return _components(
        escape(pharmacy.name), "", "", "", "", f"FINESS&{OID_FINESS}&ISO", "FINEG", "", "",
        escape(pharmacy.finess),
    )  # fmt: skip


def _pharmacist_xcn(user) -> str:
    # The account holds one full name, so it goes whole in the family-name component.
    return _components(
        escape(user.rpps), escape(user.full_name), "", "", "", "", "", "",
        f"ASIP-SANTE-PS&{OID_RPPS}&ISO", "D", "", "", "RPPS",
    )  # fmt: skip


def _coded(code: str, text: str, system: str) -> str:
    return _components(escape(code), escape(text), system)


def _msh(test, message_id: str, created_at: datetime) -> str:
    fields = {
        2: "^~\\&",
        3: SENDING_APPLICATION,
        4: _components(escape(test.pharmacy.finess), OID_FINESS, "ISO"),
        5: RECEIVER,
        6: RECEIVER,
        7: _timestamp(created_at),
        9: "ORU^R01^ORU_R01",
        10: message_id,
        11: "P",
        12: VERSION,
        # MSH-15/16 left empty: original acknowledgement mode, answered AA, AE or AR.
        17: "FRA",
        18: "UNICODE UTF-8",
    }
    # MSH-1 is the field separator itself, so MSH-n sits where other segments put field n-1.
    return _segment("MSH", {number - 1: value for number, value in fields.items()})


def _sft() -> str:
    return _segment(
        "SFT",
        {1: SENDING_APPLICATION, 2: SOFTWARE_VERSION, 3: SENDING_APPLICATION, 4: SOFTWARE_VERSION},
    )


def _names(patient) -> str:
    given = (patient.given_names or "").split()
    first, others = (given[0], " ".join(given[1:])) if given else ("", "")
    names = [
        _components(escape(patient.birth_name), escape(first), escape(others), "", "", "", "L")
    ]
    if (
        patient.used_name
        and patient.used_name.strip().upper() != patient.birth_name.strip().upper()
    ):
        names.append(
            _components(escape(patient.used_name), escape(first), escape(others), "", "", "", "D")
        )
    return "~".join(names)


def _identifiers(patient) -> str:
    ids = []
    if patient.nir:
        ids.append(
            _components(escape(patient.nir), "", "", f"ASIP-SANTE-INS-NIR&{OID_INS_NIR}&ISO", "INS")
        )
    ids.append(_components(escape(patient.pk), "", "", "RELAIS", "PI"))
    return "~".join(ids)


def _telecoms(patient) -> str:
    telecoms = []
    if patient.phone:
        telecoms.append(
            _components("", "PRN", "PH", "", "", "", "", "", "", "", "", escape(patient.phone))
        )
    if patient.email:
        telecoms.append(_components("", "NET", "Internet", escape(patient.email)))
    return "~".join(telecoms)


def _pid(patient) -> str:
    address = _components(
        escape(patient.address),
        "",
        escape(patient.city),
        "",
        escape(patient.postal_code),
        "FRA",
        "H",
    )
    fields = {
        1: "1",
        3: _identifiers(patient),
        5: _names(patient),
        7: _date(patient.birth_date),
        8: patient.sex if patient.sex in {"M", "F"} else "U",
        11: address if (patient.address or patient.city or patient.postal_code) else "",
        13: _telecoms(patient),
    }
    if patient.birthplace_code:
        fields[23] = escape(patient.birthplace_code)
    return _segment("PID", fields)


def _order_number(test) -> str:
    # EI: the test's id, assigned by Relais; ORC and OBR carry it as placer and filler.
    return _components(escape(test.pk), SENDING_APPLICATION)


def _orc(test, created_at: datetime) -> str:
    order = _order_number(test)
    return _segment(
        "ORC",
        {
            1: "RE",
            2: order,
            3: order,
            9: _timestamp(created_at),
            12: _pharmacist_xcn(test.performed_by),
            21: _pharmacy_xon(test.pharmacy),
        },
    )


# HL7 table 0396: "99zzz" names a locally defined coding system.
LOCAL_CODING_SYSTEM = "99RLS"


def _order_code(kind) -> str:
    """OBR-4: the kind's LOINC code, or its own code where LOINC names no such panel."""
    if kind.loinc:
        return _coded(kind.loinc, kind.loinc_display, "LN")
    return _coded(kind.code, kind.loinc_display, LOCAL_CODING_SYSTEM)


def _obr(test, result_status: str, created_at: datetime) -> str:
    kind = catalogue.TEST_KINDS[test.kind]
    order = _order_number(test)
    return _segment(
        "OBR",
        {
            1: "1",
            2: order,
            3: order,
            4: _order_code(kind),
            7: _timestamp(test.sampled_at),
            16: _pharmacist_xcn(test.performed_by),
            22: _timestamp(created_at),
            25: ORDER_STATUS[result_status],
        },
    )


def _obx(test, set_id: int, analyte, result_code: str, result_status: str) -> str:
    result = catalogue.RESULTS[result_code]
    pharmacy = test.pharmacy
    return _segment(
        "OBX",
        {
            1: str(set_id),
            2: "CWE",
            3: _coded(analyte.loinc, analyte.loinc_display, "LN"),
            5: _coded(result.snomed, result.snomed_display, "SCT"),
            11: result_status,
            14: _timestamp(test.sampled_at),
            17: _components("", escape(test.device)) if test.device else "",
            19: _timestamp(test.sampled_at),
            23: _pharmacy_xon(pharmacy),
            24: escape(pharmacy.address),
            25: _pharmacist_xcn(test.performed_by),
        },
    )


def _observations(test, result_status: str) -> list[str]:
    """One OBX per analyte the test reads: several for a multiplex kit, one swab."""
    return [
        _obx(test, set_id, analyte, result_code, result_status)
        for set_id, (analyte, result_code) in enumerate(test.analyte_results(), start=1)
    ]


def _spm(test) -> str:
    specimen = catalogue.SPECIMENS[test.specimen]
    return _segment(
        "SPM",
        {
            1: "1",
            2: f"{escape(test.pk)}&{SENDING_APPLICATION}",
            4: _coded(specimen.snomed, specimen.snomed_display, "SCT"),
            17: _timestamp(test.sampled_at),
        },
    )


def build_oru_r01(test, *, message_id: str, result_status: str, created_at: datetime) -> str:
    """One ORU^R01 message for one screening test (a validated one: every result given).

    `message_id` (MSH-10) must stay the same for every resend of one transmission, so the
    receiver can de-duplicate. `result_status` is F (final), C (correction), D (the
    result is cancelled) or W (it was sent for the wrong patient).
    """
    if result_status not in RESULT_STATUSES:
        raise ValueError(f"result_status must be one of F, C, D, W, not {result_status!r}")
    if not isinstance(message_id, str) or not MESSAGE_ID.fullmatch(message_id):
        raise ValueError("message_id must be 1 to 64 letters, digits or . _ : -")
    return "".join(
        [
            _msh(test, message_id, created_at),
            _sft(),
            _pid(test.patient),
            _orc(test, created_at),
            _obr(test, result_status, created_at),
            *_observations(test, result_status),
            _spm(test),
        ]
    )


# --- Acknowledgements ---------------------------------------------------------------------

ACK_CODES = {"AA", "AE", "AR"}
MAX_TEXT_LENGTH = 300
_UNESCAPES = {"E": "\\", "F": "|", "S": "^", "T": "&", "R": "~"}
_ESCAPE_SEQUENCE = re.compile(r"\\([EFSTR]|X[0-9A-Fa-f]{2}|\.br)\\")


class AckError(Exception):
    """SI-DEP's answer cannot be trusted as a set of acknowledgements: retry later."""


@dataclass(frozen=True)
class Ack:
    message_id: str
    code: str
    text: str


def unescape(value: str) -> str:
    """The inverse of escape(): a data value as it was before encoding."""

    def replace(match):
        sequence = match.group(1)
        if sequence in _UNESCAPES:
            return _UNESCAPES[sequence]
        if sequence == ".br":
            return "\n"
        return chr(int(sequence[1:], 16))

    return _ESCAPE_SEQUENCE.sub(replace, value)


def _plain_text(value: str) -> str:
    """Reason text from the receiver, made safe to store and show: printable, bounded."""
    text = "".join(ch if ch.isprintable() else " " for ch in unescape(value))
    return " ".join(text.split())[:MAX_TEXT_LENGTH]


def _parse_ack(raw: str, number: int) -> Ack:
    segments = [segment for segment in raw.split("\r") if segment]
    if not segments or not segments[0].startswith("MSH|^~\\&|"):
        raise AckError(f"acknowledgement {number}: does not start with a standard MSH segment")
    msh = segments[0].split("|")
    if len(msh) < 12 or msh[8].split("^")[0] != "ACK":
        raise AckError(f"acknowledgement {number}: MSH-9 is not an ACK")
    if msh[11].split("^")[0] != VERSION:
        raise AckError(f"acknowledgement {number}: MSH-12 is not {VERSION}")
    by_name: dict[str, list[list[str]]] = {}
    for segment in segments[1:]:
        fields = segment.split("|")
        if not re.fullmatch(r"[A-Z][A-Z0-9]{2}", fields[0]):
            raise AckError(f"acknowledgement {number}: malformed segment name")
        by_name.setdefault(fields[0], []).append(fields)
    msas = by_name.get("MSA", [])
    if len(msas) != 1:
        raise AckError(f"acknowledgement {number}: expected exactly one MSA segment")
    msa = msas[0] + [""] * 4
    code, message_id = msa[1], msa[2]
    if code not in ACK_CODES:
        raise AckError(f"acknowledgement {number}: MSA-1 is not AA, AE or AR")
    if not MESSAGE_ID.fullmatch(message_id):
        raise AckError(f"acknowledgement {number}: MSA-2 is not a message id")
    reasons = [err[8] for err in by_name.get("ERR", []) if len(err) > 8 and err[8]]
    text = _plain_text(reasons[0] if reasons else msa[3])
    if code != "AA" and not text:
        text = "no reason given"
    return Ack(message_id=message_id, code=code, text=text)


def parse_acks(body: str) -> list[Ack]:
    """The acknowledgements in one SI-DEP answer (messages separated by "\\n").

    Strict: anything malformed, or two acknowledgements for one message, raises AckError.
    """
    if not isinstance(body, str) or not body.strip():
        raise AckError("the answer is empty")
    acks = []
    seen = set()
    raw_messages = [raw for raw in body.replace("\r\n", "\n").split("\n") if raw.strip()]
    for number, raw in enumerate(raw_messages, start=1):
        ack = _parse_ack(raw, number)
        if ack.message_id in seen:
            raise AckError(f"acknowledgement {number}: a second acknowledgement for one message")
        seen.add(ack.message_id)
        acks.append(ack)
    return acks
