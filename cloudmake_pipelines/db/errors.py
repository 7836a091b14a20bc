"""One place that turns "cannot reach or open the database" into a one-line error that says what to do.

The engine (db/engine.py) raises :class:`DatabaseUnavailable` from SQLAlchemy's ``handle_error`` hook
when a connection cannot be made, so every command and asset gets the same message instead of a
driver traceback, and code that checks for a missing table never mistakes an unreachable server for
an unmigrated one.
"""

from __future__ import annotations

from sqlalchemy.engine import URL

from ..errors import ConfigError
from ..logs import redactor

#: Seconds a PostgreSQL connection attempt may take; override per URL with ``?connect_timeout=N``.
CONNECT_TIMEOUT_S = 5

#: (text in the driver's message, what failed, what to do) for PostgreSQL (psycopg 3 and psycopg2 agree).
_POSTGRES_CAUSES = (
    ("password authentication failed", "authentication failed", "check the user and password in {source}"),
    ("no password supplied", "authentication failed: the server wants a password", "add it to {source}"),
    ("authentication failed", "authentication failed", "check the user and password in {source}"),
    ("role \"", "authentication failed: no such role", "check the user in {source}"),
    ("database \"", "unknown database", "create it (createdb) or fix the database name in {source}"),
    ("timeout expired", "timed out: no answer within {timeout} s",
     "check the host, port and network, or raise ?connect_timeout=N in {source}"),
    ("timed out", "timed out: no answer within {timeout} s",
     "check the host, port and network, or raise ?connect_timeout=N in {source}"),
    ("connection refused", "connection refused", "is PostgreSQL running there? check the host and port in {source}"),
    ("resolve host", "unknown host", "check the host name in {source}"),
    ("translate host name", "unknown host", "check the host name in {source}"),
    ("too many connections", "the server has no free connection slot", "retry later or raise max_connections"),
    ("starting up", "the server is starting up", "retry in a moment"),
    ("shutting down", "the server is shutting down", "retry when it is back"),
)


class DatabaseUnavailable(ConfigError):
    """The database could not be reached or opened; nothing was read or written (exit 2)."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return redactor(text.splitlines()[0] if text else type(exc).__name__)


def describe_postgres(url: URL, exc: BaseException, source: str = "DATABASE_URL") -> DatabaseUnavailable:
    """Name host, port, database and user (never the password), what failed and what to do."""
    where = (f"PostgreSQL database {url.database or '(default)'!r} on {url.host or 'localhost'}:{url.port or 5432}"
             f" as user {url.username or '(default)'!r}")
    message = str(exc).lower()
    timeout = url.query.get("connect_timeout", CONNECT_TIMEOUT_S)
    for needle, what, todo in _POSTGRES_CAUSES:
        if needle in message:
            return DatabaseUnavailable(f"cannot connect to {where}: {what.format(timeout=timeout)}; "
                                       f"{todo.format(source=source)}")
    return DatabaseUnavailable(f"cannot connect to {where}: {_first_line(exc)}; check {source}")


def describe_sqlite(path: str, exc: BaseException, source: str = "DATABASE_URL") -> DatabaseUnavailable:
    """Name the file, what failed and what to do."""
    return DatabaseUnavailable(f"cannot open SQLite database {path}: {_first_line(exc)}; check that the path in "
                               f"{source} is a database file in a folder this user can write")


def missing_sqlite(path: str, source: str = "DATABASE_URL") -> DatabaseUnavailable:
    """A read-only command found no database file: it must not create an empty one."""
    return DatabaseUnavailable(f"no SQLite database at {path}: run `cloudmake db upgrade` to create it, "
                               f"or point {source} at an existing one")
