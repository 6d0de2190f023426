"""The HTTPS server: mutual TLS, one POST endpoint taking a batch of HL7 messages."""

import logging
import random
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sidep_simulator import messages
from sidep_simulator.store import Store

log = logging.getLogger("sidep_simulator")

BATCH_PATH = "/hl7/v2/batch"
CONTENT_TYPE = "application/hl7-v2"
MAX_BODY_BYTES = 20 * 1024 * 1024
HANDSHAKE_TIMEOUT_SECONDS = 10
# The statuses --http-error may inject: what SI-DEP or a gateway in front of it answers
# when the request should be sent again later.
INJECTABLE_STATUSES = (408, 425, 429, 500, 502, 503, 504)
REFUSE_CLIENT_CERTIFICATE = "refuse-client-certificate"
TLS_FAULTS = (REFUSE_CLIENT_CERTIFICATE,)
APPLICATION_REJECT_TEXT = "the receiver cannot process messages now (injected)"


@dataclass
class Faults:
    error_rate: float = 0.0
    server_error_rate: float = 0.0
    latency: float = 0.0
    drop_rate: float = 0.0
    # Patients whose results are refused: a content problem, answered AE.
    reject_nirs: set[str] = field(default_factory=set)
    reject_birth_names: set[str] = field(default_factory=set)
    # --application-reject: AR (the receiver cannot process messages now, whatever their
    # content) to the first `application_reject_count` new messages (every one when
    # None), each with `application_reject_rate`.
    application_reject_count: int | None = 0
    application_reject_rate: float = 1.0
    _application_rejects_given: int = 0
    # --http-error: answer these statuses in turn (with Retry-After when given) to the
    # first `http_error_count` requests (all of them when None), each with `http_error_rate`.
    http_errors: tuple[int, ...] = ()
    http_error_count: int | None = None
    http_error_rate: float = 1.0
    retry_after: str = ""
    # The gateway case: the batch is stored (and acknowledged inside SI-DEP), then the
    # client gets the error instead of the acknowledgements.
    store_then_error: bool = False
    _http_errors_given: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def rejects(self, nir: str, birth_name: str) -> bool:
        return bool(nir and nir in self.reject_nirs) or bool(
            birth_name and birth_name.strip().upper() in self.reject_birth_names
        )

    def application_reject_now(self, rng: random.Random) -> bool:
        """Whether to answer this new message AR."""
        with self._lock:
            count = self.application_reject_count
            if count is not None and self._application_rejects_given >= count:
                return False
            if rng.random() >= self.application_reject_rate:
                return False
            self._application_rejects_given += 1
        return True

    def http_error_now(self, rng: random.Random) -> int | None:
        """The status to inject into this request, or None to answer normally."""
        if not self.http_errors:
            return None
        with self._lock:
            given = self._http_errors_given
            if self.http_error_count is not None and given >= self.http_error_count:
                return None
            if rng.random() >= self.http_error_rate:
                return None
            self._http_errors_given += 1
        return self.http_errors[given % len(self.http_errors)]


def tls_context(cert: str, key: str, client_ca: str, fault: str = "") -> ssl.SSLContext:
    """The server's TLS context. fault=refuse-client-certificate trusts no client CA, so
    every client certificate is refused at the handshake, as SI-DEP does with a revoked
    or unregistered one."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if fault != REFUSE_CLIENT_CERTIFICATE:
        context.load_verify_locations(client_ca)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    # False (serve --fast-validation) skips hl7apy's strict check, for volume runs.
    strict_validation = True

    def __init__(self, address, context: ssl.SSLContext, store: Store, faults: Faults,
                 max_batch: int, rng: random.Random):  # fmt: skip
        self.context = context
        self.store = store
        self.faults = faults
        self.max_batch = max_batch
        self.rng = rng
        super().__init__(address, BatchHandler)

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the connection's own thread, so a client that
        # never completes it cannot block the accept loop.
        request.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
        try:
            connection = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as error:
            log.warning("TLS handshake refused: %s", getattr(error, "reason", None) or error)
            return
        log.info("TLS connection from %s", client_address[0])
        try:
            super().finish_request(connection, client_address)
        finally:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()

    def handle_error(self, request, client_address):
        log.warning("connection error from %s", client_address[0])


class BatchHandler(BaseHTTPRequestHandler):
    server: SimulatorServer
    protocol_version = "HTTP/1.1"
    server_version = "sidep-simulator"
    sys_version = ""
    timeout = 30

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        log.info("%s %s", self.address_string(), format % args)

    def _answer(self, status: int, body: str, content_type: str = "text/plain", headers=()) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _answer_injected(self, status: int) -> None:
        retry_after = self.server.faults.retry_after
        headers = [("Retry-After", retry_after)] if retry_after else []
        self._answer(status, f"injected HTTP {status}\n", headers=headers)

    def do_GET(self):
        self._answer(405, "only POST is accepted\n")

    def do_POST(self):
        if self.path != BATCH_PATH:
            self._answer(404, "not found\n")
            return
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != CONTENT_TYPE:
            self._answer(415, f"Content-Type must be {CONTENT_TYPE}\n")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._answer(411, "Content-Length is required\n")
            return
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            self._answer(413, "body too large\n")
            return
        body = self.rfile.read(length)
        faults, rng = self.server.faults, self.server.rng
        if rng.random() < faults.drop_rate:
            self.close_connection = True  # injected fault: no answer at all
            return
        if rng.random() < faults.server_error_rate:
            self._answer(503, "injected server error\n")
            return
        injected = faults.http_error_now(rng)
        if injected is not None and not faults.store_then_error:
            self._answer_injected(injected)
            return
        if faults.latency:
            time.sleep(faults.latency)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            self._answer(400, "the body is not UTF-8\n")
            return
        raw_messages = [raw for raw in text.split("\n") if raw.strip()]
        if not raw_messages:
            self._answer(400, "the body holds no message\n")
            return
        if len(raw_messages) > self.server.max_batch:
            self._answer(413, f"at most {self.server.max_batch} messages per batch\n")
            return
        received = []
        for number, raw in enumerate(raw_messages, start=1):
            item = messages.read_header(raw)
            if item is None:
                self._answer(400, f"message {number} has no readable MSH-10\n")
                return
            received.append(item)
        acks = self._acknowledge(received)
        if injected is not None:  # stored then error: the ACKs never reach the client
            self._answer_injected(injected)
            return
        self._answer(200, "\n".join(acks), CONTENT_TYPE)

    def _acknowledge(self, received: list[messages.Received]) -> list[str]:
        """One ACK per message, in order. The messages answered AA are stored (a repeat
        counted) in one transaction, committed before this returns: before any ACK leaves."""
        known = self.server.store.known(item.message_id for item in received)
        acks, accepted = [], []
        for item in received:
            code, reason = self._verdict(item, known)
            if code == "AA":
                accepted.append((item.message_id, item.raw))
                known.add(item.message_id)  # the same MSH-10 again in this batch: a repeat
            acks.append(messages.ack(item, code, reason))
        self.server.store.accept_all(accepted)
        return acks

    def _verdict(self, received: messages.Received, known: set[str]) -> tuple[str, str]:
        """(acknowledgement code, reason) for one message."""
        faults = self.server.faults
        if received.message_id in known:
            return "AA", ""
        # AR (HL7 table 0008, "application reject"): a failure not about the content; the
        # sender sends the same message again later. AE: the content, which someone fixes.
        if faults.application_reject_now(self.server.rng):
            return "AR", APPLICATION_REJECT_TEXT
        try:
            messages.check_header(received.raw)
        except messages.Unsupported as error:
            return "AR", str(error)
        try:
            messages.validate(received.raw, strict=self.server.strict_validation)
        except messages.Invalid as error:
            return "AE", str(error)
        nir, birth_name = messages.patient_traits(received.raw)
        if faults.rejects(nir, birth_name):
            # As a real receiver may, the reason quotes the patient (Relais must protect it).
            return "AE", f"the receiver refuses results for this patient ({birth_name or nir})"
        if self.server.rng.random() < faults.error_rate:
            return "AE", "injected application error"
        return "AA", ""
