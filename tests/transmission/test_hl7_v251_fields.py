"""Every message kind, each filled field checked against its v2.5.1 length and HL7 table,
and the fields that were over-long or missing, read back from the message."""

import datetime
import uuid

import pytest

from relais.screening import catalogue, devices
from relais.transmission.hl7 import MESSAGE_PROFILE, build_oru_r01, order_id
from relais.transmission.models import new_message_id
from sidep_simulator.messages import Invalid, validate
from tests.support.factories import CREATED_AT, sample_test
from tests.support.hl7_v251 import check_message


def problems(message: str) -> list:
    return check_message(message)


def a_device_of(kind: str) -> devices.Device | None:
    return next((d for d in devices.DEVICES.values() if d.kind == kind and d.active), None)


def with_device(kind: str, **fields):
    device = a_device_of(kind)
    if device is not None:
        fields.update(device_code=device.code, device=device.label)
    return sample_test(kind=kind, **fields)


def every_kind_of_test():
    """(label, test): each single kind on each of its specimens, each multiplex kit."""
    for code, kind in catalogue.TEST_KINDS.items():
        if kind.multiplex:
            others = {analyte.code: "negative" for analyte in kind.analytes[1:]}
            yield code, with_device(code, result="positive", other_results=others,
                                    specimen=kind.specimens[0])  # fmt: skip
        else:
            for specimen in kind.specimens:
                yield f"{code}-{specimen}", with_device(code, result="positive",
                                                        specimen=specimen)  # fmt: skip


TESTS = dict(every_kind_of_test())


def build(test, status="F", message_id=None):
    return build_oru_r01(
        test,
        message_id=message_id or new_message_id(),
        result_status=status,
        created_at=CREATED_AT,
    )


def fields_of(message: str, name: str) -> list[list[str]]:
    return [s.split("|") for s in message.split("\r") if s.startswith(name + "|")]


@pytest.mark.parametrize("status", ["F", "C", "D"])
@pytest.mark.parametrize("label", list(TESTS))
def test_every_field_of_every_kind_of_message_is_within_v251(label, status):
    message = build(TESTS[label], status)

    assert problems(message) == []
    validate(message)  # hl7apy strict, then the simulator's profile rules


def test_the_checker_finds_over_long_fields_and_values_out_of_their_table():
    message = build(sample_test(), message_id="A" * 32)
    message = message.replace("|RE|", "|ZZ|").replace("|P|2.5.1|", "|Q|2.5.1|")

    found = {(where, rule) for where, _value, rule in check_message(message)}

    assert ("MSH-10", "longer than 20") in found
    assert ("ORC-1", "not in HL7 table 0119") in found
    assert ("MSH-11.1", "not in HL7 table 0103") in found


def test_new_message_ids_fit_msh_10_and_differ():
    ids = {new_message_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert {len(message_id) for message_id in ids} == {20}
    message_id = new_message_id()
    msh = fields_of(build(sample_test(), message_id=message_id), "MSH")[0]
    assert msh[9] == message_id


def test_a_message_first_sent_with_a_longer_id_is_sent_again_with_it():
    # Rows made before ids were cut to 20 keep theirs: SI-DEP de-duplicates by MSH-10.
    legacy = uuid.uuid4().hex.upper()
    assert fields_of(build(sample_test(), message_id=legacy), "MSH")[0][9] == legacy


def test_message_profile_is_named_in_msh_21():
    msh = fields_of(build(sample_test()), "MSH")[0]
    assert msh[20] == f"{MESSAGE_PROFILE}^Relais"


def test_order_numbers_are_short_stable_and_distinct():
    test = sample_test()
    message = build(test)
    expected = f"{order_id(test)}^Relais"
    orc, obr = fields_of(message, "ORC")[0], fields_of(message, "OBR")[0]
    assert orc[2] == orc[3] == obr[2] == obr[3] == expected
    assert len(expected) <= 22
    assert order_id(test) == order_id(sample_test(id=test.pk))  # the same test, rebuilt
    assert build(test, "C").count(expected) == 4  # a correction names the same order
    ids = {order_id(sample_test(id=uuid.uuid4())) for _ in range(2000)}
    assert len(ids) == 2000


def test_rt_pcr_on_saliva_is_coded_as_saliva():
    saliva = build(sample_test(kind="sars_cov_2_rt_pcr", specimen="saliva"))
    swab = build(sample_test(kind="sars_cov_2_rt_pcr", specimen="nasopharyngeal_swab"))
    assert fields_of(saliva, "OBR")[0][4].split("^")[0] == "94845-5"
    assert fields_of(saliva, "OBX")[0][3].split("^") == [
        "94845-5",
        "SARS-CoV-2 (COVID-19) RNA [Presence] in Saliva (oral fluid) by NAA with probe detection",
        "LN",
    ]
    assert fields_of(swab, "OBX")[0][3].split("^")[0] == "94500-6"


def test_obx_17_carries_the_catalogue_device_id_and_its_coding_system():
    eu = next(d for d in devices.DEVICES.values() if d.eu_listed)
    french = next(d for d in devices.DEVICES.values() if not d.eu_listed)
    for device, system in [(eu, "99DCC"), (french, "99RLS")]:
        others = {a.code: "negative" for a in catalogue.TEST_KINDS[device.kind].analytes[1:]}
        test = sample_test(kind=device.kind, specimen=device.specimens[0],
                           device_code=device.code, device=device.label,
                           other_results=others)  # fmt: skip
        message = build(test)
        for obx in fields_of(message, "OBX")[:-1]:  # the results, not "symptomatic: no"
            code, text, coding = obx[17].split("^")
            assert (code, coding) == (device.code, system)
            assert text and device.label.startswith(text.replace("\\T\\", "&")[:20])
        assert problems(message) == []


def test_obx_17_of_an_unlisted_device_is_its_text_only():
    message = build(sample_test(device="Home-made kit", device_code=""))
    assert fields_of(message, "OBX")[0][17] == "^Home-made kit"
    assert "^" not in fields_of(build(sample_test(device="", device_code="")), "OBX")[0][17]


def test_a_long_device_label_is_cut_to_fit_ce_2():
    message = build(sample_test(device="x&" * 150, device_code=""))
    assert len(fields_of(message, "OBX")[0][17]) <= 250
    assert problems(message) == []


# --- Symptoms ------------------------------------------------------------------------------

ONSET = datetime.date(2026, 11, 20)


def test_symptoms_and_their_onset_are_sent_after_the_results():
    others = {"influenza_b_antigen": "negative"}
    test = sample_test(kind="influenza_ab_antigen", other_results=others, symptoms=True,
                       symptom_onset=ONSET)  # fmt: skip
    message = build(test, "C")

    observations = fields_of(message, "OBX")
    assert [obx[1] for obx in observations] == ["1", "2", "3", "4"]
    symptomatic, onset = observations[2], observations[3]
    assert symptomatic[2:6] == [
        "CWE",
        "95419-8^Whether the patient has symptoms related to condition of interest^LN",
        "",
        "Y^Yes^HL70136",
    ]
    assert onset[2:6] == ["DT", "65222-2^Date and time of symptom onset^LN", "", "20261120"]
    assert {obx[11] for obx in observations} == {"C"}
    assert problems(message) == []
    validate(message)


def test_no_symptoms_is_sent_as_no_without_an_onset():
    message = build(sample_test(symptoms=False, symptom_onset=None))
    observations = fields_of(message, "OBX")
    assert [obx[3].split("^")[0] for obx in observations] == ["94558-4", "95419-8"]
    assert observations[1][5] == "N^No^HL70136"
    validate(message)


def test_a_correction_of_only_the_onset_date_changes_the_message():
    test = sample_test(symptoms=True, symptom_onset=ONSET)
    before = build(test, "C", message_id="M" * 20)
    test.symptom_onset = ONSET - datetime.timedelta(days=2)
    after = build(test, "C", message_id="M" * 20)
    assert before != after
    assert fields_of(after, "OBX")[-1][5] == "20261118"


def replace_obx(message: str, number: int, change) -> str:
    segments = message.split("\r")
    found = [i for i, s in enumerate(segments) if s.startswith(f"OBX|{number}|")]
    segments[found[0]] = change(segments[found[0]])
    return "\r".join(segments)


BROKEN_QUESTIONS = {
    "yes-no not of table 0136": (lambda s: s.replace("Y^Yes^HL70136", "Y^Yes^L"), "0136"),
    "yes-no neither Y nor N": (lambda s: s.replace("Y^Yes^HL70136", "U^Unknown^HL70136"), "0136"),
    "onset not a date": (lambda s: s.replace("|20261120|", "|20261340|"), "a date"),
    "onset as text": (lambda s: s.replace("|DT|", "|CWE|"), "must be DT"),
}


@pytest.mark.parametrize("breakage", list(BROKEN_QUESTIONS))
def test_the_simulator_checks_the_answers(breakage):
    change, reason = BROKEN_QUESTIONS[breakage]
    message = build(sample_test(symptoms=True, symptom_onset=ONSET))
    number = 2 if "yes-no" in breakage else 3
    with pytest.raises(Invalid, match=reason):
        validate(replace_obx(message, number, change), strict=False)


def test_the_simulator_keeps_one_result_obx_per_analyte_and_answers_after_them():
    message = build(sample_test(symptoms=True, symptom_onset=ONSET))
    segments = message.split("\r")
    obx = [i for i, s in enumerate(segments) if s.startswith("OBX|")]
    result, symptomatic, onset = (segments[i] for i in obx)
    questions_only = [s for s in segments if s not in (result,)]
    renumbered = "\r".join(questions_only).replace("OBX|2|", "OBX|1|").replace("OBX|3|", "OBX|2|")
    with pytest.raises(Invalid, match="at least one result OBX"):
        validate(renumbered, strict=False)
    swapped = list(segments)
    swapped[obx[0]] = symptomatic.replace("OBX|2|", "OBX|1|", 1)
    swapped[obx[1]] = result.replace("OBX|1|", "OBX|2|", 1)
    with pytest.raises(Invalid, match="follow the results"):
        validate("\r".join(swapped), strict=False)
    twice = list(segments)
    twice[obx[2]] = symptomatic.replace("OBX|2|", "OBX|3|", 1)
    with pytest.raises(Invalid, match="twice"):
        validate("\r".join(twice), strict=False)


# --- One message of every kind -------------------------------------------------------------

QUALIFIED_NIR = {"identity_status": "QUAL"}
NIA = "885039912345613"  # a temporary number (first digit 8), valid key
BORN_IN_REUNION = {"birthplace_code": "97411", "nir": "285039741112314"}  # Saint-Denis
BORN_ABROAD = {"birthplace_code": "99350", "nir": "185039935012394", "sex": "M"}  # Morocco
OVERSEAS_MOBILE = {"phone": "+262692123456"}


def every_kind_of_message():
    """(label, test, result status): each catalogue analyte on each of its specimens and
    each multiplex kit, then each status, identity and patient the encoder treats apart."""
    for label, test in TESTS.items():
        yield label, test, "F"
    yield "correction", sample_test(result="negative"), "C"
    yield "cancelled (entered in error)", sample_test(), "D"
    yield "cancelled (wrong patient)", sample_test(), "W"
    for status in ("PROV", "VALI"):
        yield f"identity {status}, NIR not sent", sample_test({"identity_status": status}), "F"
    yield "qualified INS (NIR)", sample_test(QUALIFIED_NIR), "F"
    yield "qualified INS (NIA)", sample_test({**QUALIFIED_NIR, "nir": NIA}), "F"
    yield "NIA not qualified", sample_test({"nir": NIA}), "F"
    yield "no NIR", sample_test({"nir": ""}), "F"
    yield "born overseas (Réunion)", sample_test({**QUALIFIED_NIR, **BORN_IN_REUNION}), "F"
    yield "born abroad", sample_test({**QUALIFIED_NIR, **BORN_ABROAD}), "F"
    yield "overseas mobile", sample_test(OVERSEAS_MOBILE), "F"
    yield "symptoms with onset", sample_test(symptoms=True, symptom_onset=ONSET), "F"
    yield "symptoms, onset unknown", sample_test(symptoms=True, symptom_onset=None), "F"
    yield "performer without RPPS", sample_test(pharmacist_fields={"rpps": ""}), "F"


def component(field: str, number: int) -> str:
    parts = field.split("^")
    return parts[number - 1] if len(parts) >= number else ""


def test_one_message_of_every_kind_fits_v251_and_passes_hl7apy_strict():
    messages = {}
    for label, test, status in every_kind_of_message():
        message = build(test, status)
        assert problems(message) == [], label
        validate(message)  # hl7apy strict, then the simulator's profile rules
        messages[label] = message

    def pid(label):
        return fields_of(messages[label], "PID")[0]

    def identifiers(label):
        return [component(cx, 4) for cx in pid(label)[3].split("~")]

    # Every analyte of the catalogue, every status.
    results = {component(obx[3], 1) for m in messages.values() for obx in fields_of(m, "OBX")}
    orders = {component(obr[4], 1) for m in messages.values() for obr in fields_of(m, "OBR")}
    for kind in catalogue.TEST_KINDS.values():
        if kind.multiplex:  # the panel names the order; each analyte has its OBX
            assert (kind.loinc or kind.local_code) in orders, kind.code
            assert {a.loinc for a in kind.analytes} <= results, kind.code
            continue
        for specimen in kind.specimens:
            assert kind.observation(specimen)[0] in results, (kind.code, specimen)
    statuses = {obx[11] for m in messages.values() for obx in fields_of(m, "OBX")}
    assert statuses == {"F", "C", "D", "W"}
    assert fields_of(messages["cancelled (wrong patient)"], "OBR")[0][25] == "X"

    # The INS goes out for a qualified identity only, under its own OID.
    not_qualified = {
        "identity PROV, NIR not sent": "PROV",
        "identity VALI, NIR not sent": "VALI",
        "NIA not qualified": "PROV",
    }
    for label, status in not_qualified.items():
        assert identifiers(label) == ["RELAIS"], label
        assert pid(label)[32] == status, label
    assert identifiers("qualified INS (NIR)")[0] == "ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO"
    assert identifiers("qualified INS (NIA)")[0] == "ASIP-SANTE-INS-NIA&1.2.250.1.213.1.4.9&ISO"
    assert {pid(label)[32] for label in messages} == {"PROV", "VALI", "QUAL"}

    # Birthplaces: an address of type BDL with the INSEE code, overseas and abroad alike.
    for label, code in [("born overseas (Réunion)", "97411"), ("born abroad", "99350")]:
        birthplace = pid(label)[11].split("~")[-1]
        assert (component(birthplace, 7), component(birthplace, 9)) == ("BDL", code)
    assert pid("overseas mobile")[13].split("~")[0].endswith("^+262692123456")

    # Symptoms: yes with its onset, yes without, and no.
    def answers(label):
        return [(component(o[3], 1), o[5]) for o in fields_of(messages[label], "OBX")[-2:]]

    assert answers("symptoms with onset") == [("95419-8", "Y^Yes^HL70136"), ("65222-2", "20261120")]
    assert answers("symptoms, onset unknown")[-1] == ("95419-8", "Y^Yes^HL70136")
    assert answers("correction")[-1] == ("95419-8", "N^No^HL70136")

    # The performer: the RPPS under its authority, or the name alone.
    orc = fields_of(messages["correction"], "ORC")[0]
    assert component(orc[12], 1) == "10001234567" and component(orc[12], 13) == "RPPS"
    without = messages["performer without RPPS"]
    for segment, number in [("ORC", 12), ("OBR", 16), ("OBX", 25)]:
        assert fields_of(without, segment)[0][number] == "^Jean Dupont", segment
