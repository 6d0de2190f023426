"""When the database cannot answer: bounded waits, and telling that apart from a bug.

The server bounds itself: `statement_timeout` (RELAIS_DATABASE_STATEMENT_TIMEOUT), a
`connect_timeout` and TCP keepalives are in the connection options (relais.config). A
server that is frozen (SIGSTOP, a stalled disk, a paused VM) cannot enforce its own
timeout, and its kernel still acknowledges what we send, so neither TCP nor libpq ever
gives up on a statement already sent. The client then enforces the same bound: every
statement on a PostgreSQL connection (health checks included) runs under a deadline of
the statement timeout plus `DEADLINE_GRACE_SECONDS`; past it, a watchdog thread shuts the
connection's socket down, the statement fails with an OperationalError, Django drops the
connection, and the caller answers 503 (web, API) or counts a failed round (worker).
"""

import heapq
import itertools
import os
import socket
import threading
import time
from contextlib import contextmanager

from django.conf import settings
from django.db import InterfaceError, OperationalError

# The server cancels a statement at its timeout; the client cuts the connection only if
# no answer came this long after that (the server could not even cancel it).
DEADLINE_GRACE_SECONDS = 2.0
# What a 503 tells clients to wait before trying again.
RETRY_AFTER_SECONDS = 30


def unavailable(error: BaseException | None) -> bool:
    """True when `error` means the database cannot answer now (down, restarting, frozen,
    out of connections, a statement past its timeout), not that our code is wrong."""
    return isinstance(error, OperationalError | InterfaceError)


def statement_deadline_seconds() -> float | None:
    timeout = settings.DATABASE_STATEMENT_TIMEOUT
    return timeout + DEADLINE_GRACE_SECONDS if timeout > 0 else None


def cut(fd: int) -> None:
    """Shut the socket `fd` down: a statement waiting on it fails at once. The file
    descriptor itself stays the driver's (it closes it when Django drops the connection)."""
    try:
        with socket.socket(fileno=os.dup(fd)) as duplicate:
            duplicate.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed
        pass


class Watchdog:
    """One daemon thread per process that cuts connections whose statement outlived its
    deadline. Watching costs a lock and a heap push, no thread per statement."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._deadlines: list[tuple[float, int, int]] = []  # (deadline, ticket, fd)
        self._active: set[int] = set()
        self._tickets = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, fd: int, seconds: float) -> int:
        with self._lock:
            ticket = next(self._tickets)
            heapq.heappush(self._deadlines, (time.monotonic() + seconds, ticket, fd))
            self._active.add(ticket)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="relais-db-deadline", daemon=True
                )
                self._thread.start()
            self._wake.notify()
        return ticket

    def done(self, ticket: int) -> None:
        with self._lock:
            self._active.discard(ticket)

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._deadlines and self._deadlines[0][1] not in self._active:
                    heapq.heappop(self._deadlines)  # finished in time
                if not self._deadlines:
                    self._wake.wait()
                    continue
                deadline, ticket, fd = self._deadlines[0]
                left = deadline - time.monotonic()
                if left > 0:
                    self._wake.wait(left)
                    continue
                heapq.heappop(self._deadlines)
                self._active.discard(ticket)
                cut(fd)


watchdog = Watchdog()


@contextmanager
def deadline(fd: int, seconds: float | None):
    if seconds is None:
        yield
        return
    ticket = watchdog.watch(fd, seconds)
    try:
        yield
    finally:
        watchdog.done(ticket)


def deadline_cursor_class(base: type) -> type:
    """`base` (the driver's cursor class Django configured) whose statements run under
    the deadline."""

    class DeadlineCursor(base):
        def execute(self, *args, **kwargs):
            with deadline(self.connection.pgconn.socket, statement_deadline_seconds()):
                return super().execute(*args, **kwargs)

        def executemany(self, *args, **kwargs):
            with deadline(self.connection.pgconn.socket, statement_deadline_seconds()):
                return super().executemany(*args, **kwargs)

    DeadlineCursor.__name__ = DeadlineCursor.__qualname__ = f"Deadline{base.__name__}"
    return DeadlineCursor


_deadline_classes: dict[type, type] = {}


def bound_statements(sender, connection, **kwargs) -> None:
    """connection_created receiver: statements of a new PostgreSQL connection get their
    client-side deadline (its cursor factory is wrapped once per class)."""
    if connection.vendor != "postgresql" or statement_deadline_seconds() is None:
        return
    driver = connection.connection
    base = driver.cursor_factory
    if base in _deadline_classes.values():
        return
    if base not in _deadline_classes:
        _deadline_classes[base] = deadline_cursor_class(base)
    driver.cursor_factory = _deadline_classes[base]
