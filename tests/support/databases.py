"""Throwaway PostgreSQL databases on a test server, created and dropped by name."""

import uuid
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

CONNECT_TIMEOUT_SECONDS = 5


def with_database(server_url: str, name: str) -> str:
    """`server_url` (with or without a database) pointing at database `name`."""
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


def admin(server_url: str, statement: str) -> None:
    """Runs `statement` in the maintenance database: the one named in the URL may not
    exist (pytest-django creates test_<name> instead)."""
    import psycopg

    maintenance = with_database(server_url, "postgres")
    with psycopg.connect(
        maintenance, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
    ) as connection:
        connection.execute(statement)


def create_database(server_url: str, prefix: str) -> str:
    """A new empty database `<prefix>_<random>` on the server; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin(server_url, f'CREATE DATABASE "{name}"')
    return with_database(server_url, name)


def drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def throwaway_database(server_url: str, prefix: str):
    """The URL of a new database, dropped on exit."""
    url = create_database(server_url, prefix)
    try:
        yield url
    finally:
        drop_database(url)


def unreachable(server_url: str) -> str:
    """Why the server of `server_url` cannot be reached ("" when it can)."""
    import psycopg

    try:
        with psycopg.connect(
            with_database(server_url, "postgres"), connect_timeout=CONNECT_TIMEOUT_SECONDS
        ):
            return ""
    except psycopg.OperationalError as error:
        return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
