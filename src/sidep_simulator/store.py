"""The simulator's own database: the messages it accepted, once per MSH-10."""

import sqlite3
import threading
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


class Store:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        with self._connect() as connection:
            connection.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=20)
        connection.execute("PRAGMA journal_mode=WAL")
        # No fsync per commit (WAL stays consistent through a crash of this process):
        # volume runs store tens of thousands of messages, one commit each.
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    def is_known(self, message_id: str) -> bool:
        with self._lock, self._connect() as connection:
            row = connection.execute(
                "SELECT 1 FROM accepted WHERE message_id = ?", (message_id,)
            ).fetchone()
        return row is not None

    def accept(self, message_id: str, body: str) -> bool:
        """Store a message; False when its MSH-10 was already stored (it is counted, not kept)."""
        with self._lock, self._connect() as connection:
            cursor = connection.execute(
                "INSERT INTO accepted (message_id, received_at, body) VALUES (?, ?, ?) "
                "ON CONFLICT (message_id) DO NOTHING",
                (message_id, datetime.now(UTC).isoformat(), body),
            )
            if cursor.rowcount == 1:
                return True
            connection.execute(
                "UPDATE accepted SET times_received = times_received + 1 WHERE message_id = ?",
                (message_id,),
            )
            return False

    def counts(self) -> dict[str, int]:
        with self._lock, self._connect() as connection:
            accepted, distinct, received = connection.execute(
                "SELECT COUNT(*), COUNT(DISTINCT message_id), COALESCE(SUM(times_received), 0) "
                "FROM accepted"
            ).fetchone()
        return {"accepted": accepted, "distinct_message_ids": distinct, "received": received}

    def messages(self) -> list[tuple[str, str, str]]:
        with self._lock, self._connect() as connection:
            return connection.execute(
                "SELECT message_id, received_at, body FROM accepted ORDER BY rowid"
            ).fetchall()
