"""Building ORU^R01 messages, checked field by field and by hl7apy's strict validation."""

import datetime

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from relais.screening import catalogue
from relais.screening.models import IdentityStatus, ScreeningTest
from relais.transmission import hl7
from relais.transmission.hl7 import (
    OID_FINESS,
    OID_INS_NIA,
    OID_INS_NIR,
    OID_RPPS,
    Ack,
    AckError,
    build_oru_r01,
    escape,
    parse_acks,
    patient_id,
    unescape,
)
from sidep_simulator.messages import QUESTIONS, Invalid, validate
from tests.support.factories import CREATED_AT, make_patient, make_test, sample_test

MESSAGE_ID = "0F3C2B1A9E8D4C7B8A6F5E4D3C2B1A09"
HOSTILE = "O'Brien | Smith ^ Jr ~ & Co \\ end\rOBX|9|ST\nnew line\r\n\ttab"


def build(test, status="F", message_id=MESSAGE_ID):
    return build_oru_r01(test, message_id=message_id, result_status=status, created_at=CREATED_AT)


def strictly_valid(message: str) -> bool:
    parsed = parse_message(message, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    return parsed.validate()


def segment(message: str, name: str) -> list[str]:
    found = [s.split("|") for s in message.split("\r") if s.startswith(name + "|")]
    if name == "OBX":  # the result: the answers to the symptom questions follow it
        found = [obx for obx in found if obx[3].split("^")[0] not in QUESTIONS]
    assert len(found) == 1, f"expected one {name} segment"
    return found[0]


def field(message: str, name: str, number: int) -> str:
    fields = segment(message, name)
    # MSH-1 is the separator itself: MSH-n is at index n-1.
    index = number - 1 if name == "MSH" else number
    return fields[index] if index < len(fields) else ""


SINGLE_KINDS = [code for code, kind in catalogue.TEST_KINDS.items() if not kind.multiplex]
MULTIPLEX_KINDS = [code for code, kind in catalogue.TEST_KINDS.items() if kind.multiplex]
KINDS_AND_RESULTS = [(kind, result) for kind in SINGLE_KINDS for result in catalogue.RESULTS]


@pytest.mark.parametrize(("kind", "result"), KINDS_AND_RESULTS)
def test_every_kind_and_result_builds_a_strictly_valid_message(kind, result):
    info = catalogue.TEST_KINDS[kind]
    specimen = catalogue.SPECIMENS[info.specimens[0]]
    message = build(sample_test(kind=kind, result=result, specimen=specimen.code))

    assert strictly_valid(message)
    assert [s[:3] for s in message.split("\r") if s] == [
        "MSH", "SFT", "PID", "ORC", "OBR", "OBX", "OBX", "SPM",
    ]  # fmt: skip
    assert message.endswith("\r") and "\n" not in message
    assert field(message, "OBR", 4).split("^") == [info.loinc, info.loinc_display, "LN"]
    assert field(message, "OBX", 2) == "CWE"
    assert field(message, "OBX", 3).split("^") == [info.loinc, info.loinc_display, "LN"]
    expected = catalogue.RESULTS[result]
    assert field(message, "OBX", 5).split("^") == [expected.snomed, expected.snomed_display, "SCT"]
    assert field(message, "OBX", 11) == "F"
    assert field(message, "OBR", 25) == "F"
    assert field(message, "SPM", 4).split("^") == [specimen.snomed, specimen.snomed_display, "SCT"]


@pytest.mark.parametrize("kind", MULTIPLEX_KINDS)
def test_a_multiplex_kit_sends_one_message_with_one_obx_per_analyte(kind):
    info = catalogue.TEST_KINDS[kind]
    readings = ["positive", "negative", "invalid", "negative"][: len(info.analytes)]
    others = {a.code: r for a, r in zip(info.analytes[1:], readings[1:], strict=True)}
    test = sample_test(
        kind=kind, result=readings[0], other_results=others, specimen=info.specimens[0]
    )

    message = build(test, status="C")

    assert strictly_valid(message)
    validate(message)  # the simulator's own profile rules
    observations = [
        obx
        for obx in (s.split("|") for s in message.split("\r") if s.startswith("OBX|"))
        if obx[3].split("^")[0] not in QUESTIONS
    ]
    order = (
        [info.loinc, info.loinc_display, "LN"]
        if info.loinc
        else [info.local_code, info.loinc_display, "99RLS"]
    )
    assert field(message, "OBR", 4).split("^") == order
    assert [obx[1] for obx in observations] == [str(n) for n in range(1, len(readings) + 1)]
    assert [obx[3].split("^")[0] for obx in observations] == [a.loinc for a in info.analytes]
    assert [obx[5].split("^")[0] for obx in observations] == [
        catalogue.RESULTS[r].snomed for r in readings
    ]
    assert {obx[11] for obx in observations} == {"C"}


def test_the_simulator_refuses_an_analyte_reported_twice():
    test = sample_test(kind="influenza_ab_antigen", result="positive")
    test.other_results = {"influenza_b_antigen": "negative"}
    message = build(test).replace("80383-3^", "80382-5^")
    with pytest.raises(Invalid, match="twice"):
        validate(message)


@pytest.mark.parametrize("specimen", list(catalogue.SPECIMENS))
def test_every_specimen_is_coded_in_snomed(specimen):
    message = build(sample_test(kind="sars_cov_2_rt_pcr", specimen=specimen))
    assert strictly_valid(message)
    assert field(message, "SPM", 4).startswith(catalogue.SPECIMENS[specimen].snomed + "^")


@pytest.mark.parametrize(("status", "order_status"), [("F", "F"), ("C", "C"), ("D", "X")])
def test_final_correction_and_cancellation(status, order_status):
    message = build(sample_test(result="positive"), status=status)
    assert strictly_valid(message)
    assert field(message, "OBX", 11) == status
    assert field(message, "OBR", 25) == order_status
    # A cancellation still names the result it withdraws.
    assert field(message, "OBX", 5).startswith("260373001^")


def test_message_header():
    message = build(sample_test())
    assert message.startswith("MSH|^~\\&|Relais|")
    assert field(message, "MSH", 4) == f"750000001^{OID_FINESS}^ISO"
    assert field(message, "MSH", 5) == "SI-DEP"
    assert field(message, "MSH", 6) == "SI-DEP"
    assert field(message, "MSH", 7) == "20261123100512+0100"
    assert field(message, "MSH", 9) == "ORU^R01^ORU_R01"
    assert field(message, "MSH", 10) == MESSAGE_ID
    assert field(message, "MSH", 12) == "2.5.1"
    assert field(message, "SFT", 3) == "Relais"


def test_same_transmission_gives_the_same_message():
    test = sample_test()
    assert build(test) == build(test)
    assert field(build(test, message_id="OTHER-1"), "MSH", 10) == "OTHER-1"


def test_patient_identity():
    test = sample_test(patient_fields={"identity_status": "QUAL"})
    message = build(test)
    identifiers = field(message, "PID", 3).split("~")
    assert identifiers == [
        f"285037505612306^^^ASIP-SANTE-INS-NIR&{OID_INS_NIR}&ISO^INS",
        f"{patient_id(test.patient)}^^^RELAIS^PI",
    ]
    assert field(message, "PID", 5).split("~") == [
        "Lefèvre^Élodie^Élodie Anne^^^^L",
        "Martin^Élodie^Élodie Anne^^^^D",
    ]
    assert field(message, "PID", 7) == "19850314"
    assert field(message, "PID", 8) == "F"
    assert field(message, "PID", 11).split("~") == [
        "12 rue des Lilas^^Paris^^75011^FRA^H",
        "^^^^^^BDL^^75056",
    ]
    assert field(message, "PID", 32) == "QUAL"
    assert field(message, "PID", 13).split("~") == [
        "^PRN^PH^^^^^^^^^+33612345678",
        "^NET^Internet^elodie.lefevre@example.org",
    ]
    assert field(message, "PID", 23) == ""  # the birthplace is the BDL address


def test_patient_without_nir_used_name_birthplace_or_contact():
    patient = {
        "nir": "", "used_name": "", "birthplace_code": "", "phone": "", "email": "",
        "sex": "U", "address": "", "postal_code": "", "city": "", "given_names": "Jean",
    }  # fmt: skip
    message = build(sample_test(patient_fields=patient))
    assert strictly_valid(message)
    assert field(message, "PID", 3).endswith("^^^RELAIS^PI")
    assert "INS" not in field(message, "PID", 3)
    assert field(message, "PID", 5) == "Lefèvre^Jean^Jean^^^^L"
    assert field(message, "PID", 8) == "U"
    assert field(message, "PID", 11) == ""
    assert field(message, "PID", 13) == ""
    assert field(message, "PID", 23) == ""
    assert field(message, "PID", 32) == "PROV"


def test_used_name_equal_to_birth_name_is_not_repeated():
    message = build(sample_test(patient_fields={"used_name": "LEFÈVRE"}))
    assert field(message, "PID", 5) == "Lefèvre^Élodie^Élodie Anne^^^^L"


def test_ordering_and_performing_pharmacy_and_pharmacist():
    message = build(sample_test(device="Demo AG Rapid"))
    pharmacy = f"Pharmacie des Lilas^^^^^FINESS&{OID_FINESS}&ISO^FINEG^^^750000001"
    pharmacist = f"10001234567^Jean Dupont^^^^^^^ASIP-SANTE-PS&{OID_RPPS}&ISO^D^^^RPPS"
    assert field(message, "ORC", 21) == pharmacy
    assert field(message, "ORC", 12) == pharmacist
    assert field(message, "OBR", 16) == pharmacist
    assert field(message, "OBX", 23) == pharmacy
    assert field(message, "OBX", 24) == "1 rue de Test"
    assert field(message, "OBX", 25) == pharmacist
    assert field(message, "OBX", 17) == "^Demo AG Rapid"
    assert field(message, "OBR", 7) == "20261123093000+0100"
    assert field(message, "SPM", 17) == "20261123093000+0100"


def test_sample_time_is_written_in_local_time_with_its_offset():
    summer = datetime.datetime(2026, 7, 1, 6, 0, tzinfo=datetime.UTC)
    message = build(sample_test(sampled_at=summer))
    assert field(message, "OBR", 7) == "20260701080000+0200"


def test_a_formatted_time_follows_the_time_zone_setting_it_was_formatted_in(settings):
    """Formatted times are remembered (a message repeats them): per instant and zone."""
    summer = datetime.datetime(2026, 7, 1, 6, 0, tzinfo=datetime.UTC)
    same_instant = summer.astimezone(datetime.timezone(datetime.timedelta(hours=-5)))
    assert field(build(sample_test(sampled_at=summer)), "OBR", 7) == "20260701080000+0200"
    settings.TIME_ZONE = "UTC"
    assert field(build(sample_test(sampled_at=same_instant)), "OBR", 7) == ("20260701060000+0000")


def test_one_message_formats_each_time_and_hashes_each_id_once(settings):
    """The creation time is written three times and the sampling time up to five; the
    order id twice: each is computed once (CPU of the worker's per-message path)."""
    hl7._local_timestamp.cache_clear()
    hl7.short_id.cache_clear()
    build(sample_test(symptoms=True, symptom_onset=datetime.date(2026, 11, 20)))
    assert hl7._local_timestamp.cache_info().misses == 2
    assert hl7._local_timestamp.cache_info().hits >= 6
    assert hl7.short_id.cache_info().misses == 2  # the test's and the patient's
    assert hl7.short_id.cache_info().hits == 1


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("|", "\\F\\"),
        ("^", "\\S\\"),
        ("~", "\\R\\"),
        ("\\", "\\E\\"),
        ("&", "\\T\\"),
        ("\r", "\\X0D\\"),
        ("\n", "\\X0A\\"),
        ("\t", "\\X09\\"),
        ("Élodie", "Élodie"),
    ],
)
def test_escape_each_delimiter(raw, escaped):
    assert escape(raw) == escaped
    assert unescape(escaped) == raw


def test_escape_round_trip_of_a_hostile_value():
    assert unescape(escape(HOSTILE)) == HOSTILE
    assert not set("|^~&\r\n") & set(escape(HOSTILE))


def test_delimiters_in_names_and_addresses_are_escaped_and_stay_valid():
    test = sample_test(
        patient_fields={
            "birth_name": HOSTILE, "used_name": "A^B", "given_names": "Jean~Paul &Marie",
            "address": "3 rue | Pipe\nBât. B", "city": "Saint-Denis \\ Nord", "email": "a&b@x.org",
        },
        pharmacy_fields={"name": "Pharmacie ^ & ~ |", "address": "Place\r\nCentrale"},
        pharmacist_fields={"full_name": "Marie | Curie"},
        device="Kit\\v2|beta",
    )  # fmt: skip
    message = build(test)

    assert strictly_valid(message)
    # Nothing the patient typed can add or cut a segment.
    assert [s[:3] for s in message.split("\r") if s] == [
        "MSH", "SFT", "PID", "ORC", "OBR", "OBX", "OBX", "SPM",
    ]  # fmt: skip
    birth_name, used_name = field(message, "PID", 5).split("~")
    assert unescape(birth_name.split("^")[0]) == HOSTILE
    assert unescape(used_name.split("^")[0]) == "A^B"
    assert [unescape(v) for v in birth_name.split("^")[1:3]] == ["Jean~Paul", "Jean~Paul &Marie"]
    address = field(message, "PID", 11).split("~")[0].split("^")
    assert unescape(address[0]) == "3 rue | Pipe\nBât. B"
    assert unescape(address[2]) == "Saint-Denis \\ Nord"
    assert unescape(field(message, "PID", 13).split("~")[1].split("^")[3]) == "a&b@x.org"
    assert unescape(field(message, "ORC", 21).split("^")[0]) == "Pharmacie ^ & ~ |"
    assert unescape(field(message, "OBX", 24)) == "Place\r\nCentrale"
    assert unescape(field(message, "OBX", 25).split("^")[1]) == "Marie | Curie"
    assert unescape(field(message, "OBX", 17).split("^")[1]) == "Kit\\v2|beta"


# --- The patient's identity: INS only when qualified ---------------------------------------

# A NIA (temporary number: first digit 7 for a man, 8 for a woman) with its key.
NIA = "885037505612394"


def identity_fields(message: str) -> dict[str, str]:
    return {f"PID-{n}": field(message, "PID", n) for n in (3, 5, 11, 23, 32)}


def test_a_qualified_identity_goes_with_its_ins_under_the_ins_nir_oid():
    test = sample_test(patient_fields={"identity_status": "QUAL"})
    message = build(test)
    assert strictly_valid(message)
    ins, own = field(message, "PID", 3).split("~")
    number, _, _, authority, kind = ins.split("^")
    assert (number, authority, kind) == (
        "285037505612306",
        f"ASIP-SANTE-INS-NIR&{OID_INS_NIR}&ISO",
        "INS",
    )
    assert own == f"{patient_id(test.patient)}^^^RELAIS^PI"
    assert field(message, "PID", 32) == "QUAL"


@pytest.mark.parametrize("status", ["VALI", "PROV"])
def test_an_identity_not_qualified_goes_as_its_traits_and_status_without_the_nir(status):
    test = sample_test(patient_fields={"identity_status": status})
    message = build(test)
    assert strictly_valid(message)
    assert identity_fields(message) == {
        "PID-3": f"{patient_id(test.patient)}^^^RELAIS^PI",
        "PID-5": "Lefèvre^Élodie^Élodie Anne^^^^L~Martin^Élodie^Élodie Anne^^^^D",
        "PID-11": "12 rue des Lilas^^Paris^^75011^FRA^H~^^^^^^BDL^^75056",
        "PID-23": "",
        "PID-32": status,
    }
    assert "285037505612306" not in message
    assert field(message, "PID", 7) == "19850314"
    assert field(message, "PID", 8) == "F"


def test_a_record_from_before_the_status_is_provisional():
    test = sample_test(patient_fields={"identity_status": ""})
    message = build(test)
    assert field(message, "PID", 32) == "PROV"
    assert "INS" not in field(message, "PID", 3)


def test_a_qualified_nia_goes_under_the_ins_nia_oid():
    test = sample_test(patient_fields={"identity_status": "QUAL", "nir": NIA})
    message = build(test)
    assert strictly_valid(message)
    ins = field(message, "PID", 3).split("~")[0].split("^")
    assert ins[0] == NIA
    assert ins[3] == f"ASIP-SANTE-INS-NIA&{OID_INS_NIA}&ISO"
    assert OID_INS_NIR not in message
    assert ins[4] == "INS"


@pytest.mark.parametrize(
    ("code", "place"),
    [("99350", "abroad (Morocco)"), ("97411", "overseas (Saint-Denis, La Réunion)")],
)
def test_the_birthplace_is_a_bdl_address_with_its_insee_code(code, place):
    test = sample_test(
        patient_fields={
            "identity_status": "VALI", "birthplace_code": code,
            "address": "", "postal_code": "", "city": "",
        }
    )  # fmt: skip
    message = build(test)
    assert strictly_valid(message), place
    birthplace = field(message, "PID", 11).split("^")
    assert birthplace[6] == "BDL"  # XAD-7, table 0190: birth delivery location
    assert birthplace[8] == code  # XAD-9, county/parish code: the INSEE code
    assert len(birthplace) == 9
    assert field(message, "PID", 23) == ""


def test_several_birth_given_names_go_whole_with_the_first_apart():
    test = sample_test(patient_fields={"given_names": "Marie  Élodie Anne-Sophie", "used_name": ""})
    message = build(test)
    assert strictly_valid(message)
    family, first, given, *rest = field(message, "PID", 5).split("^")
    assert (family, first, given) == ("Lefèvre", "Marie", "Marie Élodie Anne-Sophie")
    assert rest == ["", "", "", "L"]


def test_every_identity_status_is_a_french_table_0445_code():
    # Table 0445 (user-defined in HL7): France's codes, the RNIV statuses (FR Core
    # fr-core-cs-identity-status); PID-32 is an IS of at most 20 characters in v2.5.1.
    for status in IdentityStatus.values:
        value = field(build(sample_test(patient_fields={"identity_status": status})), "PID", 32)
        assert value in {"PROV", "VALI", "RECUP", "QUAL"}
        assert len(value) <= 20


@pytest.mark.parametrize("status", ["", "X", "f", "A"])
def test_unknown_result_status_is_refused(status):
    with pytest.raises(ValueError, match="result_status"):
        build(sample_test(), status=status)


@pytest.mark.parametrize("message_id", ["", "a|b", "a^b", "id\r", "x" * 65, None])
def test_message_id_must_be_safe(message_id):
    with pytest.raises(ValueError, match="message_id"):
        build(sample_test(), message_id=message_id)


@pytest.mark.django_db
def test_message_from_a_saved_record(pharmacy, pharmacist):
    pharmacist.rpps = "10009876543"
    pharmacist.save()
    saved = make_test(make_patient(pharmacy, pharmacist), pharmacist, result="positive")
    test = ScreeningTest.objects.select_related("patient", "pharmacy", "performed_by").get(
        pk=saved.pk
    )
    message = build(test)
    assert strictly_valid(message)
    assert field(message, "PID", 5).startswith("Lefèvre^Élodie^Élodie Anne^")
    # A provisional identity (the default) goes without its INS.
    assert field(message, "PID", 3) == f"{patient_id(test.patient)}^^^RELAIS^PI"
    assert field(message, "PID", 32) == "PROV"
    assert field(message, "ORC", 12).startswith("10009876543^")
    assert field(message, "OBX", 5).startswith("260373001^")
    assert field(message, "MSH", 4).startswith(pharmacy.finess + "^")


# --- Acknowledgements ------------------------------------------------------------------


def ack(code="AA", message_id=MESSAGE_ID, msa_text="", err_text=None, header=None):
    msh = (
        header
        or "MSH|^~\\&|SI-DEP|SI-DEP|Relais|750000001|20261123100600+0000||ACK^R01^ACK|A1|P|2.5.1"
    )
    segments = [msh, f"MSA|{code}|{message_id}" + (f"|{msa_text}" if msa_text else "")]
    if err_text is not None:
        segments.append(f"ERR|||207^Application internal error^HL70357|E||||{err_text}")
    return "\r".join(segments) + "\r"


def test_parse_acks_of_each_kind():
    body = "\n".join(
        [
            ack("AA", "M-1"),
            ack("AE", "M-2", msa_text="short", err_text="PID-7 \\T\\ PID-8 are missing"),
            ack("AR", "M-3", msa_text="refused \\F\\ patient"),
        ]
    )
    assert parse_acks(body + "\n") == [
        Ack("M-1", "AA", ""),
        Ack("M-2", "AE", "PID-7 & PID-8 are missing"),
        Ack("M-3", "AR", "refused | patient"),
    ]


def test_ack_reason_is_made_plain_and_bounded():
    (parsed,) = parse_acks(ack("AE", err_text="bad\\X0D\\\\X0A\\value\x07 " + "x" * 1000))
    assert parsed.text.startswith("bad value ")
    assert len(parsed.text) == 300
    assert parsed.text.isprintable()
    (parsed,) = parse_acks(ack("AR"))
    assert parsed.text == "no reason given"


def test_ack_with_windows_line_endings_between_messages():
    body = ack("AA", "M-1") + "\r\n" + ack("AA", "M-2")
    assert [a.message_id for a in parse_acks(body)] == ["M-1", "M-2"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("<html>Bad gateway</html>", "MSH"),
        ("MSH|garbage", "MSH"),
        (
            ack(header="MSH|^~\\&|SI-DEP|SI-DEP|Relais|F|20261123||ORU^R01^ORU_R01|A1|P|2.5.1"),
            "ACK",
        ),
        (ack(header="MSH|^~\\&|SI-DEP|SI-DEP|Relais|F|20261123||ACK|A1|P|2.3"), "2.5.1"),
        (ack(header="MSH|^~\\&|SI-DEP"), "ACK"),
        ("MSH|^~\\&|S|S|R|F|2026||ACK|A1|P|2.5.1\r", "one MSA"),
        (ack() + "MSA|AA|OTHER\r", "one MSA"),
        (ack(code="CA"), "MSA-1"),
        (ack(code=""), "MSA-1"),
        (ack(message_id=""), "MSA-2"),
        (ack(message_id="A^B"), "MSA-2"),
        (ack(message_id="x" * 65), "MSA-2"),
        (ack() + "\n" + ack(code="AE", err_text="x"), "second acknowledgement"),
        (ack() + "msa|AA|B\r", "segment name"),
        (ack().replace("\r", "\r\x00\r", 1), "segment name"),
    ],
)
def test_malformed_acks_are_refused(body, reason):
    with pytest.raises(AckError, match=reason):
        parse_acks(body)
