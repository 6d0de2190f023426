"""The data migrations that turn the stored English sentences into error codes."""

import importlib

import pytest

transmission_migration = importlib.import_module("relais.transmission.migrations.0002_error_codes")
notification_migration = importlib.import_module(
    "relais.patient_access.migrations.0002_notification_queue_and_error_codes"
)


@pytest.mark.parametrize(
    "sentence, code",
    [
        ("SI-DEP could not be reached.", ("unreachable", None)),
        ("SI-DEP answered with a server error (HTTP 503).", ("server_error", 503)),
        ("SI-DEP answered with a server error.", ("server_error", None)),
        ("SI-DEP's acknowledgement could not be read.", ("ack_unreadable", None)),
        ("SI-DEP refused the request (HTTP 413).", ("client_error", 413)),
        ("The record could not be written as an HL7 message.", ("build_failed", None)),
        ("SI-DEP's answer had no acknowledgement for this message.", ("no_ack", None)),
        ("A worker stopped while sending it too many times.", ("lease_lost", None)),
        ("Retried by the operator", ("operator_retry", None)),
        ("Internal error while sending (KeyError).", ("internal_error", None)),
        ("Something we never wrote", None),
    ],
)
def test_transmission_sentences_become_codes(sentence, code):
    assert transmission_migration.code_of(sentence) == code


@pytest.mark.parametrize(
    "sentence, code",
    [
        ("the link was replaced or has closed", ("link_closed", None)),
        ("RELAIS_BASE_URL is not set", ("no_base_url", None)),
        ("no sms address on the patient record", ("no_address", None)),
        ("no email address on the patient record", ("no_address", None)),
        ("SMS: RELAIS_SMS_URL is not set", ("sms_not_configured", None)),
        ("SMS: HTTP 500", ("sms_refused", 500)),
        ("SMS: ConnectError", ("sms_unreachable", None)),
        ("e-mail: SMTPServerDisconnected", ("email_failed", None)),
    ],
)
def test_notification_sentences_become_codes(sentence, code):
    assert notification_migration.code_of(sentence) == code


def test_every_code_the_migrations_write_is_known():
    from relais.patient_access.models import Notification
    from relais.transmission.models import Transmission

    written = {code for code, _ in filter(None, map(transmission_migration.code_of,
               transmission_migration.SENTENCE_CODES))}  # fmt: skip
    assert written <= set(Transmission.Error.values)
    notification_codes = set(notification_migration.SENTENCE_CODES.values())
    notification_codes |= {"sms_refused", "sms_unreachable", "email_failed"}
    assert notification_codes <= set(Notification.Error.values)
