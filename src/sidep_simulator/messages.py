"""Reading the ORU^R01 messages the simulator receives, and writing its ACKs."""

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

VERSION = "2.5.1"
MESSAGE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
REQUIRED_SEGMENTS = ("MSH", "PID", "OBR", "SPM")
# OBX-11 (HL7 table 0085): final, correction, deleted, wrong (sent for the wrong patient).
RESULT_STATUSES = {"F", "C", "D", "W"}
_ESCAPES = {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"}
_TO_ESCAPE = re.compile(r"[\\|^&~\x00-\x1f\x7f]")
_ESCAPE_SEQUENCE = re.compile(r"\\([EFSTR]|X[0-9A-Fa-f]{2})\\")
_UNESCAPES = {"E": "\\", "F": "|", "S": "^", "T": "&", "R": "~"}


class Invalid(Exception):
    """The message breaks HL7 v2.5.1 or the SI-DEP profile: answered AE with this reason."""


class Unsupported(Exception):
    """A message type (MSH-9) or version (MSH-12) the receiver does not take: answered AR,
    as HL7 v2.5.1 chapter 2 says of an unacceptable MSH-9, MSH-11 or MSH-12 (the sender
    fixes its configuration, not the content)."""


@dataclass(frozen=True)
class Received:
    message_id: str
    raw: str
    sender: str  # MSH-3 and MSH-4 as received, echoed in the ACK's MSH-5 and MSH-6


def escape(text: str) -> str:
    return _TO_ESCAPE.sub(lambda m: _ESCAPES.get(m.group(), f"\\X{ord(m.group()):02X}\\"), text)


def unescape(text: str) -> str:
    return _ESCAPE_SEQUENCE.sub(
        lambda m: _UNESCAPES.get(m.group(1)) or chr(int(m.group(1)[1:], 16)), text
    )


def read_header(raw: str) -> Received | None:
    """The message's MSH-10, or None when it has no readable one (the batch is unusable)."""
    msh = raw.split("\r", 1)[0].split("|")
    if len(msh) < 10 or msh[0] != "MSH" or not MESSAGE_ID.fullmatch(msh[9]):
        return None
    return Received(message_id=msh[9], raw=raw, sender="|".join(msh[2:4]))


def _segments(raw: str) -> dict[str, list[list[str]]]:
    by_name: dict[str, list[list[str]]] = {}
    for segment in filter(None, raw.split("\r")):
        fields = segment.split("|")
        by_name.setdefault(fields[0], []).append(fields)
    return by_name


def _field(fields: list[str], number: int) -> str:
    return fields[number] if len(fields) > number else ""


def check_header(raw: str) -> None:
    """MSH-9 and MSH-12 this receiver takes, before anything else. Raises Unsupported."""
    msh = _segments(raw).get("MSH", [[]])[0]
    if _field(msh, 8) != "ORU^R01^ORU_R01":
        raise Unsupported("unsupported message type (MSH-9): ORU^R01^ORU_R01 only")
    if _field(msh, 11) != VERSION:
        raise Unsupported(f"unsupported version (MSH-12): {VERSION} only")


def validate(raw: str, *, strict: bool = True) -> None:
    """hl7apy's strict v2.5.1 validation, then the profile's own rules. Raises Invalid.

    strict=False skips hl7apy (tens of milliseconds a message) for volume runs: the
    crash test and the drain benchmark send tens of thousands of messages."""
    if strict:
        try:
            message = parse_message(raw, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
            message.validate()
        except Exception as error:  # hl7apy raises many kinds; each is a reason to refuse
            raise Invalid(f"HL7 validation failed: {type(error).__name__}: {error}"[:300]) from None
    segments = _segments(raw)
    msh = segments["MSH"][0]
    if _field(msh, 8) != "ORU^R01^ORU_R01":
        raise Invalid("MSH-9 must be ORU^R01^ORU_R01")
    if _field(msh, 11) != VERSION:
        raise Invalid(f"MSH-12 must be {VERSION}")
    for name in REQUIRED_SEGMENTS:
        if len(segments.get(name, [])) != 1:
            raise Invalid(f"exactly one {name} segment is required")
    _validate_observations(segments.get("OBX", []))
    if _field(segments["SPM"][0], 4).split("^")[2:3] != ["SCT"]:
        raise Invalid("SPM-4 must be a SNOMED CT code")
    if not _field(segments["PID"][0], 5):
        raise Invalid("PID-5 (patient name) is required")


# Questions asked at the counter, sent as OBX after the results: their LOINC code and value
# type. Any other OBX is a result (one per analyte).
QUESTIONS = {"95419-8": "CWE", "65222-2": "DT"}
YES_NO = {"Y", "N"}


def _validate_question(obx: list[str]) -> None:
    code = _field(obx, 3).split("^")[0]
    value = _field(obx, 5)
    if _field(obx, 2) != QUESTIONS[code]:
        raise Invalid(f"OBX-2 of question {code} must be {QUESTIONS[code]}")
    if code == "95419-8":
        parts = value.split("^")
        if parts[0] not in YES_NO or parts[2:3] != ["HL70136"]:
            raise Invalid("OBX-5 of 95419-8 must be Y or N of HL7 table 0136")
        return
    try:
        datetime.strptime(value, "%Y%m%d")
    except ValueError:
        raise Invalid(f"OBX-5 of {code} must be a date (YYYYMMDD)") from None


def _validate_result(obx: list[str]) -> None:
    if _field(obx, 2) != "CWE":
        raise Invalid("OBX-2 must be CWE")
    if _field(obx, 3).split("^")[2:3] != ["LN"]:
        raise Invalid("OBX-3 must be a LOINC code")
    if _field(obx, 5).split("^")[2:3] != ["SCT"]:
        raise Invalid("OBX-5 must be a SNOMED CT code")


def _validate_observations(observations: list[list[str]]) -> None:
    """One result OBX per analyte (a multiplex kit has several), then the answers to the
    questions (symptoms), numbered 1, 2, ... across both, all with the same status, no
    analyte and no question twice."""
    codes = [_field(obx, 3).split("^")[0] for obx in observations]
    results = [obx for obx, code in zip(observations, codes, strict=True) if code not in QUESTIONS]
    if not results:
        raise Invalid("at least one result OBX segment is required")
    for number, (obx, code) in enumerate(zip(observations, codes, strict=True), start=1):
        if _field(obx, 1) != str(number):
            raise Invalid("OBX-1 must number the observations 1, 2, ...")
        if _field(obx, 3).split("^")[2:3] != ["LN"]:
            raise Invalid("OBX-3 must be a LOINC code")
        if code in QUESTIONS:
            if number <= len(results):
                raise Invalid("the answers to questions follow the results")
            _validate_question(obx)
        else:
            _validate_result(obx)
        if _field(obx, 11) not in RESULT_STATUSES:
            raise Invalid("OBX-11 must be F, C, D or W")
    if len(set(codes)) != len(codes):
        raise Invalid("an analyte or a question (OBX-3) is reported twice")
    if len({_field(obx, 11) for obx in observations}) != 1:
        raise Invalid("every OBX-11 of one message must be the same")


def patient_traits(raw: str) -> tuple[str, str]:
    """(NIR, birth name) of the message's patient, '' where absent."""
    pid = _segments(raw).get("PID", [[]])[0]
    nir = birth_name = ""
    for identifier in _field(pid, 3).split("~"):
        parts = identifier.split("^")
        if _field(parts, 4) == "INS":
            nir = unescape(parts[0])
    for name in _field(pid, 5).split("~"):
        parts = name.split("^")
        if _field(parts, 6) == "L":
            birth_name = unescape(parts[0].split("&")[0])
    return nir, birth_name


def ack(received: Received, code: str, reason: str = "") -> str:
    """One ACK for one received message (segments end with "\\r")."""
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    header = f"{received.sender}|{now}||ACK^R01^ACK|{uuid.uuid4().hex}|P|{VERSION}"
    segments = [f"MSH|^~\\&|SI-DEP|SI-DEP|{header}", f"MSA|{code}|{received.message_id}"]
    if code != "AA":
        text = escape(reason)
        segments[1] += f"|{text}"
        segments.append(f"ERR|||207^Application internal error^HL70357|E||||{text}")
    return "\r".join(segments) + "\r"
