"""A database insider against the audit log of the live server (issue 13, item 11).

The insider can run any SQL but holds neither the audit key nor the keyset (they live on
the application host). They rewrite an event and recompute the chain as an unkeyed
SHA-256 chain (what the chain was), or cut events from its end and move the head back.
`relais audit verify`, run the way an operator runs it, must fail each time. The audit
tables are copied before each attempt and put back after it, so the log the other
attacks wrote stays as it was.
"""

import hashlib
import subprocess
from contextlib import contextmanager

import psycopg
import pytest

from relais.audit.chain import GENESIS_HASH, HASHED_FIELDS, canonical
from tests.support.live import PYTHON, run

INSIDER = "audit log rewritten or truncated by a database insider"
TABLES = ("audit_auditevent", "audit_chainhead")


def relais_audit(live, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 (our own command line)
        [PYTHON, "-m", "relais", "audit", *args],
        env=live.env,
        cwd=live.root / "run",
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextmanager
def insider(live):
    """A connection of the database's own administrator; the audit tables come back as
    they were when it closes."""
    with psycopg.connect(live.database_url, autocommit=True, connect_timeout=5) as connection:
        for table in TABLES:
            connection.execute(f"CREATE TABLE insider_copy_{table} AS SELECT * FROM {table}")
        try:
            yield connection
        finally:
            for table in TABLES:
                connection.execute(f"DELETE FROM {table}")
                connection.execute(f"INSERT INTO {table} SELECT * FROM insider_copy_{table}")
                connection.execute(f"DROP TABLE insider_copy_{table}")


def sha256_rechain(connection, from_seq: int) -> None:
    """Recompute every hash from `from_seq` on as an unkeyed SHA-256 chain, and the head."""
    columns = ", ".join(HASHED_FIELDS)
    prev = GENESIS_HASH
    if from_seq > 1:
        (prev,) = connection.execute(
            "SELECT hash FROM audit_auditevent WHERE chain_seq = %s", (from_seq - 1,)
        ).fetchone()
    rows = connection.execute(
        f"SELECT chain_seq, {columns} FROM audit_auditevent "
        "WHERE chain_seq >= %s ORDER BY chain_seq",
        (from_seq,),
    ).fetchall()
    seq = from_seq - 1
    for seq, *fields in rows:
        digest = hashlib.sha256(bytes.fromhex(prev) + canonical(seq, tuple(fields))).hexdigest()
        connection.execute(
            "UPDATE audit_auditevent SET prev_hash = %s, hash = %s WHERE chain_seq = %s",
            (prev, digest, seq),
        )
        prev = digest
    connection.execute("UPDATE audit_chainhead SET last_seq = %s, last_hash = %s", (seq, prev))


def chain_end(connection) -> int:
    return connection.execute("SELECT last_seq FROM audit_chainhead").fetchone()[0]


def cut_tail(connection, keep: int) -> None:
    connection.execute("DELETE FROM audit_auditevent WHERE chain_seq > %s", (keep,))
    (last_hash,) = connection.execute(
        "SELECT hash FROM audit_auditevent WHERE chain_seq = %s", (keep,)
    ).fetchone()
    connection.execute(
        "UPDATE audit_chainhead SET last_seq = %s, last_hash = %s", (keep, last_hash)
    )


def attempt(live, attacks, what: str, tamper) -> None:
    with insider(live) as connection:
        tamper(connection)
        verified = relais_audit(live, "verify")
    attacks.attempt(INSIDER, verified.returncode == 0, f"{what}: {verified.stdout[-300:]}")
    assert "BROKEN" in verified.stderr, verified.stderr[-500:]


@pytest.mark.late  # after the ordinary attacks, so the log holds what they did
def test_a_database_insider_cannot_rewrite_or_truncate_the_audit_log(live, attacks):
    with live.api("a") as client:  # reads of the pharmacy's tests: audited
        for _ in range(6):
            assert client.get("/api/v1/tests").status_code == 200
    # The worker's job, run once: chain every event and append a signed anchor.
    run([PYTHON, "-m", "relais", "audit", "anchor"], live.env, live.root / "run")
    honest = relais_audit(live, "verify")
    assert honest.returncode == 0, honest.stderr  # the untouched log verifies
    assert "anchor(s) in" in honest.stdout  # at least the one just appended
    with psycopg.connect(live.database_url, autocommit=True) as connection:
        end = chain_end(connection)
    assert end > 6  # the reads above, and what seeding and earlier attacks did

    def rewrite(position):
        def tamper(connection):
            connection.execute(
                "UPDATE audit_auditevent SET action = 'login.succeeded', details = '{}' "
                "WHERE chain_seq = %s",
                (position,),
            )
            sha256_rechain(connection, position)

        return tamper

    # Each attempt is one `relais audit verify` process (about 2 s each): the four ways in.
    # Rewrite an old event, or the last one, and recompute the chain as SHA-256.
    for position in (3, end):
        attempt(live, attacks, f"rewrite #{position} + SHA-256 chain", rewrite(position))
    # Cut the tail and move the head back; or cut it and recompute what is left.
    attempt(live, attacks, f"cut after #{end // 2}", lambda c: cut_tail(c, end // 2))

    def cut_and_rechain(connection):
        cut_tail(connection, end - 1)
        sha256_rechain(connection, 1)

    attempt(live, attacks, f"cut after #{end - 1} + SHA-256 chain", cut_and_rechain)
    # Everything is as it was.
    with psycopg.connect(live.database_url, autocommit=True) as connection:
        assert chain_end(connection) == end
        rows = connection.execute("SELECT count(*) FROM audit_auditevent").fetchone()[0]
        assert rows >= end
    attacks.assert_none(INSIDER)
