"""Sending a batch of HL7 messages to SI-DEP over mutually-authenticated TLS.

Wire protocol: POST RELAIS_SIDEP_URL, Content-Type application/hl7-v2; charset=utf-8,
segments separated by "\\r" and messages by "\\n"; the answer (200) holds one ACK per
message in the same framing. Every failure becomes one of the exceptions below so the
worker can tell a retry from a split from a rejection. Errors never carry message content.

HTTP semantics (issue 13): 408, 425, 429 and every 5xx mean "send it again later",
honouring Retry-After (seconds or an HTTP date); 413 means the batch is larger than
SI-DEP takes (the worker splits it); any other 4xx refuses the request as a whole, which
no pharmacist can fix (the worker retries it, then dead-letters it for the operator).
A 408, a 502/504 or a timeout may come after SI-DEP stored the batch: the resend carries
the same MSH-10, which SI-DEP de-duplicates.
"""

import datetime
import email.utils
import os
import ssl

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from relais.lib import certificates
from relais.transmission.hl7 import Ack, AckError, parse_acks

__all__ = [
    "AckError",
    "BatchTooLarge",
    "ClientError",
    "ServerError",
    "TLSError",
    "TransportError",
    "TryLater",
    "send_batch",
]

CONTENT_TYPE = "application/hl7-v2; charset=utf-8"
# An ACK is a few hundred bytes; anything far beyond that is not an answer to trust.
MAX_ANSWER_BYTES_PER_MESSAGE = 8 * 1024
MAX_REASON_LENGTH = 200


# Statuses that ask for the same request later (every 5xx does too).
TRY_LATER_STATUSES = frozenset({408, 425, 429})
TOO_LARGE_STATUS = 413

# What a TLS failure means, from the alert or verification error OpenSSL reports
# (ssl.SSLError.reason); each is one of Transmission.Error's tls_* codes.
TLS_SERVER_UNTRUSTED = "tls_server_untrusted"
TLS_CLIENT_REFUSED = "tls_client_refused"
TLS_CLIENT_EXPIRED = "tls_client_expired"
TLS_FAILED = "tls_failed"
# Alerts the server sends when it refuses our client certificate.
CLIENT_CERTIFICATE_REFUSED_ALERTS = frozenset({
    "TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_BAD_CERTIFICATE", "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
    "SSLV3_ALERT_CERTIFICATE_REVOKED", "TLSV1_ALERT_ACCESS_DENIED",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED", "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
})  # fmt: skip
CLIENT_CERTIFICATE_EXPIRED_ALERT = "SSLV3_ALERT_CERTIFICATE_EXPIRED"


class TransportError(Exception):
    """No answer: connection refused or reset, timeout. Retry later."""


class TLSError(TransportError):
    """The TLS handshake with SI-DEP failed: `code` (one of the TLS_* codes above) says
    whose certificate is at fault, `reason` is OpenSSL's (no personal data in either)."""

    def __init__(self, code: str, reason: str):
        super().__init__(f"TLS handshake with SI-DEP failed: {code} ({reason})")
        self.code = code
        self.reason = reason


class ServerError(Exception):
    """SI-DEP answered 5xx. Retry later (not before `retry_after` seconds when given)."""

    def __init__(self, status: int, retry_after: float | None = None):
        super().__init__(f"SI-DEP answered HTTP {status}")
        self.status = status
        self.retry_after = retry_after


class TryLater(Exception):
    """SI-DEP or a gateway answered 408, 425 or 429: the same request, later (not before
    `retry_after` seconds when given). A 408 may come after SI-DEP stored the batch."""

    def __init__(self, status: int, retry_after: float | None = None):
        super().__init__(f"SI-DEP answered HTTP {status}: send again later")
        self.status = status
        self.retry_after = retry_after


class ClientError(Exception):
    """SI-DEP refused the request as a whole (a 4xx that is neither a "later" nor 413)."""

    def __init__(self, status: int, reason: str):
        super().__init__(f"SI-DEP answered HTTP {status}: {reason}")
        self.status = status
        self.reason = reason


class BatchTooLarge(ClientError):
    """413: SI-DEP takes fewer messages (or fewer bytes) per request than we sent."""


def _tls_context() -> ssl.SSLContext:
    for name in ["SIDEP_URL", "SIDEP_CLIENT_CERT", "SIDEP_CLIENT_KEY", "SIDEP_CA_FILE"]:
        if not getattr(settings, name):
            raise ImproperlyConfigured(f"RELAIS_{name} is required to transmit to SI-DEP.")
    context = ssl.create_default_context(cafile=settings.SIDEP_CA_FILE)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.SIDEP_CLIENT_CERT, settings.SIDEP_CLIENT_KEY)
    return context


def retry_after_seconds(value: str, now: datetime.datetime | None = None) -> float | None:
    """Retry-After as seconds from now (delta-seconds or an HTTP date; RFC 9110 10.2.3),
    capped at RELAIS_TRANSMISSION_BACKOFF_MAX_SECONDS; None when absent or unreadable."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        seconds = (moment - (now or timezone.now())).total_seconds()
    return min(max(seconds, 0.0), float(settings.TRANSMISSION_BACKOFF_MAX_SECONDS))


def _ssl_error(error: BaseException) -> ssl.SSLError | None:
    """The ssl.SSLError behind an httpx error, if there is one."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _client_certificate_expired() -> bool:
    expires_at = certificates.expires_at(settings.SIDEP_CLIENT_CERT)
    return expires_at is not None and expires_at <= timezone.now()


def tls_failure(error: BaseException) -> TLSError | None:
    """What a failed connection says about the TLS handshake, or None when it was not
    TLS that failed."""
    cause = _ssl_error(error)
    if cause is None:
        return None
    if isinstance(cause, ssl.SSLCertVerificationError):
        reason = cause.verify_message or "certificate verify failed"
        return TLSError(TLS_SERVER_UNTRUSTED, reason)
    reason = str(cause.reason or type(cause).__name__)
    if reason == CLIENT_CERTIFICATE_EXPIRED_ALERT:
        return TLSError(TLS_CLIENT_EXPIRED, reason)
    if reason in CLIENT_CERTIFICATE_REFUSED_ALERTS:
        code = TLS_CLIENT_EXPIRED if _client_certificate_expired() else TLS_CLIENT_REFUSED
        return TLSError(code, reason)
    return TLSError(TLS_FAILED, reason)


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


# The process's client for SI-DEP, kept between batches: one TLS handshake, then the
# connection is reused. Replaced when its settings or certificate files change (a renewed
# certificate is used from the next batch on) and dropped after a failure.
_kept: dict[tuple, httpx.Client] = {}


def _certificate_files_state() -> tuple:
    paths = [settings.SIDEP_CLIENT_CERT, settings.SIDEP_CLIENT_KEY, settings.SIDEP_CA_FILE]
    states: list[tuple] = []
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            states.append((path, None))
        else:
            states.append((path, stat.st_mtime_ns, stat.st_size))
    return tuple(states)


def _client(timeout: httpx.Timeout) -> httpx.Client:
    identity = (settings.SIDEP_URL, repr(timeout), _certificate_files_state())
    client = _kept.get(identity)
    if client is not None:
        return client
    try:
        context = _tls_context()
    except (OSError, ssl.SSLError) as error:
        raise ImproperlyConfigured(
            f"the SI-DEP certificate files cannot be loaded ({type(error).__name__})"
        ) from None
    _drop_client()
    client = httpx.Client(verify=context, timeout=timeout, follow_redirects=False)
    _kept[identity] = client
    return client


def _drop_client() -> None:
    for client in _kept.values():
        client.close()
    _kept.clear()


def _post(body: bytes, limit: int) -> tuple[int, str, str, bytes]:
    """(status, Content-Type, Retry-After, body) of SI-DEP's answer."""
    timeout = httpx.Timeout(
        connect=settings.SIDEP_CONNECT_TIMEOUT,
        read=settings.SIDEP_READ_TIMEOUT,
        write=settings.SIDEP_READ_TIMEOUT,
        pool=settings.SIDEP_CONNECT_TIMEOUT,
    )
    client = _client(timeout)
    try:
        with client.stream(
            "POST", settings.SIDEP_URL, content=body, headers={"Content-Type": CONTENT_TYPE}
        ) as response:
            answer = _read_limited(response, limit)
            headers = response.headers
            return (
                response.status_code,
                headers.get("Content-Type", ""),
                headers.get("Retry-After", ""),
                answer,
            )
    except httpx.TimeoutException as error:
        _drop_client()
        raise TransportError(f"SI-DEP did not answer in time ({type(error).__name__})") from None
    except (httpx.TransportError, ssl.SSLError, OSError) as error:
        _drop_client()
        tls = tls_failure(error)
        if tls is not None:
            raise tls from None
        raise TransportError(f"no answer from SI-DEP ({type(error).__name__})") from None


def send_batch(messages: list[str]) -> list[Ack]:
    """POST the messages as one batch; the ACKs, one per message, in the order sent.

    Raises TransportError (TLSError for a failed handshake), ServerError or TryLater
    (retry), BatchTooLarge (split), ClientError (the request is refused), or AckError
    (the answer cannot be trusted: retry).
    """
    if not messages:
        return []
    if len(messages) > settings.SIDEP_BATCH_SIZE:
        raise ValueError(f"at most RELAIS_SIDEP_BATCH_SIZE={settings.SIDEP_BATCH_SIZE} messages")
    if any("\n" in message for message in messages):
        raise ValueError("a message must not contain a line feed (it separates messages)")
    body = "\n".join(messages).encode("utf-8")
    limit = MAX_ANSWER_BYTES_PER_MESSAGE * len(messages)
    status, content_type, retry_after, answer = _post(body, limit)
    if status >= 500:
        raise ServerError(status, retry_after_seconds(retry_after))
    if status in TRY_LATER_STATUSES:
        raise TryLater(status, retry_after_seconds(retry_after))
    if status == TOO_LARGE_STATUS:
        raise BatchTooLarge(status, _short(answer.decode("utf-8", errors="replace")))
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
