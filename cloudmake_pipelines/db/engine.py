"""Engines that behave the same on the embedded SQLite default and on PostgreSQL."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from ..logs import get_logger
from ..settings import normalize_database_url
from .errors import CONNECT_TIMEOUT_S, describe_postgres, describe_sqlite, missing_sqlite

log = get_logger("db")
#: The embedded database holds ciphertexts, audit logs and breaker reasons: owner-only, like an SSH key.
DB_FILE_MODE = 0o600
STATE_DIR_MODE = 0o700
#: The file name settings give the embedded database; the directory holding it is the state directory.
DEFAULT_DB_NAME = "cloudmake.db"
_SIDECARS = ("-wal", "-shm", "-journal")


def _tighten(path: Path, mode: int, what: str) -> None:
    """Clear group/other bits of an existing ``path`` we own, with a warning saying what was loose."""
    current = stat.S_IMODE(path.stat().st_mode)
    if current & 0o077 and path.stat().st_uid == os.getuid():
        path.chmod(mode)
        log.warning(f"{what} was readable by other users: tightened", extra={
            "path": str(path), "mode_was": oct(current), "mode": oct(mode)})


def secure_sqlite_files(database: str) -> None:
    """Create the state directory 0700 and the database file 0600 before SQLite opens it.

    SQLite creates its ``-wal``, ``-shm`` and ``-journal`` files with the database file's mode, so a
    0600 file made here keeps them private too. Existing files with looser modes are tightened with a
    warning, as is the directory of ``cloudmake.db`` (the state directory). Any other existing directory
    is the operator's (say, a home directory), so it is left as it is; one created here is 0700.
    """
    path = Path(database)
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=STATE_DIR_MODE)
    elif path.name == DEFAULT_DB_NAME:
        _tighten(path.parent, STATE_DIR_MODE, "the state directory")
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, DB_FILE_MODE))
    for candidate in [path, *(path.with_name(path.name + s) for s in _SIDECARS)]:
        if candidate.exists():
            _tighten(candidate, DB_FILE_MODE, "the database file")


def make_engine(url: str, *, create: bool = True, source: str = "DATABASE_URL", **kwargs) -> Engine:
    """Create an engine for ``url``. SQLite gets WAL, foreign keys and a busy timeout; its folder and file are
    created private (:func:`secure_sqlite_files`).

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
        secure_sqlite_files(str(path))
    except OSError as exc:
        raise describe_sqlite(str(path), exc, source) from None


def _raise_unavailable_on_connect(engine: Engine, describe) -> None:
    """A failure to open a connection (not a failing statement) becomes one clear DatabaseUnavailable."""

    @event.listens_for(engine, "handle_error")
    def _unavailable(context):
        if context.connection is None and not context.is_pre_ping:
            raise describe(context.original_exception) from None
