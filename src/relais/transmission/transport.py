"""Sending a batch of HL7 messages to SI-DEP over mutually-authenticated TLS.

Wire protocol: POST RELAIS_SIDEP_URL, Content-Type application/hl7-v2; charset=utf-8,
segments separated by "\\r" and messages by "\\n"; the answer (200) holds one ACK per
message in the same framing. Every failure becomes one of the exceptions below so the
worker can tell a retry from a rejection. Errors never carry message content.
"""

import ssl

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from relais.transmission.hl7 import Ack, AckError, parse_acks

__all__ = ["AckError", "ClientError", "ServerError", "TransportError", "send_batch"]

CONTENT_TYPE = "application/hl7-v2; charset=utf-8"
# An ACK is a few hundred bytes; anything far beyond that is not an answer to trust.
MAX_ANSWER_BYTES_PER_MESSAGE = 8 * 1024
MAX_REASON_LENGTH = 200


class TransportError(Exception):
    """No answer: connection refused or reset, TLS failure, timeout. Retry later."""


class ServerError(Exception):
    """SI-DEP answered 5xx. Retry later."""

    def __init__(self, status: int):
        super().__init__(f"SI-DEP answered HTTP {status}")
        self.status = status


class ClientError(Exception):
    """SI-DEP refused the request itself (4xx): resending it unchanged will not help."""

    def __init__(self, status: int, reason: str):
        super().__init__(f"SI-DEP answered HTTP {status}: {reason}")
        self.status = status
        self.reason = reason


def _tls_context() -> ssl.SSLContext:
    for name in ["SIDEP_URL", "SIDEP_CLIENT_CERT", "SIDEP_CLIENT_KEY", "SIDEP_CA_FILE"]:
        if not getattr(settings, name):
            raise ImproperlyConfigured(f"RELAIS_{name} is required to transmit to SI-DEP.")
    context = ssl.create_default_context(cafile=settings.SIDEP_CA_FILE)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.SIDEP_CLIENT_CERT, settings.SIDEP_CLIENT_KEY)
    return context


def _short(text: str) -> str:
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(printable.split())[:MAX_REASON_LENGTH] or "no reason given"


def _read_limited(response: httpx.Response, limit: int) -> bytes:
    body = bytearray()
    for chunk in response.iter_bytes():
        body.extend(chunk)
        if len(body) > limit:
            raise AckError("the answer is larger than any set of acknowledgements")
    return bytes(body)


def _post(body: bytes, limit: int) -> tuple[int, str, bytes]:
    timeout = httpx.Timeout(
        connect=settings.SIDEP_CONNECT_TIMEOUT,
        read=settings.SIDEP_READ_TIMEOUT,
        write=settings.SIDEP_READ_TIMEOUT,
        pool=settings.SIDEP_CONNECT_TIMEOUT,
    )
    try:
        context = _tls_context()
    except (OSError, ssl.SSLError) as error:
        raise ImproperlyConfigured(
            f"the SI-DEP certificate files cannot be loaded ({type(error).__name__})"
        ) from None
    try:
        with httpx.Client(verify=context, timeout=timeout, follow_redirects=False) as client:
            with client.stream(
                "POST", settings.SIDEP_URL, content=body, headers={"Content-Type": CONTENT_TYPE}
            ) as response:
                answer = _read_limited(response, limit)
                return response.status_code, response.headers.get("Content-Type", ""), answer
    except httpx.TimeoutException as error:
        raise TransportError(f"SI-DEP did not answer in time ({type(error).__name__})") from None
    except (httpx.TransportError, ssl.SSLError, OSError) as error:
        raise TransportError(f"no answer from SI-DEP ({type(error).__name__})") from None


def send_batch(messages: list[str]) -> list[Ack]:
    """POST the messages as one batch; the ACKs, one per message, in the order sent.

    Raises TransportError or ServerError (retry), ClientError (the request is refused),
    or AckError (the answer cannot be trusted: retry).
    """
    if not messages:
        return []
    if len(messages) > settings.SIDEP_BATCH_SIZE:
        raise ValueError(f"at most RELAIS_SIDEP_BATCH_SIZE={settings.SIDEP_BATCH_SIZE} messages")
    if any("\n" in message for message in messages):
        raise ValueError("a message must not contain a line feed (it separates messages)")
    body = "\n".join(messages).encode("utf-8")
    limit = MAX_ANSWER_BYTES_PER_MESSAGE * len(messages)
    status, content_type, answer = _post(body, limit)
    if status >= 500:
        raise ServerError(status)
    if status != 200:
        raise ClientError(status, _short(answer.decode("utf-8", errors="replace")))
    if content_type.split(";")[0].strip().lower() != "application/hl7-v2":
        raise AckError("the answer is not application/hl7-v2")
    try:
        text = answer.decode("utf-8")
    except UnicodeDecodeError:
        raise AckError("the answer is not UTF-8") from None
    return _match(messages, parse_acks(text))


def _message_id(message: str) -> str:
    return message.split("\r", 1)[0].split("|")[9]


def _match(messages: list[str], acks: list[Ack]) -> list[Ack]:
    """The ACKs in the order of the messages; every message acknowledged, nothing else."""
    by_id = {ack.message_id: ack for ack in acks}
    sent = [_message_id(message) for message in messages]
    missing = [message_id for message_id in sent if message_id not in by_id]
    if missing:
        raise AckError(f"{len(missing)} of {len(sent)} messages have no acknowledgement")
    if len(by_id) != len(set(sent)):
        raise AckError("the answer acknowledges messages that were not sent")
    return [by_id[message_id] for message_id in sent]
