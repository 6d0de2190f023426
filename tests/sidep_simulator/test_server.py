"""The SI-DEP simulator over real mutual TLS: ACKs, de-duplication, validation, refusals."""

import threading
import time

import httpx
import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from relais.transmission.hl7 import build_oru_r01, parse_acks
from tests.support.factories import CREATED_AT, sample_test
from tests.support.servers import client_context


def message(message_id: str, **test_fields) -> str:
    patient_fields = test_fields.pop("patient_fields", None)
    return build_oru_r01(
        sample_test(patient_fields, **test_fields),
        message_id=message_id,
        result_status=test_fields.pop("status", "F"),
        created_at=CREATED_AT,
    )


def batch(*messages: str) -> str:
    return "\n".join(messages)


def test_happy_path_acknowledges_each_message(sidep, post):
    sent = [
        message(f"HAPPY-{n}", result=result, patient_fields={"identity_status": "QUAL"})
        for n, result in enumerate(["positive", "negative", "invalid"])
    ]
    response = post(sidep, batch(*sent))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/hl7-v2")
    acks = parse_acks(response.text)
    assert [(a.message_id, a.code) for a in acks] == [
        ("HAPPY-0", "AA"),
        ("HAPPY-1", "AA"),
        ("HAPPY-2", "AA"),
    ]
    for raw in response.text.split("\n"):
        assert parse_message(raw, validation_level=VALIDATION_LEVEL.STRICT).validate()
    assert sidep.counts() == {"accepted": 3, "distinct_message_ids": 3, "received": 3}
    dumped = sidep.dump()
    assert dumped.count("\nMSH|^~\\&|Relais|") + dumped.startswith("MSH") == 3
    assert "# HAPPY-0 received" in dumped and "PID|1||285037505612306^" in dumped


def test_duplicate_message_id_is_acknowledged_again_and_stored_once(sidep, post):
    first = message("DUP-1")
    assert parse_acks(post(sidep, first).text)[0].code == "AA"
    # The same id again, alone and then twice in one batch (a resend after a crash).
    assert parse_acks(post(sidep, first).text)[0].code == "AA"
    response = post(sidep, batch(first, message("NEW-1")))
    assert [a.code for a in parse_acks(response.text)] == ["AA", "AA"]
    assert sidep.counts() == {"accepted": 2, "distinct_message_ids": 2, "received": 4}
    assert sidep.dump().count("# DUP-1 ") == 1


INVALID = {
    "bad birth date": lambda m: m.replace("|19850314|", "|1985-03-14|", 1),
    "bad set id": lambda m: m.replace("OBX|1|", "OBX|one|", 1),
    "no observation": lambda m: "\r".join(s for s in m.split("\r") if not s.startswith("OBX")),
    "no specimen coding": lambda m: m.replace("445297001^Swab of internal nose^SCT", "nose", 1),
    "result not SNOMED": lambda m: m.replace("^Not detected^SCT", "^Not detected^L", 1),
    "unknown result status": lambda m: m.replace("||||||F|||", "||||||Z|||", 1),
}
# HL7 v2.5.1 chapter 2: an MSH-9 or MSH-12 the receiver does not take is answered AR.
UNSUPPORTED = {
    "wrong version": lambda m: m.replace("|2.5.1|", "|2.3|", 1),
    "not an ORU": lambda m: m.replace("ORU^R01^ORU_R01", "ADT^A01^ADT_A01", 1),
}


@pytest.mark.parametrize("breakage", list(UNSUPPORTED))
def test_an_unsupported_type_or_version_gets_ar_and_is_not_stored(sidep, post, breakage):
    broken = UNSUPPORTED[breakage](message("ODD-1"))
    good, odd = parse_acks(post(sidep, batch(message("GOOD-1"), broken)).text)
    assert (good.code, odd.message_id, odd.code) == ("AA", "ODD-1", "AR")
    assert odd.text.startswith("unsupported ")
    assert sidep.counts()["accepted"] == 1


@pytest.mark.parametrize("breakage", list(INVALID))
def test_invalid_message_gets_ae_with_the_reason_and_is_not_stored(sidep, post, breakage):
    broken = INVALID[breakage](message("BAD-1"))
    response = post(sidep, batch(message("GOOD-1"), broken))

    assert response.status_code == 200
    good, bad = parse_acks(response.text)
    assert (good.message_id, good.code) == ("GOOD-1", "AA")
    assert (bad.message_id, bad.code) == ("BAD-1", "AE")
    assert bad.text and bad.text != "no reason given"
    assert sidep.counts()["accepted"] == 1


@pytest.mark.slow  # a large batch
def test_oversized_batch_is_refused_with_413(start_sidep, post):
    default = start_sidep()
    small = start_sidep("--max-batch", "3")
    one = message("BIG-0")
    many = [one.replace("BIG-0", f"BIG-{n}", 1) for n in range(101)]

    assert post(default, batch(*many)).status_code == 413
    assert post(small, batch(*many[:4])).status_code == 413
    assert post(small, batch(*many[:3])).status_code == 200
    assert default.counts()["accepted"] == 0
    assert small.counts()["accepted"] == 3


@pytest.mark.parametrize(
    ("body", "content_type", "path", "status"),
    [
        ("", None, None, 400),
        (b"\xff\xfe not utf-8", None, None, 400),
        ("MSH|^~\\&|no|id\r", None, None, 400),
        ("PID|1||x\r", None, None, 400),
        ("hello", "text/plain", None, 415),
        ("hello", None, "/other", 404),
    ],
)
def test_unusable_requests_are_refused_whole(sidep, post, body, content_type, path, status):
    options = {"path": path} if path else {}
    if content_type:
        options["content_type"] = content_type
    assert post(sidep, body, **options).status_code == status
    assert sidep.counts()["accepted"] == 0


def test_client_without_certificate_is_refused(sidep, sidep_certs, post):
    context = client_context(sidep_certs.ca_cert)
    with pytest.raises(httpx.TransportError):
        post(sidep, message("NOCERT-1"), context=context)
    assert sidep.counts()["accepted"] == 0
    assert_refusal_logged(sidep, "PEER_DID_NOT_RETURN_A_CERTIFICATE")


def test_client_certificate_from_another_ca_is_refused(sidep, sidep_certs, foreign_certs, post):
    context = client_context(
        sidep_certs.ca_cert, foreign_certs.client_cert, foreign_certs.client_key
    )
    with pytest.raises(httpx.TransportError):
        post(sidep, message("STRANGER-1"), context=context)
    assert sidep.counts()["accepted"] == 0
    assert_refusal_logged(sidep, "CERTIFICATE_VERIFY_FAILED")


def assert_refusal_logged(sidep, reason: str) -> None:
    """The server logs the refusal once its side of the handshake ends: usually for
    `reason`, but on a loaded machine the client may hang up first (EOF)."""
    deadline = time.monotonic() + 5
    while "TLS handshake refused" not in sidep.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    refused = sidep.log.read_text()
    assert f"TLS handshake refused: {reason}" in refused or (
        "TLS handshake refused: UNEXPECTED_EOF_WHILE_READING" in refused
    )


def test_rejected_patients_get_ae(start_sidep, post):
    """Refusing a patient is about the content: AE (HL7 table 0008), not AR."""
    simulator = start_sidep("--reject-nir", "185057800608491", "--reject-birth-name", "Durand")
    response = post(
        simulator,
        batch(
            message("AE-1", patient_fields={"nir": "185057800608491", "identity_status": "QUAL"}),
            message("AE-2", patient_fields={"nir": "", "birth_name": "DURAND"}),
            message("AA-1"),
        ),
    )
    assert [a.code for a in parse_acks(response.text)] == ["AE", "AE", "AA"]
    assert simulator.counts()["accepted"] == 1


def test_application_rejects_go_to_the_first_new_messages_only(start_sidep, post):
    """AR: the receiver cannot process messages now, whatever they hold; the same
    message sent again once it can is accepted."""
    simulator = start_sidep("--application-reject-count", "2")
    first = parse_acks(post(simulator, batch(message("AR-1"), message("AR-2"))).text)
    assert [(a.code, a.text) for a in first] == [
        ("AR", "the receiver cannot process messages now (injected)")
    ] * 2
    again = parse_acks(post(simulator, batch(message("AR-1"), message("AR-2"))).text)
    assert [a.code for a in again] == ["AA", "AA"]
    assert simulator.counts() == {"accepted": 2, "distinct_message_ids": 2, "received": 2}


@pytest.mark.slow  # several simulator processes
def test_injected_faults(start_sidep, post):
    errors = start_sidep("--error-rate", "1")
    (ack,) = parse_acks(post(errors, message("ERR-1")).text)
    assert (ack.code, ack.text) == ("AE", "injected application error")

    server_errors = start_sidep("--5xx-rate", "1")
    assert post(server_errors, message("5XX-1")).status_code == 503

    drops = start_sidep("--drop-rate", "1")
    with pytest.raises(httpx.RemoteProtocolError):
        post(drops, message("DROP-1"))
    for simulator in [errors, server_errors, drops]:
        assert simulator.counts()["accepted"] == 0


def test_fast_validation_keeps_the_profile_checks_only(start_sidep, post):
    simulator = start_sidep("--fast-validation")
    bad_date = INVALID["bad birth date"](message("FAST-1"))
    no_observation = INVALID["no observation"](message("FAST-2"))
    acks = parse_acks(post(simulator, batch(bad_date, no_observation, message("FAST-3"))).text)
    # hl7apy's datatype check is skipped; the segment and coding rules still apply.
    assert [(a.message_id, a.code) for a in acks] == [
        ("FAST-1", "AA"), ("FAST-2", "AE"), ("FAST-3", "AA"),
    ]  # fmt: skip
    assert acks[1].text == "at least one result OBX segment is required"


def test_injected_http_errors_come_in_turn_with_retry_after_then_stop(start_sidep, post):
    simulator = start_sidep(
        "--http-error", "429", "--http-error", "504", "--http-error-count", "3",
        "--retry-after", "7", "--store-then-error",
    )  # fmt: skip
    answers = [post(simulator, message("GW-1")) for _ in range(4)]
    assert [a.status_code for a in answers] == [429, 504, 429, 200]
    assert {a.headers.get("retry-after") for a in answers[:3]} == {"7"}
    assert answers[0].text == "injected HTTP 429\n"
    # Stored at the first request (the gateway case), then counted, never stored again.
    assert parse_acks(answers[3].text)[0].code == "AA"
    assert simulator.counts() == {"accepted": 1, "distinct_message_ids": 1, "received": 4}


def test_refuse_client_certificate_refuses_the_right_certificate(start_sidep, post):
    simulator = start_sidep("--tls-fault", "refuse-client-certificate")
    with pytest.raises(httpx.TransportError):
        post(simulator, message("TLS-1"))
    assert simulator.counts()["received"] == 0


def test_every_acknowledged_message_survives_killing_the_simulator(sidep, post):
    """An ACK leaves only once its message is committed: killed (SIGKILL, no clean-up)
    right after answering, the simulator has every AA message in its store, and started
    again on the same store it recognises them."""
    sent = [message(f"KEEP-{n}") for n in range(50)]
    acks = parse_acks(post(sidep, batch(*sent)).text)
    sidep.process.kill()
    sidep.process.wait()
    assert [a.code for a in acks] == ["AA"] * 50
    assert sidep.counts() == {"accepted": 50, "distinct_message_ids": 50, "received": 50}

    sidep.start()
    again = parse_acks(post(sidep, batch(*sent[:10], message("KEEP-NEW"))).text)
    assert [a.code for a in again] == ["AA"] * 11
    assert sidep.counts() == {"accepted": 51, "distinct_message_ids": 51, "received": 61}


def test_concurrent_clients_sending_the_same_messages_store_each_once(sidep, post):
    """One thread per client connection, one store: overlapping batches sent at once."""
    shared = [message(f"BOTH-{n}") for n in range(20)]
    answers: dict[int, list[str]] = {}

    def client(number: int) -> None:
        own = [message(f"OWN-{number}-{n}") for n in range(20)]
        response = post(sidep, batch(*own, *shared))
        answers[number] = [a.code for a in parse_acks(response.text)]

    threads = [threading.Thread(target=client, args=(number,)) for number in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == {number: ["AA"] * 40 for number in range(3)}
    assert sidep.counts() == {"accepted": 80, "distinct_message_ids": 80, "received": 120}
