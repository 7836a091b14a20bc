"""One tick of outage detection: transitions since the cursor -> episodes -> notifications due.

Why transitions and not current states: an outage that opened and closed between two ticks leaves no
trace in the current state, but it is in the log. The tick

1. reads the transitions after the cursor (and older ids it is still waiting for: on PostgreSQL ids are
   taken before commit, so id 7 can become visible after id 8 — such gaps are re-asked for a while);
2. folds them, in one database transaction, into episodes (``mcp_outage_episodes``): leaving CLOSED
   starts one, closing ends it tentatively, reopening within the flap window continues it; it is
   resolved once the server has stayed closed for the flap window;
3. returns the notifications due: "opened" for an episode degraded longer than the threshold and not yet
   alerted, "resolved" for an alerted episode that resolved. They are keyed per server and episode
   start, and the sensor records them as sent once the alert outbox holds them, so no episode alerts twice;
4. keeps ``mcp_degradation_status`` (state, since when, fallback guidance) up to date.

A tick re-run with an old cursor (a crash lost the new one) changes nothing twice: the last transition
applied per server is stored with the status. Decisions that depend on "now" are only taken once the
log is read to its end, so a backlog is never mistaken for an ongoing outage.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text

from ..alerts import Alert, Alerter
from ..db.locks import lock_key
from ..db.tables import mcp_degradation_status
from ..errors import CloudMakeError
from ..logs import get_logger
from .config import OutageConfig
from .fallbacks import Fallbacks
from .history import OutageHistory
from .model import Episode, State, Transition, format_duration
from .sources import BreakerSource, database_reachable
from .store import Snapshot

TASK = "mcp_outage_detector"
#: pg_advisory_xact_lock key: one tick at a time folds episodes.
LOCK_KEY = lock_key(TASK)


@dataclass
class Cursor:
    """Position in the transition log: everything ``<= after`` was read, except the ``waiting`` ids
    (missing when seen, with the epoch second they were first missed)."""

    after: int = 0
    waiting: dict[int, float] = field(default_factory=dict)

    def dumps(self) -> str:
        return json.dumps({"after": self.after, "waiting": sorted(self.waiting.items())}, separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str | None) -> Cursor | None:
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return cls(int(data["after"]), {int(i): float(t) for i, t in data.get("waiting", [])})
        except (ValueError, TypeError, KeyError):
            raise CloudMakeError(f"the outage sensor cursor {raw[:80]!r} is not valid: expected "
                                 '{"after": <id>, "waiting": [[id, epoch], ...]}; reset the cursor in the UI'
                                 ) from None

    def advance(self, batch: list[Transition], now_epoch: float, config: OutageConfig) -> None:
        """Move past ``batch`` (ordered by id), noting the ids it skipped and forgetting expired ones."""
        for transition in batch:
            self.waiting.pop(transition.id, None)
        previous = self.after
        for transition in batch:
            if transition.id <= self.after:
                continue
            for missing in range(previous + 1, min(transition.id, previous + 1 + config.max_gaps)):
                if len(self.waiting) < config.max_gaps:
                    self.waiting[missing] = now_epoch
            previous = self.after = transition.id
        expired = now_epoch - config.gap_ttl_seconds
        self.waiting = {i: t for i, t in self.waiting.items() if t > expired}


@dataclass(frozen=True)
class Notification:
    kind: str  # opened | resolved
    server: str
    started_at: datetime
    alert: Alert

    @property
    def idempotency_key(self) -> str:
        """The outbox key: one per server, episode start and kind, whichever tick asks."""
        return f"{self.alert.key}:{self.kind}"


def hand_over(notifications: list[Notification], alerter: Alerter, history: OutageHistory, now: datetime) -> int:
    """Store the notifications in the alert outbox (one transaction; ``alert_outbox_delivery`` POSTs them),
    then record them as sent on their episodes (one more) so no later tick asks again. A crash in between
    asks again: the outbox keys make it a no-op. Returns how many were new in the outbox."""
    new = alerter.enqueue((n.alert, n.kind) for n in notifications)
    history.mark_notified_many([(n.server, n.started_at, n.kind) for n in notifications], now)
    return new


@dataclass
class TickResult:
    cursor: Cursor
    read: int = 0
    applied: int = 0
    servers: int = 0
    caught_up: bool = True
    bootstrapped: bool = False
    notifications: list[Notification] = field(default_factory=list)
    degraded: int = 0
    recovering: int = 0
    duration_ms: float = 0.0

    @property
    def summary(self) -> str:
        text_ = (f"{self.applied} transition(s) on {self.servers} server(s); {self.degraded} degraded, "
                 f"{self.recovering} recovering; {len(self.notifications)} notification(s) due")
        if self.bootstrapped:
            text_ = "started from the current breaker states; " + text_
        if not self.caught_up:
            text_ += "; more transitions pending: the next tick continues (no alert decided on a backlog)"
        return text_


class OutageDetector:
    def __init__(self, source: BreakerSource, engine: Engine, config: OutageConfig | None = None,
                 fallbacks: Fallbacks | None = None, *, environment: str = "dev"):
        self.source, self.engine = source, engine
        self.config = config or OutageConfig()
        self.fallbacks = fallbacks or Fallbacks()
        self.environment = environment
        self.history = OutageHistory(engine)
        self.log = get_logger(TASK)

    def tick(self, cursor: Cursor | None, now: datetime) -> TickResult:
        """Run one detection pass as of ``now``. Raises SourceUnavailable when a source cannot be read."""
        started = time.perf_counter()
        snapshot = None
        if cursor is None:
            cursor, snapshot = self._starting_point()
        result = TickResult(cursor, bootstrapped=snapshot is not None)
        batch = self._read(cursor, now, result)
        with database_reachable(), self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
            self._fold(conn, batch, snapshot, now, result)
        result.duration_ms = round((time.perf_counter() - started) * 1000, 1)
        self.log.info("outage detector tick", extra={
            "transitions": result.applied, "read": result.read, "servers": result.servers,
            "degraded": result.degraded, "recovering": result.recovering, "caught_up": result.caught_up,
            "notifications": [n.idempotency_key for n in result.notifications], "cursor_after": cursor.after,
            "waiting_ids": len(cursor.waiting), "duration_ms": result.duration_ms, "source": self.source.description})
        return result

    def _starting_point(self) -> tuple[Cursor, Snapshot | None]:
        """No cursor: resume after the last transition applied, or else start from a snapshot of the states."""
        with database_reachable(), self.engine.connect() as conn:
            resume = conn.execute(select(func.max(mcp_degradation_status.c.last_transition_id))).scalar_one()
        if resume is not None:
            return Cursor(int(resume)), None
        snapshot = self.source.snapshot()
        return Cursor(snapshot.last_transition_id), snapshot

    def _read(self, cursor: Cursor, now: datetime, result: TickResult) -> list[Transition]:
        batch: list[Transition] = []
        while True:
            rows = self.source.transitions(cursor.after, sorted(cursor.waiting), self.config.batch_size)
            cursor.advance(rows, now.timestamp(), self.config)
            batch.extend(rows)
            if len(rows) < self.config.batch_size:
                break
            if len(batch) >= self.config.max_transitions_per_tick:
                result.caught_up = False
                break
        result.read = len(batch)
        return batch

    def _fold(self, conn: Connection, batch: list[Transition], snapshot: Snapshot | None, now: datetime,
              result: TickResult) -> None:
        live = self.history.live_episodes(conn)
        statuses = {row.server_name: dict(row._mapping) for row in conn.execute(select(mcp_degradation_status))}
        changed: dict[int, Episode] = {}
        seen: dict[str, list[Transition]] = defaultdict(list)
        if snapshot is not None:
            for breaker in snapshot.breakers:
                if breaker.state != State.CLOSED and breaker.server not in live:
                    episode = Episode(breaker.server, breaker.left_closed_at or breaker.updated_at,
                                      breaker.state, breaker.failure_count, 1)
                    live[breaker.server] = changed[id(episode)] = episode
                statuses[breaker.server] = {"server_name": breaker.server, "breaker_state": breaker.state.value,
                                            "failure_count": breaker.failure_count, "last_transition_id": 0}
        flap = timedelta(seconds=self.config.flap_window_seconds)
        resolved: list[Episode] = []
        for transition in batch:
            server = transition.server
            status = statuses.setdefault(server, {"server_name": server, "last_transition_id": 0})
            if transition.id <= status["last_transition_id"]:
                continue  # applied by a tick whose cursor was lost
            status.update(last_transition_id=transition.id, breaker_state=transition.to_state.value,
                          failure_count=transition.failure_count)
            seen[server].append(transition)
            episode = live.get(server)
            if transition.to_state != State.CLOSED:
                if episode is not None and episode.ended_at is not None:
                    if transition.occurred_at - episode.ended_at <= flap:
                        episode.ended_at = None
                        episode.reopen_count += 1
                    else:  # closed longer than the flap window: that outage is over, a new one starts
                        episode.resolved_at = now
                        resolved.append(episode)
                        changed[id(episode)] = episode
                        episode = None
                if episode is None:
                    episode = live[server] = Episode(server, transition.occurred_at, transition.to_state)
            elif episode is None or episode.ended_at is not None:
                continue  # closed while already closed (an operator reset): no outage to fold
            else:
                episode.ended_at = transition.occurred_at
            episode.breaker_state = transition.to_state
            episode.peak_failure_count = max(episode.peak_failure_count, transition.failure_count)
            episode.transition_count += 1
            changed[id(episode)] = episode
        if result.caught_up:
            for server, episode in list(live.items()):
                if episode.ended_at is not None and now - episode.ended_at >= flap:
                    episode.resolved_at = now
                    resolved.append(episode)
                    changed[id(episode)] = episode
                    del live[server]
        self.history.save(conn, changed.values())
        self._log_transitions(seen)
        self._save_statuses(conn, statuses, live, set(seen) | {e.server for e in resolved}, now)
        result.applied = sum(len(v) for v in seen.values())
        result.servers = len(seen)
        result.degraded = sum(1 for e in live.values() if e.ended_at is None)
        result.recovering = len(live) - result.degraded
        if result.caught_up:
            result.notifications = self._due(conn, [*live.values(), *resolved], now)

    def _save_statuses(self, conn: Connection, statuses: dict[str, dict[str, Any]], live: dict[str, Episode],
                       touched: set[str], now: datetime) -> None:
        rows = []
        for server, status in statuses.items():
            episode = live.get(server)
            fallback = self.fallbacks.as_json(server) if episode is not None else None
            if server not in touched and status.get("fallback") == fallback and "status" in status:
                continue
            rows.append({**status, "status": episode.status if episode else "operational",
                         "degraded_since": episode.started_at if episode else None,
                         "fallback": fallback, "updated_at": now})
        self.history.save_statuses(conn, rows)

    def _due(self, conn: Connection, candidates: list[Episode], now: datetime) -> list[Notification]:
        threshold = timedelta(seconds=self.config.threshold_seconds)
        due = [self._notification("opened", e, now) for e in candidates
               if e.alerted_at is None and e.degraded_for(now) > threshold]
        since = now - timedelta(seconds=self.config.resolved_retry_seconds)
        due += [self._notification("resolved", e, now) for e in self.history.awaiting_resolved(conn, since)]
        return due

    def _notification(self, kind: str, episode: Episode, now: datetime) -> Notification:
        degraded = episode.degraded_for(now)
        guidance = self.fallbacks.for_server(episode.server)
        details = {
            "server": episode.server, "breaker_state": episode.breaker_state.value,
            "started_at": episode.started_at.isoformat(),
            "ended_at": episode.ended_at.isoformat() if episode.ended_at else None,
            "degraded_seconds": round(degraded.total_seconds(), 1),
            "peak_failure_count": episode.peak_failure_count, "transitions": episode.transition_count,
            "reopened": episode.reopen_count, "threshold_seconds": self.config.threshold_seconds,
            "fallback": self.fallbacks.as_json(episode.server),
        }
        if kind == "resolved":
            summary = f"MCP server '{episode.server}' recovered: the outage lasted {format_duration(degraded)}"
            severity = "resolved"
        else:
            state = "recovered since" if episode.ended_at else f"breaker {episode.breaker_state.value}"
            summary = (f"MCP server '{episode.server}' degraded for {format_duration(degraded)} ({state}, "
                       f"{episode.peak_failure_count} failures)")
            if episode.reopen_count:
                summary += f"; flapping: reopened {episode.reopen_count} time(s)"
            if guidance is not None and guidance.summary():
                summary += f"; fallback: {guidance.summary()}"
            severity = "error"
        alert = Alert(task=TASK, key=f"mcp_outage:{episode.server}:{episode.started_at.isoformat()}",
                      summary=summary, severity=severity, details=details, environment=self.environment)
        return Notification(kind, episode.server, episode.started_at, alert)

    def _log_transitions(self, seen: dict[str, list[Transition]]) -> None:
        for server, transitions in seen.items():
            self.log.info(f"breaker transitions for {server}", extra={
                "server": server, "failure_count": transitions[-1].failure_count,
                "transitions": [{"id": t.id, "from": t.from_state.value, "to": t.to_state.value,
                                 "failure_count": t.failure_count, "at": t.occurred_at.isoformat()}
                                for t in transitions]})
