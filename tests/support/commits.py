"""Counting what a piece of code costs the database in commits and statements.

A commit is a COMMIT, or a statement that writes outside any transaction (autocommit
makes it a transaction of its own): each is a durable flush of the database's log. A
transaction that only read counts too (its COMMIT is a round trip, though PostgreSQL
flushes nothing for it). Tests pin counts with it; bench/cost_per_result.py reports them.
"""

from django.db import connection as default_connection
from django.test.utils import CaptureQueriesContext

WRITES = ("INSERT", "UPDATE", "DELETE", "COPY")


def writes(sql: str) -> bool:
    return sql.lstrip()[:6].upper().startswith(WRITES)


class Commits:
    """`with Commits() as commits:` ... then `commits.count`, `commits.statements`, and
    `commits.writes_to(table)` (the statements that wrote to `table`)."""

    def __init__(self, connection=default_connection):
        self.connection = connection
        self.queries = CaptureQueriesContext(connection)
        self.autocommitted = 0

    def __call__(self, execute, sql, params, many, context):
        if not self.connection.in_atomic_block and writes(sql):
            self.autocommitted += 1
        return execute(sql, params, many, context)

    def __enter__(self) -> "Commits":
        self.autocommitted = 0
        # The log keeps the last 9000 queries only: once full, its length stops growing
        # and a capture, which slices it by length, would see nothing.
        self.connection.queries_log.clear()
        self.connection.execute_wrappers.append(self)
        self.queries.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.queries.__exit__(*exc)
        self.connection.execute_wrappers.remove(self)

    @property
    def sql(self) -> list[str]:
        return [query["sql"] for query in self.queries.captured_queries]

    @property
    def count(self) -> int:
        return self.sql.count("COMMIT") + self.autocommitted

    @property
    def statements(self) -> int:
        return len(self.sql)

    def writes_to(self, table: str) -> list[str]:
        return [sql for sql in self.sql if writes(sql) and f'"{table}"' in sql]
