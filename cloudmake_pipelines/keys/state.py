"""Where a rotation stands (``key_rotation_state``, one row per kind): what a re-run resumes from."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Connection, RowMapping, delete, insert, select, update

from ..db.tables import key_rotation_state


def current(conn: Connection, kind: str, *, lock: bool = False) -> RowMapping | None:
    """The rotation of ``kind`` in progress (None when the last one finished or none ever ran)."""
    query = select(key_rotation_state).where(key_rotation_state.c.kind == kind)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    return row if row is not None and row["finished_at"] is None else None


def begin(conn: Connection, kind: str, *, step: str, actor: str, at: datetime, from_ref: str | None,
          to_ref: str | None = None) -> RowMapping:
    """Start a new rotation of ``kind`` (replacing the finished one's row)."""
    conn.execute(delete(key_rotation_state).where(key_rotation_state.c.kind == kind))
    conn.execute(insert(key_rotation_state).values(
        kind=kind, rotation_id=str(uuid.uuid4()), step=step, from_ref=from_ref, to_ref=to_ref, actor=actor,
        started_at=at, updated_at=at))
    return current(conn, kind)


def advance(conn: Connection, kind: str, step: str, *, at: datetime, finished: bool = False, **fields) -> None:
    values = {"step": step, "updated_at": at, **fields}
    if finished:
        values["finished_at"] = at
    conn.execute(update(key_rotation_state).where(key_rotation_state.c.kind == kind).values(**values))


def last(conn: Connection, kind: str) -> RowMapping | None:
    """The latest rotation of ``kind``, finished or not."""
    return conn.execute(select(key_rotation_state).where(key_rotation_state.c.kind == kind)).mappings().first()
