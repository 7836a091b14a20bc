"""Freeing an archived preview's resources, through providers, with per-environment state.

Archival never waits on cleanup and never undoes itself: it marks each archived environment ``pending``
and this module works through that backlog. A run claims a small batch with a lease (one statement:
PostgreSQL's ``FOR UPDATE SKIP LOCKED`` keeps overlapping runs off each other's rows), asks every
provider to free what it owns, and records the outcome per environment at once, so a run killed midway
loses nothing: done work stays done, and claimed-but-unfinished environments are picked up again when
their lease expires. A failure is recorded (``failed``, with the reason and the attempt count) and
retried on the next run; it never blocks the other environments. Each run handles at most
``max_environments`` within ``time_budget_seconds``; the rest waits for the next run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Protocol

from sqlalchemy import ColumnElement, Engine, Select, false, or_, select, update

from ..db.tables import environments as env
from ..errors import CloudMakeError
from ..logs import get_logger, redactor
from .archive import ALREADY_GONE, FAILED, FREED, NO_RESOURCES, in_backlog
from .clock import Clock

log = get_logger("previews")


class Outcome(StrEnum):
    FREED = "freed"  # the provider deleted something just now
    ALREADY_GONE = "already_gone"  # it was deleted before (e.g. HTTP 404): nothing left to free
    NOTHING = "nothing"  # this environment holds nothing of this provider


class CleanupFailed(CloudMakeError):
    """Freeing a resource failed; the environment stays in the backlog and is retried next run."""


class ProviderUnavailable(CleanupFailed):
    """The provider cannot work at all this run (no or rejected credentials): do not call it again."""


@dataclass(frozen=True)
class ArchivedEnvironment:
    id: str
    name: str
    neon_project_id: str | None
    neon_branch_id: str | None
    attempts: int
    previously_failed: bool


class CleanupProvider(Protocol):
    """Frees one kind of resource an environment may hold. Must be idempotent: a retry may repeat a call."""

    name: str

    def holds_resources(self) -> ColumnElement[bool]:
        """SQL: does an ``environments`` row hold a resource of this provider?"""

    def applies(self, environment: ArchivedEnvironment) -> bool:
        """The same test in Python, for a claimed environment."""

    def free(self, environment: ArchivedEnvironment) -> Outcome:
        """Free the resource; raise :class:`CleanupFailed` (or :class:`ProviderUnavailable`) on failure."""


def holds_any(providers: Sequence[CleanupProvider]) -> ColumnElement[bool]:
    return or_(false(), *(provider.holds_resources() for provider in providers))


@dataclass
class CleanupSummary:
    freed: list[str] = field(default_factory=list)
    already_gone: list[str] = field(default_factory=list)
    nothing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # environment id -> reason
    retried: list[str] = field(default_factory=list)  # environments that had failed before
    stopped_early: bool = False  # hit the per-run limit or time budget

    def counts(self) -> dict[str, int]:
        return {"freed": len(self.freed), "already_gone": len(self.already_gone), "nothing": len(self.nothing),
                "failed": len(self.failed), "retried": len(self.retried)}


@dataclass
class Cleaner:
    """Works through the cleanup backlog with the given providers."""

    engine: Engine
    providers: Sequence[CleanupProvider]
    clock: Clock
    max_environments: int = 200
    time_budget_seconds: float = 300.0
    batch_size: int = 20
    lease: timedelta = timedelta(minutes=10)

    def run(self) -> CleanupSummary:
        summary = CleanupSummary()
        unavailable: dict[str, str] = {}
        handled: list[str] = []  # tried in this run: a failure waits for the next run, not the next batch
        deadline = time.monotonic() + self.time_budget_seconds
        while len(handled) < self.max_environments and time.monotonic() < deadline:
            batch = self._claim(min(self.batch_size, self.max_environments - len(handled)), handled)
            if not batch:
                return summary
            for environment in batch:
                self._clean(environment, summary, unavailable)
                handled.append(environment.id)
        with self.engine.connect() as conn:  # out of budget: is anything left for the next run?
            summary.stopped_early = conn.execute(self._unclaimed(handled, limit=1)).first() is not None
        return summary

    def _unclaimed(self, handled: list[str], limit: int) -> Select:
        """Backlog environments not tried in this run whose lease (if any) has expired."""
        now = self.clock.at(self.engine.dialect.name)
        return (select(env.c.id)
                .where(in_backlog(), env.c.id.not_in(handled),
                       or_(env.c.cleanup_lease_until.is_(None), env.c.cleanup_lease_until < now))
                .order_by(env.c.id).limit(limit))

    def _claim(self, limit: int, handled: list[str]) -> list[ArchivedEnvironment]:
        """Lease up to ``limit`` backlog environments; one statement."""
        candidates = self._unclaimed(handled, limit).with_for_update(skip_locked=True)
        with self.engine.begin() as conn:
            dialect = conn.dialect.name
            claimed = conn.execute(
                update(env).where(env.c.id.in_(candidates.scalar_subquery()))
                .values(cleanup_lease_until=self.clock.at(dialect, self.lease),
                        cleanup_attempts=env.c.cleanup_attempts + 1)
                .returning(env.c.id, env.c.name, env.c.neon_project_id, env.c.neon_branch_id,
                           env.c.cleanup_attempts, env.c.cleanup_status)
            ).all()
        return sorted((ArchivedEnvironment(row.id, row.name, row.neon_project_id, row.neon_branch_id,
                                           row.cleanup_attempts, row.cleanup_status == FAILED)
                       for row in claimed), key=lambda e: e.id)

    def _clean(self, environment: ArchivedEnvironment, summary: CleanupSummary,
               unavailable: dict[str, str]) -> None:
        outcomes: list[Outcome] = []
        error: str | None = None
        for provider in self.providers:
            if not provider.applies(environment):
                continue
            if provider.name in unavailable:
                error = unavailable[provider.name]
                break
            try:
                outcomes.append(provider.free(environment))
            except ProviderUnavailable as exc:
                error = unavailable[provider.name] = redactor(str(exc))
                break
            except CleanupFailed as exc:
                error = redactor(str(exc))
                break
            except Exception as exc:  # a bug or an unexpected library error: recorded, never fatal for the run
                error = redactor(f"{provider.name}: {type(exc).__name__}: {exc}")
                break
        if environment.previously_failed:
            summary.retried.append(environment.id)
        if error is not None:
            status = FAILED
            summary.failed[environment.id] = error
        elif Outcome.FREED in outcomes:
            status = FREED
            summary.freed.append(environment.id)
        elif Outcome.ALREADY_GONE in outcomes:
            status = ALREADY_GONE
            summary.already_gone.append(environment.id)
        else:
            status = NO_RESOURCES
            summary.nothing.append(environment.id)
        self._record(environment, status, error)

    def _record(self, environment: ArchivedEnvironment, status: str, error: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(env).where(env.c.id == environment.id)
                         .values(cleanup_status=status, cleanup_error=error, cleanup_lease_until=None,
                                 cleanup_updated_at=self.clock.at(conn.dialect.name)))
        fields = {"environment_id": environment.id, "cleanup_status": status, "attempt": environment.attempts}
        if error is None:
            log.info(f"preview {environment.id}: cleanup {status}", extra=fields)
        else:
            log.warning(f"preview {environment.id}: cleanup failed, retried next run: {error}",
                        extra={**fields, "error": error})
