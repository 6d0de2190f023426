"""The simulator's own database: the messages it accepted, once per MSH-10.

What it guarantees, as SI-DEP does: a message acknowledged AA is stored before its ACK
leaves. The server stores each request's accepted messages in one transaction, committed
before it answers; the commit is in SQLite's write-ahead log, so it survives the
simulator being killed (kill -9) or crashing. With synchronous=NORMAL the log is not
flushed to disk at each commit: a power cut of the machine may lose the last ones, which
a stand-in for tests and demos need not survive.

One connection for the process, shared by the server's threads (one per client
connection) under a lock, so transactions never interleave.
"""

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS accepted (
    message_id TEXT NOT NULL UNIQUE,
    received_at TEXT NOT NULL,
    times_received INTEGER NOT NULL DEFAULT 1,
    body TEXT NOT NULL
);
"""
# A repeat of a stored MSH-10 is counted, not kept: SI-DEP keeps the first.
ACCEPT = (
    "INSERT INTO accepted (message_id, received_at, body) VALUES (?, ?, ?) "
    "ON CONFLICT (message_id) DO UPDATE SET times_received = times_received + 1"
)
# SQLite's default limit of host parameters in one statement is 32,766; a batch is far
# below, but a lookup is split anyway rather than trust the caller's size.
LOOKUP_CHUNK = 500


class Store:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        # isolation_level=None: transactions are the explicit BEGIN ... COMMIT below.
        self._connection = sqlite3.connect(
            self.path, timeout=20, isolation_level=None, check_same_thread=False
        )
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed on leaving (rolled back on an error)."""
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
                self._connection.execute("COMMIT")
            except BaseException:
                self._connection.rollback()
                raise

    def known(self, message_ids: Iterable[str]) -> set[str]:
        """Those of `message_ids` already stored."""
        wanted = list(dict.fromkeys(message_ids))
        found: set[str] = set()
        with self._lock:
            for start in range(0, len(wanted), LOOKUP_CHUNK):
                chunk = wanted[start : start + LOOKUP_CHUNK]
                placeholders = ",".join("?" * len(chunk))
                rows = self._connection.execute(
                    f"SELECT message_id FROM accepted WHERE message_id IN ({placeholders})",  # noqa: S608 (placeholders only)
                    chunk,
                )
                found.update(message_id for (message_id,) in rows)
        return found

    def accept_all(self, messages: Iterable[tuple[str, str]]) -> None:
        """Store (message id, body) pairs in one transaction, committed when this
        returns; a message id already stored (or twice in `messages`) is counted again."""
        received_at = datetime.now(UTC).isoformat()
        rows = [(message_id, received_at, body) for message_id, body in messages]
        if not rows:
            return
        with self._transaction() as connection:
            connection.executemany(ACCEPT, rows)

    def counts(self) -> dict[str, int]:
        with self._lock:
            accepted, distinct, received = self._connection.execute(
                "SELECT COUNT(*), COUNT(DISTINCT message_id), COALESCE(SUM(times_received), 0) "
                "FROM accepted"
            ).fetchone()
        return {"accepted": accepted, "distinct_message_ids": distinct, "received": received}

    def messages(self) -> list[tuple[str, str, str]]:
        with self._lock:
            return self._connection.execute(
                "SELECT message_id, received_at, body FROM accepted ORDER BY rowid"
            ).fetchall()
