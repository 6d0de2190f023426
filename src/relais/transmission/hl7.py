"""HL7 v2.5.1 ORU^R01 messages for SI-DEP, and the strict reading of its acknowledgements.

Messages are composed as text, field by field, with every data value escaped: hl7apy is
used only by the tests (and the simulator) to prove each message passes its strict
validation, which keeps building fast. Segments end with "\\r".
"""

import base64
import functools
import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings

from relais.screening import catalogue
from relais.screening.models import IdentityStatus

VERSION = "2.5.1"
SENDING_APPLICATION = "Relais"
SOFTWARE_VERSION = "0.1.0"
RECEIVER = "SI-DEP"
# OBX-11 (HL7 table 0085): final, correction, deleted, and W "post original as wrong,
# e.g. transmitted for wrong patient".
RESULT_STATUSES = {"F", "C", "D", "W"}
# MSH-10: what a message id may look like, in what we send and in what we accept back.
# v2.5.1 allows 20 characters, and new ids have 20 (transmission.models.new_message_id);
# ids of up to 32 were given before: a message first sent with one keeps it when sent again,
# so SI-DEP still de-duplicates it. Acknowledgements may echo any such id.
MESSAGE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# MSH-21: the message profile. No OID is registered for Relais, so the profile is named
# in Relais's own namespace (EI-1 and EI-2); an OID would go in EI-3 with EI-4 "ISO".
MESSAGE_PROFILE = "SIDEP-ORU-R01-1.0"
# OBR-25 (HL7 table 0123) has no "deleted" nor "wrong": a result cancelled, or recorded
# for the wrong patient, leaves no result for this order: X "no results available; order
# canceled".
ORDER_STATUS = {"F": "F", "C": "C", "D": "X", "W": "X"}

# Object identifiers of the French health identifiers. The INS is the NIR (INS-NIR), or
# for a person waiting for one the temporary number NIA (INS-NIA, first digit 7 or 8):
# ANS, Référentiel INS, "Liste des OID des autorités d'affectation des INS".
OID_INS_NIR = "1.2.250.1.213.1.4.8"
OID_INS_NIA = "1.2.250.1.213.1.4.9"
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
    return _local_timestamp(moment, settings.TIME_ZONE)


# A message writes its creation time three times and the sampling time up to five, and a
# batch shares one creation time: each is formatted once.
@functools.lru_cache(maxsize=1024)
def _local_timestamp(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y%m%d%H%M%S%z")


def _date(day: date) -> str:
    return day.strftime("%Y%m%d")


def _components(*values: str) -> str:
    """Join already-escaped components, dropping empty trailing ones."""
    return "^".join(values).rstrip("^")


def _segment(name: str, fields: dict[int, str]) -> str:
    """A segment from {field number: already-encoded value}; absent fields stay empty."""
    values = [""] * (max(fields) + 1)
    values[0] = name
    for number, value in fields.items():
        values[number] = value
    return "|".join(values) + "\r"


def _pharmacy_xon(pharmacy) -> str:
    # XON-6 assigning authority (FINESS) and XON-10 the pharmacy's FINESS number.
    return _components(
        escape(pharmacy.name), "", "", "", "", f"FINESS&{OID_FINESS}&ISO", "FINEG", "", "",
        escape(pharmacy.finess),
    )  # fmt: skip


def _pharmacist_xcn(user) -> str:
    # The account holds one full name, so it goes whole in the family-name component.
    if not user.rpps:
        # No RPPS (an assistant, or an account made before RPPS was asked): the name alone,
        # never an empty id under the RPPS authority, which would claim an RPPS.
        return _components("", escape(user.full_name))
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
        21: _components(MESSAGE_PROFILE, SENDING_APPLICATION),
    }
    # MSH-1 is the field separator itself, so MSH-n sits where other segments put field n-1.
    return _segment("MSH", {number - 1: value for number, value in fields.items()})


def _sft() -> str:
    return _segment(
        "SFT",
        {1: SENDING_APPLICATION, 2: SOFTWARE_VERSION, 3: SENDING_APPLICATION, 4: SOFTWARE_VERSION},
    )


def _names(patient) -> str:
    """PID-5. The legal name (L): birth name, first birth given name in XPN-2 and the whole
    list of birth given names, space-separated, in XPN-3 — the INS traits "premier prénom
    de naissance" and "prénoms de naissance" (ANS CI-SIS, Annexe INS, HL7 v2 mapping; IHE
    PAM national extension France). The used name (D), when it differs, repeats them."""
    given = " ".join((patient.given_names or "").split())
    first = given.split(" ")[0] if given else ""
    names = [_components(escape(patient.birth_name), escape(first), escape(given), "", "", "", "L")]
    if (
        patient.used_name
        and patient.used_name.strip().upper() != patient.birth_name.strip().upper()
    ):
        names.append(
            _components(escape(patient.used_name), escape(first), escape(given), "", "", "", "D")
        )
    return "~".join(names)


def _is_nia(number: str) -> bool:
    """A temporary number (NIA, given while a NIR is being assigned) begins with 7 or 8."""
    return number[:1] in {"7", "8"}


def _identifiers(patient) -> str:
    """PID-3. The INS only for a qualified identity (RNIV: only a qualified identity may
    be referenced by its INS), under the OID of its kind; always Relais's own id."""
    ids = []
    if patient.nir and patient.identity_status == IdentityStatus.QUALIFIED:
        authority = (
            f"ASIP-SANTE-INS-NIA&{OID_INS_NIA}&ISO"
            if _is_nia(patient.nir)
            else f"ASIP-SANTE-INS-NIR&{OID_INS_NIR}&ISO"
        )
        ids.append(_components(escape(patient.nir), "", "", authority, "INS"))
    ids.append(_components(patient_id(patient), "", "", "RELAIS", "PI"))
    return "~".join(ids)


def _birthplace(patient) -> str:
    """The birthplace as an address of type BDL (birth delivery location), its INSEE code
    (COG: a commune, or 99xxx a country abroad) in XAD-9 "county/parish code", as IHE PAM
    France puts it (instead of PID-23, free text in v2.5.1)."""
    return _components("", "", "", "", "", "", "BDL", "", escape(patient.birthplace_code))


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
    addresses = [address] if (patient.address or patient.city or patient.postal_code) else []
    if patient.birthplace_code:
        addresses.append(_birthplace(patient))
    fields = {
        1: "1",
        3: _identifiers(patient),
        5: _names(patient),
        7: _date(patient.birth_date),
        8: patient.sex if patient.sex in {"M", "F"} else "U",
        11: "~".join(addresses),
        13: _telecoms(patient),
        # Table 0445 as France uses it: the RNIV status (PROV, VALI, QUAL).
        32: escape(patient.identity_status or IdentityStatus.PROVISIONAL),
    }
    return _segment("PID", fields)


# ORC-2/3 and OBR-2/3 are EI of at most 22 characters: "<order id>^Relais" leaves 15.
SHORT_ID_LENGTH = 15


@functools.lru_cache(maxsize=4096)  # a message names its test twice (ORC, OBR)
def short_id(pk) -> str:
    """15 base32 characters (75 bits) of the SHA-256 of a record's id: what HL7 v2.5.1's
    short identifier fields hold where a UUID (36 characters) does not fit. Stable (the
    same record always gives the same one) and unique in practice: two of 10 million
    records share one with a probability near 10^-9."""
    digest = hashlib.sha256(str(pk).encode()).digest()
    return base64.b32encode(digest).decode()[:SHORT_ID_LENGTH]


def order_id(test) -> str:
    """The test's order number (ORC-2/3, OBR-2/3: EI of 22): a correction or a
    cancellation names the order it changes."""
    return short_id(test.pk)


def patient_id(patient) -> str:
    """The patient's Relais identifier (PID-3, type PI: CX-1 holds 15 characters)."""
    return short_id(patient.pk)


def _order_number(test) -> str:
    # EI: assigned by Relais; ORC and OBR carry it as placer and filler.
    return _components(order_id(test), SENDING_APPLICATION)


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


def _order_code(kind, specimen: str) -> str:
    """OBR-4: the kind's LOINC code, or its own code where LOINC names no such panel."""
    loinc, display = kind.observation(specimen)
    if loinc:
        return _coded(loinc, display, "LN")
    return _coded(kind.local_code, display, LOCAL_CODING_SYSTEM)


def _obr(test, result_status: str, created_at: datetime) -> str:
    kind = catalogue.TEST_KINDS[test.kind]
    order = _order_number(test)
    return _segment(
        "OBR",
        {
            1: "1",
            2: order,
            3: order,
            4: _order_code(kind, test.specimen),
            7: _timestamp(test.sampled_at),
            16: _pharmacist_xcn(test.performed_by),
            22: _timestamp(created_at),
            25: ORDER_STATUS[result_status],
        },
    )


# OBX-17 coding systems (HL7 table 0396, "99zzz": local) of the device catalogue's ids: the
# EU DCC value set "covid-19-lab-test-manufacturer-and-name" (its name, 39 characters,
# does not fit CE-3's 20), and Relais's own "FR-..." kit codes.
DEVICE_CODING_SYSTEM_EU = "99DCC"
DEVICE_CODING_SYSTEM_LOCAL = LOCAL_CODING_SYSTEM
CE_TEXT_LENGTH = 199  # CE-2


def _fit(text: str, length: int) -> str:
    """`text` escaped, cut so its escaped form holds in `length` characters."""
    while len(escape(text)) > length:
        text = text[:-1]
    return escape(text)


def _device(test) -> str:
    """OBX-17 (CE): the catalogue device's id, label and coding system; else the text only."""
    device = test.catalogue_device
    if device is not None:
        system = DEVICE_CODING_SYSTEM_EU if device.eu_listed else DEVICE_CODING_SYSTEM_LOCAL
        return _components(escape(device.code), _fit(test.device or device.label, CE_TEXT_LENGTH),
                           system)  # fmt: skip
    return _components("", _fit(test.device, CE_TEXT_LENGTH)) if test.device else ""


def _obx(test, set_id: int, analyte, result_code: str, result_status: str) -> str:
    result = catalogue.RESULTS[result_code]
    loinc, loinc_display = analyte.observation(test.specimen)
    pharmacy = test.pharmacy
    return _segment(
        "OBX",
        {
            1: str(set_id),
            2: "CWE",
            3: _coded(loinc, loinc_display, "LN"),
            5: _coded(result.snomed, result.snomed_display, "SCT"),
            11: result_status,
            14: _timestamp(test.sampled_at),
            17: _device(test),
            19: _timestamp(test.sampled_at),
            23: _pharmacy_xon(pharmacy),
            24: escape(pharmacy.address),
            25: _pharmacist_xcn(test.performed_by),
        },
    )


# The questions asked at the counter, sent after the results as OBX of their own (as the
# US ELR and the HL7 At-Home In-Vitro Test Report IG send them: value set
# "at-home-in-vitro-patient-questions", https://hl7.org/fhir/us/home-lab-report/, LOINC 2.72):
# 95419-8 "Whether the patient has symptoms related to condition of interest" (Y/N, HL7
# table 0136) and 65222-2 "Date and time of symptom onset" (11368-8 is any illness or
# injury's onset, less precise).
SYMPTOMATIC = ("95419-8", "Whether the patient has symptoms related to condition of interest")
SYMPTOM_ONSET = ("65222-2", "Date and time of symptom onset")
YES_NO = {True: ("Y", "Yes"), False: ("N", "No")}


def _question(test, set_id: int, question: tuple[str, str], value_type: str, value: str,
              result_status: str) -> str:  # fmt: skip
    return _segment(
        "OBX",
        {
            1: str(set_id),
            2: value_type,
            3: _coded(*question, "LN"),
            5: value,
            11: result_status,
            14: _timestamp(test.sampled_at),
        },
    )


def _questions(test, first_set_id: int, result_status: str) -> list[str]:
    """Symptomatic yes or no, and the onset date when known."""
    code, text = YES_NO[bool(test.symptoms)]
    answers = [(SYMPTOMATIC, "CWE", _coded(code, text, "HL70136"))]
    if test.symptoms and test.symptom_onset:
        answers.append((SYMPTOM_ONSET, "DT", _date(test.symptom_onset)))
    return [
        _question(test, set_id, question, value_type, value, result_status)
        for set_id, (question, value_type, value) in enumerate(answers, start=first_set_id)
    ]


def _observations(test, result_status: str) -> list[str]:
    """One OBX per analyte the test reads (several for a multiplex kit, one swab), then
    one per question asked at the counter."""
    results = [
        _obx(test, set_id, analyte, result_code, result_status)
        for set_id, (analyte, result_code) in enumerate(test.analyte_results(), start=1)
    ]
    return results + _questions(test, len(results) + 1, result_status)


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
