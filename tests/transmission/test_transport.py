"""send_batch against the real simulator process over mutual TLS, and its failure classes."""

import datetime
import os
import ssl
import time

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured

from relais.transmission import transport
from relais.transmission.certs import make_certs
from relais.transmission.hl7 import Ack, AckError, build_oru_r01
from relais.transmission.transport import ClientError, ServerError, TransportError, send_batch
from tests.support.factories import CREATED_AT, sample_test


def message(message_id: str, patient_fields=None, **test_fields) -> str:
    return build_oru_r01(
        sample_test(patient_fields, **test_fields),
        message_id=message_id,
        result_status="F",
        created_at=CREATED_AT,
    )


def test_happy_path(sidep):
    acks = send_batch([message("T-1"), message("T-2", result="positive"), message("T-3")])
    assert [(a.message_id, a.code) for a in acks] == [("T-1", "AA"), ("T-2", "AA"), ("T-3", "AA")]
    assert sidep.counts()["accepted"] == 3


def test_resending_a_batch_is_acknowledged_and_stored_once(sidep):
    batch = [message("R-1"), message("R-2")]
    assert [a.code for a in send_batch(batch)] == ["AA", "AA"]
    assert [a.code for a in send_batch(batch)] == ["AA", "AA"]
    assert sidep.counts() == {"accepted": 2, "distinct_message_ids": 2, "received": 4}


def tls_connections(sidep) -> int:
    return sidep.log.read_text().count("TLS connection from")


def test_batches_share_one_kept_tls_connection(sidep, settings):
    for number in range(3):
        assert [a.code for a in send_batch([message(f"KEEP-{number}")])] == ["AA"]
    assert tls_connections(sidep) == 1
    # A renewed client certificate (the file changes) is used from the next batch on.
    stat = os.stat(settings.SIDEP_CLIENT_CERT)
    os.utime(settings.SIDEP_CLIENT_CERT, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert [a.code for a in send_batch([message("KEEP-3")])] == ["AA"]
    assert tls_connections(sidep) == 2


def test_simulator_down_then_up(sidep):
    sidep.stop()
    started = time.monotonic()
    with pytest.raises(TransportError, match="no answer"):
        send_batch([message("DOWN-1")])
    assert time.monotonic() - started < 2
    sidep.start()
    assert send_batch([message("DOWN-1")]) == [Ack("DOWN-1", "AA", "")]


def test_server_error_is_distinct(start_sidep):
    simulator = start_sidep("--5xx-rate", "1")
    with pytest.raises(ServerError) as raised:
        send_batch([message("5XX-1")])
    assert raised.value.status == 503
    assert simulator.counts()["accepted"] == 0


@pytest.mark.slow  # many retries
def test_thirty_percent_server_errors_are_overcome_by_retrying(start_sidep):
    simulator = start_sidep("--5xx-rate", "0.3", "--seed", "7")
    server_errors = 0
    for number in range(20):
        for _attempt in range(10):
            try:
                assert send_batch([message(f"FLAKY-{number}")])[0].code == "AA"
                break
            except ServerError:
                server_errors += 1
        else:
            pytest.fail("a message was never acknowledged")
    assert server_errors > 0
    assert simulator.counts() == {"accepted": 20, "distinct_message_ids": 20, "received": 20}


def test_latency_beyond_the_read_timeout_fails_quickly(start_sidep, settings):
    start_sidep("--latency", "5")
    settings.SIDEP_READ_TIMEOUT = 0.5
    started = time.monotonic()
    with pytest.raises(TransportError, match="in time"):
        send_batch([message("SLOW-1")])
    assert time.monotonic() - started < 2.5


def test_dropped_connection_is_a_transport_error(start_sidep):
    start_sidep("--drop-rate", "1")
    with pytest.raises(TransportError):
        send_batch([message("DROP-1")])


def test_rejected_patient_gets_ae(start_sidep):
    simulator = start_sidep("--reject-nir", "185057800608491")
    acks = send_batch(
        [message("AE-1", {"nir": "185057800608491", "identity_status": "QUAL"}), message("AA-1")]
    )
    assert [(a.message_id, a.code) for a in acks] == [("AE-1", "AE"), ("AA-1", "AA")]
    assert acks[0].text.startswith("the receiver refuses results for this patient (")
    assert simulator.counts()["accepted"] == 1


def test_invalid_message_gets_ae(sidep):
    broken = message("AE-1").replace("|19850314|", "|14/03/1985|")
    (ack,) = send_batch([broken])
    assert (ack.message_id, ack.code) == ("AE-1", "AE")
    assert "HL7 validation failed" in ack.text


def test_refused_request_is_a_client_error(start_sidep):
    start_sidep("--max-batch", "2")
    with pytest.raises(ClientError) as raised:
        send_batch([message("C-1"), message("C-2"), message("C-3")])
    assert raised.value.status == 413
    assert raised.value.reason == "at most 2 messages per batch"


def test_server_certificate_from_an_unknown_ca_is_refused(sidep, settings, foreign_certs):
    settings.SIDEP_CA_FILE = str(foreign_certs.ca_cert)
    with pytest.raises(TransportError):
        send_batch([message("MITM-1")])
    assert sidep.counts()["accepted"] == 0


def test_client_certificate_from_an_unknown_ca_is_refused(sidep, settings, foreign_certs):
    settings.SIDEP_CLIENT_CERT = str(foreign_certs.client_cert)
    settings.SIDEP_CLIENT_KEY = str(foreign_certs.client_key)
    with pytest.raises(TransportError):
        send_batch([message("STRANGER-1")])
    assert sidep.counts()["accepted"] == 0


@pytest.mark.parametrize("missing", ["SIDEP_URL", "SIDEP_CLIENT_CERT", "SIDEP_CA_FILE"])
def test_missing_configuration_is_reported(settings, missing):
    setattr(settings, missing, "")
    with pytest.raises(ImproperlyConfigured, match=missing):
        send_batch([message("CONF-1")])


def test_unreadable_certificate_file_is_reported(sidep, settings, tmp_path):
    settings.SIDEP_CLIENT_KEY = str(tmp_path / "absent.key")
    with pytest.raises(ImproperlyConfigured, match="certificate files"):
        send_batch([message("CONF-2")])


def test_batch_limits(settings):
    assert send_batch([]) == []
    settings.SIDEP_BATCH_SIZE = 1
    with pytest.raises(ValueError, match="BATCH_SIZE"):
        send_batch([message("L-1"), message("L-2")])
    with pytest.raises(ValueError, match="line feed"):
        send_batch([message("L-3") + "\nMSH|"])


def test_acks_are_matched_to_the_messages_sent():
    sent = [message("M-1"), message("M-2")]
    acks = [Ack("M-2", "AE", "bad"), Ack("M-1", "AA", "")]
    assert transport._match(sent, acks) == [acks[1], acks[0]]
    with pytest.raises(AckError, match="1 of 2 messages have no acknowledgement"):
        transport._match(sent, acks[:1])
    with pytest.raises(AckError, match="not sent"):
        transport._match(sent, [*acks, Ack("M-9", "AA", "")])


def test_retry_after_is_read_as_seconds_or_an_http_date_and_capped(settings):
    settings.TRANSMISSION_BACKOFF_MAX_SECONDS = 600
    now = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.UTC)
    assert transport.retry_after_seconds("120", now) == 120
    assert transport.retry_after_seconds("Fri, 27 Nov 2026 12:01:30 GMT", now) == 90
    assert transport.retry_after_seconds("Fri, 27 Nov 2026 11:00:00 GMT", now) == 0  # past
    assert transport.retry_after_seconds("86400", now) == 600  # capped
    for unreadable in ("", "soon", "-5", "1.5"):
        assert transport.retry_after_seconds(unreadable, now) is None


def test_a_handshake_refused_for_an_expired_certificate_is_named(settings, tmp_path):
    """The server's "certificate expired" alert, or a refusal while our certificate is
    past its end (read from the file)."""
    alert = ssl.SSLError(1, "sslv3 alert certificate expired")
    alert.reason = transport.CLIENT_CERTIFICATE_EXPIRED_ALERT
    assert transport.tls_failure(alert).code == transport.TLS_CLIENT_EXPIRED
    refused = ssl.SSLError(1, "tlsv1 alert unknown ca")
    refused.reason = "TLSV1_ALERT_UNKNOWN_CA"
    settings.SIDEP_CLIENT_CERT = str(make_certs(tmp_path, client_days=1).client_cert)
    assert transport.tls_failure(refused).code == transport.TLS_CLIENT_REFUSED
    with time_machine.travel(datetime.timedelta(days=2)):
        assert transport.tls_failure(refused).code == transport.TLS_CLIENT_EXPIRED
    assert transport.tls_failure(ConnectionResetError()) is None
