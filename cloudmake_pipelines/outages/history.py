"""Outage episodes and the degradation status table: what the detector remembers between ticks.

The detector works inside one transaction per tick (``conn``); the alert job, the CLI and the HTTP API
use the standalone methods. ``mcp_degradation_status.last_transition_id`` is the last transition applied
per server, so a tick that is re-run (its cursor was lost in a crash) never applies one twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, insert, or_, select, update

from ..db.helpers import dialect_insert
from ..db.tables import mcp_degradation_status as status_table
from ..db.tables import mcp_outage_episodes as episodes
from .model import Episode, State

_FIELDS = ("server_name", "started_at", "ended_at", "breaker_state", "peak_failure_count", "transition_count",
           "reopen_count", "resolved_at", "alerted_at", "resolved_notified_at")


def _episode(row) -> Episode:
    return Episode(row.server_name, row.started_at, State(row.breaker_state), row.peak_failure_count,
                   row.transition_count, row.reopen_count, row.ended_at, row.resolved_at, row.alerted_at,
                   row.resolved_notified_at, row.id)


def _row(episode: Episode) -> dict[str, Any]:
    values = {name: getattr(episode, name) for name in _FIELDS if name != "server_name"}
    values["server_name"] = episode.server
    values["breaker_state"] = episode.breaker_state.value
    return values


class OutageHistory:
    def __init__(self, engine: Engine):
        self.engine = engine

    # -- inside the detector's transaction ---------------------------------------------------------
    @staticmethod
    def live_episodes(conn: Connection) -> dict[str, Episode]:
        """Episodes not yet resolved (at most one per server), by server."""
        rows = conn.execute(select(episodes).where(episodes.c.resolved_at.is_(None)))
        return {row.server_name: _episode(row) for row in rows}

    @staticmethod
    def last_applied(conn: Connection) -> dict[str, int]:
        rows = conn.execute(select(status_table.c.server_name, status_table.c.last_transition_id))
        return dict(rows.tuples().all())

    @staticmethod
    def save(conn: Connection, changed: Iterable[Episode]) -> None:
        new, known = [], []
        for episode in changed:
            (new if episode.id is None else known).append(episode)
        if new:
            conn.execute(insert(episodes), [_row(e) for e in new])
        if known:
            conn.execute(update(episodes).where(episodes.c.id == bindparam("b_id")).values(
                {name: bindparam(name) for name in _FIELDS if name not in ("server_name", "started_at")}),
                [{**_row(e), "b_id": e.id} for e in known])

    @staticmethod
    def save_statuses(conn: Connection, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        stmt = dialect_insert(conn, status_table)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["server_name"],
            set_={c.name: stmt.excluded[c.name] for c in status_table.columns if c.name != "server_name"},
        ), rows)

    @staticmethod
    def awaiting_resolved(conn: Connection, since: datetime) -> list[Episode]:
        """Resolved since ``since``, alerted, and their "resolved" notification not yet sent."""
        rows = conn.execute(select(episodes).where(
            episodes.c.resolved_at >= since, episodes.c.alerted_at.is_not(None),
            episodes.c.resolved_notified_at.is_(None)).order_by(episodes.c.id))
        return [_episode(row) for row in rows]

    # -- standalone ------------------------------------------------------------------------------
    def mark_notified_many(self, notified: Iterable[tuple[str, datetime, str]], at: datetime) -> None:
        """Record, in one transaction, that each ``(server, episode start, kind)`` notification (``opened``
        or ``resolved``) is in the alert outbox."""
        with self.engine.begin() as conn:
            for server, started_at, kind in notified:
                column = {"opened": "alerted_at", "resolved": "resolved_notified_at"}[kind]
                conn.execute(update(episodes).where(
                    episodes.c.server_name == server, episodes.c.started_at == started_at,
                    episodes.c[column].is_(None)).values({column: at}))

    def episode(self, server: str, started_at: datetime) -> Episode | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(episodes).where(episodes.c.server_name == server,
                                                      episodes.c.started_at == started_at)).first()
        return _episode(row) if row else None

    def recent(self, since: datetime) -> list[Episode]:
        """Ongoing episodes and those resolved since ``since``, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(episodes).where(or_(
                episodes.c.resolved_at.is_(None), episodes.c.resolved_at >= since)).order_by(
                episodes.c.started_at.desc(), episodes.c.server_name))
            return [_episode(row) for row in rows]

    def statuses(self, only_degraded: bool = False) -> list[dict[str, Any]]:
        """The degradation status table, as the API serves it."""
        query = select(status_table).order_by(status_table.c.server_name)
        if only_degraded:
            query = query.where(status_table.c.status != "operational")
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def last_tick_at(self) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(status_table.c.updated_at))).scalar_one()
