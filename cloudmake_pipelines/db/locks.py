"""Named, database-wide locks: one migration runner, one key rotation, one secrets sync at a time.

PostgreSQL: a session advisory lock whose key is derived from the name. SQLite: an exclusive ``flock``
on a file next to the database. Both are released when the process ends, so a killed run never
blocks the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from collections.abc import Iterator

from sqlalchemy import Engine, text

from .errors import describe_sqlite


def lock_key(name: str) -> int:
    """The advisory-lock key for ``name``: 63 bits of its SHA-256, so it is a positive bigint."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 1


@contextlib.contextmanager
def exclusive(engine: Engine, name: str, *, busy: Exception | None = None) -> Iterator[None]:
    """Hold the lock ``name`` on ``engine``'s database for the block.

    With ``busy`` set, raise it at once when another process holds the lock; without, wait for it.
    """
    if engine.dialect.name == "postgresql":
        key = lock_key(name)
        with engine.connect() as conn:
            if busy is None:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            elif not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                raise busy
            conn.commit()
            try:
                yield
            finally:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    try:
        handle = open(f"{database}.{name}.lock", "a")  # noqa: SIM115 - closed by the with below
    except OSError as exc:  # the database's folder is missing or not writable
        raise describe_sqlite(database, exc) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if busy is None else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
