"""The simulator's store: one connection shared by the server's threads, one transaction
per batch, and every stored message visible to other processes once the call returns."""

import sqlite3
import threading
from contextlib import closing

import pytest

from sidep_simulator.store import LOOKUP_CHUNK, Store


def read_back(path) -> list[tuple[str, int]]:
    """What another process sees: its own connection to the file."""
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(
            "SELECT message_id, times_received FROM accepted ORDER BY rowid"
        ).fetchall()


def test_a_batch_is_readable_by_another_connection_once_accept_all_returns(tmp_path):
    path = tmp_path / "sidep.sqlite3"
    with Store(path) as store:
        store.accept_all([("A", "body A"), ("B", "body B")])
        # Not closed yet: the commit, not the close, makes the batch visible and durable.
        assert read_back(path) == [("A", 1), ("B", 1)]


def test_repeats_are_counted_once_stored_even_within_one_batch(tmp_path):
    with Store(tmp_path / "sidep.sqlite3") as store:
        store.accept_all([("A", "first"), ("A", "again")])
        store.accept_all([("A", "third"), ("B", "b")])
        assert store.counts() == {"accepted": 2, "distinct_message_ids": 2, "received": 4}
        assert [body for _, _, body in store.messages()] == ["first", "b"]


def test_a_failing_batch_stores_nothing_and_leaves_the_store_usable(tmp_path):
    path = tmp_path / "sidep.sqlite3"
    with Store(path) as store:
        store.accept_all([("A", "a")])
        with pytest.raises(sqlite3.IntegrityError):
            store.accept_all([("B", "b"), ("C", None)])  # body NOT NULL
        assert read_back(path) == [("A", 1)]
        store.accept_all([("B", "b")])  # the lock and the connection are free again
        assert read_back(path) == [("A", 1), ("B", 1)]


def test_known_looks_up_more_ids_than_one_statement_takes(tmp_path):
    ids = [f"ID-{number}" for number in range(LOOKUP_CHUNK * 2 + 3)]
    with Store(tmp_path / "sidep.sqlite3") as store:
        store.accept_all((message_id, "body") for message_id in ids[::2])
        assert store.known([*ids, "ID-0"]) == set(ids[::2])
        assert store.known([]) == set()


def test_threads_sharing_the_store_lose_no_message(tmp_path):
    """The server's threads (one per client connection) write through one connection."""
    store = Store(tmp_path / "sidep.sqlite3")
    errors = []

    def client(number: int) -> None:
        try:
            for batch in range(20):
                # Each thread's own ids, and one id every thread sends in every batch.
                own = [(f"T{number}-{batch}-{n}", "body") for n in range(10)]
                store.accept_all([*own, ("SHARED", "body")])
        except Exception as error:  # pragma: no cover (reported below)
            errors.append(error)

    threads = [threading.Thread(target=client, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()
    assert errors == []
    with Store(tmp_path / "sidep.sqlite3") as reopened:
        assert reopened.counts() == {
            "accepted": 4 * 20 * 10 + 1, "distinct_message_ids": 4 * 20 * 10 + 1,
            "received": 4 * 20 * 11,
        }  # fmt: skip
