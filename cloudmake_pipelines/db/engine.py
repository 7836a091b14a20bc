"""Engines that behave the same on the embedded SQLite default and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from ..settings import normalize_database_url
from .errors import CONNECT_TIMEOUT_S, describe_postgres, describe_sqlite, missing_sqlite


def make_engine(url: str, *, create: bool = True, source: str = "DATABASE_URL", **kwargs) -> Engine:
    """Create an engine for ``url``. SQLite gets WAL, foreign keys and a busy timeout; its folder is created.

    ``create=False`` is for read-only commands: a missing SQLite file is an error instead of a new empty
    database (and folder). A connection that cannot be made raises
    :class:`~cloudmake_pipelines.db.errors.DatabaseUnavailable` naming ``source`` (where the URL came from).
    PostgreSQL connection attempts give up after ``CONNECT_TIMEOUT_S`` unless the URL sets ``connect_timeout``.
    """
    url = normalize_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if (path := sqlite_file(url)) is not None:
            _prepare_sqlite_file(path, create, source)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # Let SQLAlchemy, not pysqlite, decide where transactions begin, so DDL is transactional too.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # Deferred, so readers never wait (WAL). A transaction that reads and later writes can fail
            # with "database is locked" if another writer committed in between: write first in those.
            conn.exec_driver_sql("BEGIN")

        _raise_unavailable_on_connect(engine, lambda exc: describe_sqlite(parsed.database, exc, source))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "connect_timeout" not in parsed.query:
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S, **kwargs.get("connect_args", {})}
    engine = create_engine(url, **kwargs)
    _raise_unavailable_on_connect(engine, lambda exc: describe_postgres(parsed, exc, source))
    return engine


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for PostgreSQL and in-memory SQLite."""
    parsed = make_url(normalize_database_url(url))
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _prepare_sqlite_file(path: Path, create: bool, source: str) -> None:
    if not create and not path.is_file():
        raise missing_sqlite(str(path), source)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise describe_sqlite(str(path), exc, source) from None


def _raise_unavailable_on_connect(engine: Engine, describe) -> None:
    """A failure to open a connection (not a failing statement) becomes one clear DatabaseUnavailable."""

    @event.listens_for(engine, "handle_error")
    def _unavailable(context):
        if context.connection is None and not context.is_pre_ping:
            raise describe(context.original_exception) from None
