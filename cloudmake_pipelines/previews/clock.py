"""Where "now" comes from: the database's own clock in production, a hand-moved clock in tests.

A clock here yields SQL expressions rather than Python datetimes, so that the archival statement reads
``NOW()`` inside the database (one clock for every server that runs the task) while tests can still
travel in time by binding a fixed value instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import ColumnElement, Interval, func, literal, type_coerce

from ..db.types import UTCDateTime

#: SQLite has no NOW(): ``strftime`` with six fractional digits matches how SQLAlchemy stores datetimes
#: there, so comparisons between stored and computed times stay exact as text.
_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%f"


def shifted(dialect: str, moment: ColumnElement, offset: timedelta) -> ColumnElement:
    """``moment + offset`` in SQL, typed as a UTC timestamp, on PostgreSQL or SQLite."""
    if dialect == "sqlite":
        expr = func.strftime(_SQLITE_FORMAT, moment, f"{offset.total_seconds():+.3f} seconds").op("||")("000")
    elif offset:
        expr = moment + literal(offset, Interval())
    else:
        expr = moment
    return type_coerce(expr, UTCDateTime)


class Clock(Protocol):
    def at(self, dialect: str, offset: timedelta = timedelta(0)) -> ColumnElement:
        """SQL for now + ``offset``."""


class DatabaseClock:
    """The database server's clock: ``NOW()`` (the transaction's start) on PostgreSQL, ``'now'`` on SQLite."""

    def at(self, dialect: str, offset: timedelta = timedelta(0)) -> ColumnElement:
        return shifted(dialect, func.now() if dialect != "sqlite" else literal("now"), offset)


class ManualClock:
    """A clock that moves only when told (tests, replays): binds its time as a parameter."""

    def __init__(self, now: datetime):
        if now.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware datetime")
        self.now = now

    def advance(self, delta: timedelta) -> None:
        self.now += delta

    def at(self, dialect: str, offset: timedelta = timedelta(0)) -> ColumnElement:
        return literal(self.now + offset, UTCDateTime)
