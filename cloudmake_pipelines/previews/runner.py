"""One archival run, as the schedule, the CLI and Dagster all call it.

1. Archive: one statement on the database clock (:func:`archive.archive_expired`), in one transaction
   with the optional "a run finished recently" check that ``--force`` skips.
2. Clean up: work through the resource backlog (:class:`cleanup.Cleaner`); failures wait for the next run.
3. Measure: count active previews, the backlog and any preview still past its TTL, in the database; record
   the run; push the gauges when a Pushgateway is configured.

Every step is safe to repeat: a run killed at any point is finished by the next one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, insert, select

from ..db.helpers import require_tables
from ..db.tables import preview_archival_runs as runs
from ..logs import get_logger
from ..settings import Settings
from . import archive
from .archive import DEFAULT_TTL, PreviewRow
from .cleanup import Cleaner, CleanupProvider, CleanupSummary, holds_any
from .clock import Clock, DatabaseClock

if TYPE_CHECKING:
    from ..alerts import Alerter

log = get_logger("previews")
SCHEDULE_INTERVAL = timedelta(hours=6)
#: Failed cleanups with this many attempts raise an alert (they will not fix themselves).
ALERT_AFTER_ATTEMPTS = 3
_IDS_PER_LOG_LINE = 500


@dataclass
class ArchivalReport:
    as_of: datetime
    archived: list[str] = field(default_factory=list)
    cleanup: CleanupSummary = field(default_factory=CleanupSummary)
    active: int = 0
    cleanup_backlog: int = 0
    expired_remaining: int = 0
    duration_ms: float = 0.0
    metrics_pushed: bool | None = None  # None: no Pushgateway configured
    skipped: str | None = None  # why nothing ran (a recent run covers it; --force overrides)

    def as_dict(self) -> dict:
        return {"as_of": self.as_of.isoformat(), "skipped": self.skipped, "archived": self.archived,
                "archived_count": len(self.archived), "cleanup": self.cleanup.counts(),
                "cleanup_failures": self.cleanup.failed, "cleanup_stopped_early": self.cleanup.stopped_early,
                "active": self.active, "cleanup_backlog": self.cleanup_backlog,
                "expired_remaining": self.expired_remaining, "metrics_pushed": self.metrics_pushed,
                "duration_ms": self.duration_ms}


@dataclass
class DryRunReport:
    as_of: datetime
    would_archive: list[PreviewRow]
    active: int
    cleanup_backlog: int

    def as_dict(self) -> dict:
        return {"as_of": self.as_of.isoformat(), "dry_run": True, "would_archive_count": len(self.would_archive),
                "would_archive": [row.as_dict() for row in self.would_archive], "active": self.active,
                "cleanup_backlog": self.cleanup_backlog}


@dataclass
class Archiver:
    """Archives expired previews and frees their resources. Time comes from ``clock`` (database by default)."""

    engine: Engine
    providers: Sequence[CleanupProvider]
    clock: Clock = field(default_factory=DatabaseClock)
    ttl: timedelta = DEFAULT_TTL
    cleanup_limit: int = 200
    cleanup_budget_seconds: float = 300.0
    pushgateway_url: str | None = None
    environment: str = "dev"
    alerter: Alerter | None = None

    def run(self, *, source: str = "cli", run_id: str | None = None,
            skip_if_ran_within: timedelta | None = None) -> ArchivalReport:
        started = time.perf_counter()
        if skip_if_ran_within and (skipped := self._skipped(skip_if_ran_within)):
            return skipped
        # On SQLite every write transaction below starts with its write (reading the clock touches no
        # table): a transaction that reads first cannot wait for a concurrent writer, it fails instead.
        with self.engine.begin() as conn:
            as_of = archive.database_now(conn, self.clock)
            archived = archive.archive_expired(conn, self.clock, holds_any(self.providers), self.ttl)
        report = ArchivalReport(as_of, archived)
        self._log_archived(archived, as_of)
        report.cleanup = Cleaner(self.engine, self.providers, self.clock, max_environments=self.cleanup_limit,
                                 time_budget_seconds=self.cleanup_budget_seconds).run()
        with self.engine.connect() as conn:
            counts = archive.count(conn, active=archive.is_preview(), backlog=archive.backlog(),
                                   stuck=archive.backlog(ALERT_AFTER_ATTEMPTS),
                                   expired=archive.expired_as_of(conn, self.clock, self.ttl, as_of))
        report.active, report.cleanup_backlog, report.expired_remaining = (
            counts["active"], counts["backlog"], counts["expired"])
        stuck = counts["stuck"]
        report.duration_ms = round((time.perf_counter() - started) * 1000, 1)
        with self.engine.begin() as conn:
            finished_at = self._record(conn, report, source, run_id)
        if self.pushgateway_url:
            from .metrics import PreviewGauges, push  # prometheus_client: only for a run that pushes

            report.metrics_pushed = push(PreviewGauges(report.active, report.cleanup_backlog, len(archived),
                                                       finished_at.timestamp()),
                                         self.pushgateway_url, self.environment)
        self._log_summary(report)
        if stuck and self.alerter is not None:
            from ..alerts import Alert

            self.alerter.send(Alert(
                task="preview_archival", key="preview-cleanup-stuck", environment=self.environment,
                summary=f"{stuck} archived preview(s) still hold resources after {ALERT_AFTER_ATTEMPTS}+ cleanup "
                        "attempts", details={"failures": report.cleanup.failed}))
        return report

    def dry_run(self, limit: int | None = None) -> DryRunReport:
        """What a run would archive now; writes nothing."""
        with self.engine.connect() as conn:
            counts = archive.count(conn, active=archive.is_preview(), backlog=archive.backlog())
            return DryRunReport(archive.database_now(conn, self.clock),
                                archive.expired_previews(conn, self.clock, self.ttl, limit),
                                counts["active"], counts["backlog"])

    def _skipped(self, interval: timedelta) -> ArchivalReport | None:
        """A report saying why this run is skipped when a run finished less than ``interval`` ago."""
        with self.engine.connect() as conn:
            since = self.clock.at(conn.dialect.name, -interval)
            recent = conn.execute(select(runs.c.finished_at).where(runs.c.finished_at > since)
                                  .order_by(runs.c.finished_at.desc()).limit(1)).scalar()
            now = archive.database_now(conn, self.clock)
            if recent is None:
                return None
            # A skipped run still reports the state it saw, not zeros (``active: 0`` with previews active misleads).
            counts = archive.count(conn, active=archive.is_preview(), backlog=archive.backlog(),
                                   expired=archive.expired_as_of(conn, self.clock, self.ttl, now))
        report = ArchivalReport(now, active=counts["active"], cleanup_backlog=counts["backlog"],
                                expired_remaining=counts["expired"], skipped=(
            f"the last archival finished at {recent.isoformat()}, within the {interval.total_seconds() / 3600:g} h "
            "schedule: nothing to do until the next scheduled run (use --force to archive now)"))
        log.info(f"preview archival skipped: {report.skipped}")
        return report

    def _record(self, conn: Connection, report: ArchivalReport, source: str, run_id: str | None) -> datetime:
        counts = report.cleanup.counts()
        return conn.execute(insert(runs).values(
            source=source, run_id=run_id, as_of=report.as_of, finished_at=self.clock.at(conn.dialect.name),
            archived=len(report.archived), freed=counts["freed"], already_gone=counts["already_gone"],
            cleanup_failed=counts["failed"], retried=counts["retried"], active_after=report.active,
            duration_ms=report.duration_ms).returning(runs.c.finished_at)).scalar_one()

    @staticmethod
    def _log_archived(archived: list[str], as_of: datetime) -> None:
        if not archived:
            log.info("no preview environment past its TTL: nothing archived", extra={"as_of": as_of.isoformat()})
        for start in range(0, len(archived), _IDS_PER_LOG_LINE):
            chunk = archived[start:start + _IDS_PER_LOG_LINE]
            log.info(f"archived {len(chunk)} preview environment(s)",
                     extra={"archived_ids": chunk, "total_archived": len(archived), "as_of": as_of.isoformat()})

    @staticmethod
    def _log_summary(report: ArchivalReport) -> None:
        counts = report.cleanup.counts()
        log.info("preview archival finished", extra={
            "archived": len(report.archived), **{f"cleanup_{k}": v for k, v in counts.items()},
            "cleanup_backlog": report.cleanup_backlog, "preview_env_active_total": report.active,
            "expired_remaining": report.expired_remaining, "duration_ms": report.duration_ms})


def last_run(engine: Engine) -> dict | None:
    """The latest recorded (non-dry) run: its database time ``as_of``, counts and source."""
    with engine.connect() as conn:
        row = conn.execute(select(runs).order_by(runs.c.finished_at.desc(), runs.c.id.desc()).limit(1)).first()
    return dict(row._mapping) if row else None


def require_schema(engine: Engine) -> None:
    """Fail with what to do when migration 0006_previews is not applied (instead of an SQL error)."""
    require_tables(engine, runs)


def build_archiver(engine: Engine, settings: Settings, *, neon_api_url: str | None = None,
                   pushgateway_url: str | None = None, alerter: Alerter | None = None,
                   cleanup_limit: int = 200) -> Archiver:
    """The archiver as configured: ``previews`` settings (NEON_API_KEY, NEON_API_URL,
    PROMETHEUS_PUSHGATEWAY_URL), with the arguments that are not None winning (validated the same way). The one place the CLI and Dagster build it."""
    from .neon import neon_provider  # httpx: only for a run, not for `cloudmake previews list`

    require_schema(engine)
    config = settings.previews.merged(neon_api_url=neon_api_url, pushgateway_url=pushgateway_url)
    key = config.neon_api_key
    return Archiver(engine, [neon_provider(key.reveal() if key else None, config.neon_api_url)],
                    pushgateway_url=config.pushgateway_url,
                    environment=settings.environment, alerter=alerter, cleanup_limit=cleanup_limit)
