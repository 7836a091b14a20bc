"""The archival statement and the queries around it, as SQL over ``environments``.

A preview is expired when ``ttl_expires_at`` is past, or, when no TTL was set, when it was created more
than the default TTL (72 h) ago. Archiving is ONE ``UPDATE ... RETURNING``: the database picks the rows on
its own clock, and two overlapping runs cannot both archive a row (PostgreSQL re-checks ``kind`` on a row
the other run changed; SQLite serialises writers), so each environment is archived exactly once and the
ids each run returns are the ones it archived. The same statement queues the environment's resources for
cleanup, so a run killed right after archiving still frees them on the next run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
    update,
)

from ..db.tables import environments as env
from ..db.types import UTCDateTime
from .clock import Clock, shifted

DEFAULT_TTL = timedelta(hours=72)
PREVIEW, ARCHIVED = "preview", "archived"
PENDING, FAILED, FREED, ALREADY_GONE, NO_RESOURCES = "pending", "failed", "freed", "already_gone", "no_resources"
#: Statuses still waiting for cleanup: those the partial index ``ix_environments_cleanup_status`` holds.
BACKLOG = (PENDING, FAILED)


def _const(value: str) -> ColumnElement:
    # Inlined, not bound: PostgreSQL can only use a partial index when it sees the literal in the plan.
    return literal_column(f"'{value}'")


def is_preview() -> ColumnElement[bool]:
    return env.c.kind == _const(PREVIEW)


def in_backlog() -> ColumnElement[bool]:
    return env.c.cleanup_status.in_([_const(status) for status in BACKLOG])


def expired(dialect: str, now: ColumnElement, ttl: timedelta = DEFAULT_TTL) -> ColumnElement[bool]:
    """Active previews past their TTL at ``now`` (SQL: a clock's ``at()`` or a bound moment)."""
    cutoff = shifted(dialect, now, -ttl)
    return and_(is_preview(), or_(env.c.ttl_expires_at < now,
                                  and_(env.c.ttl_expires_at.is_(None), env.c.created_at < cutoff)))


def effective_expiry(conn: Connection, ttl: timedelta = DEFAULT_TTL) -> ColumnElement:
    """The moment a preview expires: its TTL, or its creation plus the default TTL."""
    return func.coalesce(env.c.ttl_expires_at, shifted(conn.dialect.name, env.c.created_at, ttl))


def database_now(conn: Connection, clock: Clock) -> datetime:
    return conn.execute(select(clock.at(conn.dialect.name))).scalar_one()


def archive_expired(conn: Connection, clock: Clock, holds_resources: ColumnElement[bool],
                    ttl: timedelta = DEFAULT_TTL) -> list[str]:
    """Archive every expired preview in one statement; returns the ids this call archived.

    ``holds_resources`` says (in SQL) whether an environment has something a cleanup provider frees:
    those become ``pending``, the rest ``no_resources``.
    """
    now = clock.at(conn.dialect.name)
    statement = (
        update(env)
        .where(expired(conn.dialect.name, now, ttl))
        .values(kind=ARCHIVED, archived_at=now, cleanup_updated_at=now, cleanup_attempts=0,
                cleanup_error=None, cleanup_lease_until=None,
                cleanup_status=case((holds_resources, PENDING), else_=NO_RESOURCES))
        .returning(env.c.id)
    )
    return sorted(conn.execute(statement).scalars())


@dataclass(frozen=True)
class PreviewRow:
    id: str
    name: str
    kind: str
    created_at: datetime
    expires_at: datetime
    archived_at: datetime | None
    neon_branch_id: str | None
    cleanup_status: str | None
    cleanup_attempts: int
    cleanup_error: str | None

    def as_dict(self) -> dict:
        return {key: (value.isoformat() if isinstance(value, datetime) else value)
                for key, value in self.__dict__.items()}


def _rows(conn: Connection, where: ColumnElement[bool], order_by, limit: int | None,
          ttl: timedelta) -> list[PreviewRow]:
    query = (select(env.c.id, env.c.name, env.c.kind, env.c.created_at,
                    effective_expiry(conn, ttl).label("expires_at"), env.c.archived_at, env.c.neon_branch_id,
                    env.c.cleanup_status, env.c.cleanup_attempts, env.c.cleanup_error)
             .where(where).order_by(*order_by).limit(limit))
    return [PreviewRow(**row._mapping) for row in conn.execute(query)]


def expired_previews(conn: Connection, clock: Clock, ttl: timedelta = DEFAULT_TTL,
                     limit: int | None = None) -> list[PreviewRow]:
    """What :func:`archive_expired` would archive now (the dry run)."""
    return _rows(conn, expired(conn.dialect.name, clock.at(conn.dialect.name), ttl), [env.c.id], limit, ttl)


def active_previews(conn: Connection, ttl: timedelta = DEFAULT_TTL, limit: int | None = None) -> list[PreviewRow]:
    """Active previews, soonest to expire first."""
    return _rows(conn, is_preview(), [effective_expiry(conn, ttl), env.c.id], limit, ttl)


def archived_previews(conn: Connection, ttl: timedelta = DEFAULT_TTL, limit: int | None = None) -> list[PreviewRow]:
    """Archived environments that were previews (they carry a cleanup status), latest first."""
    where = and_(env.c.kind == _const(ARCHIVED), env.c.cleanup_status.is_not(None))
    return _rows(conn, where, [env.c.archived_at.desc(), env.c.id], limit, ttl)


def expired_as_of(conn: Connection, clock: Clock, ttl: timedelta = DEFAULT_TTL,
                  as_of: datetime | None = None) -> ColumnElement[bool]:
    """Active previews past their TTL at ``as_of`` (default: the clock's now)."""
    now = clock.at(conn.dialect.name) if as_of is None else literal(as_of, UTCDateTime)
    return expired(conn.dialect.name, now, ttl)


def backlog(min_attempts: int = 0) -> ColumnElement[bool]:
    """Archived environments whose resources are not freed yet (with at least ``min_attempts`` tries)."""
    return in_backlog() if not min_attempts else and_(in_backlog(), env.c.cleanup_attempts >= min_attempts)


def count(conn: Connection, **predicates: ColumnElement[bool]) -> dict[str, int]:
    """How many environments match each predicate, in one round trip (``count(conn, active=is_preview())``)."""
    row = conn.execute(select(*(select(func.count()).select_from(env).where(where).scalar_subquery().label(name)
                                for name, where in predicates.items()))).one()
    return dict(row._mapping)
