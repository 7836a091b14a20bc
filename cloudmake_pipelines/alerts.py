"""Alerts: one Pino line at level 50 with ``alert: true``, a row in the alert outbox, and a JSON POST.

Delivery is a guarantee (issue 15 item 2): an alert is first stored in ``alert_outbox`` under an
*idempotency key* (the alert key plus what makes this notification unique), then POSTed at once. A POST
that fails leaves the row pending with its attempts, the redacted error and the time of the next attempt
(tenacity's exponential backoff, never earlier than a ``Retry-After``); the ``alert_outbox_delivery`` sensor
retries due rows every minute until the webhook accepts them. So an alert is delivered **at least once**;
the idempotency key travels in the payload (``idempotency_key``) for receivers to de-duplicate. Recording
the same key twice is a no-op: no second row, no second level-50 line, no second POST. A producer that
raises many alerts at once (a thousand outages in one sensor tick) uses :meth:`Alerter.enqueue`: one
transaction, no POST, so it never waits on the webhook; ``alert_outbox_delivery`` POSTs them.

A failing webhook never fails the task that raised the alert. Without ``ALERT_WEBHOOK_URL`` (log-only) the
level-50 line *is* the alert: the row is stored already delivered, so the outbox still lists every alert and
still de-duplicates by key. An :class:`Alerter` without an engine (unit use) only logs and POSTs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, update
from tenacity import RetryCallState

from .db.helpers import dialect_insert, require_tables
from .db.tables import alert_outbox
from .db.types import utcnow
from .http import (
    TRANSIENT_STATUSES,
    HttpClient,
    HttpError,
    RetryLater,
    RetryPolicy,
    TransientStatus,
    Unreachable,
)
from .logs import get_logger, redactor

log = get_logger("alerts")

#: Between delivery attempts across ticks: 30 s, 1 min, 2 min ... at most an hour (tenacity, with jitter).
OUTBOX_BACKOFF = RetryPolicy(attempts=100, backoff=30.0, max_backoff=3600.0, jitter=15.0)


@dataclass(frozen=True)
class Alert:
    """What went wrong, for whom. ``key`` is stable across repeats so receivers can deduplicate."""

    task: str
    key: str
    summary: str
    severity: str = "error"  # error | warning | resolved
    details: Mapping[str, Any] = field(default_factory=dict)
    environment: str = "dev"

    def payload(self) -> dict[str, Any]:
        body = asdict(self)
        body["details"] = dict(self.details)
        body["sent_at"] = datetime.now(UTC).isoformat()
        return body


def next_attempt_at(attempts: int, now: datetime, not_before: datetime | None = None) -> datetime:
    """When to try again after ``attempts`` failed deliveries: :data:`OUTBOX_BACKOFF`'s tenacity wait, or
    later when the webhook asked for it (``Retry-After``)."""
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = max(1, attempts)
    when = now + timedelta(seconds=OUTBOX_BACKOFF.backoff_wait()(state))
    return max(when, not_before) if not_before else when


class Alerter:
    """Records and sends alerts. ``webhook_url=None`` means log-only (the line is the alert); ``engine``
    is the database holding the outbox (``None``: no outbox, unit use only)."""

    def __init__(self, webhook_url: str | None = None, *, engine: Engine | None = None, attempts: int = 4,
                 backoff_seconds: float = 0.5, timeout_seconds: float = 5.0,
                 clock: Callable[[], datetime] = utcnow):
        self.webhook_url, self.engine, self._clock = webhook_url, engine, clock
        self._webhook_down = False  # after a failed POST, further sends only record: the sensor retries them
        self._http = HttpClient(service="alert webhook", setting="ALERT_WEBHOOK_URL", timeout=timeout_seconds,
                                retry=RetryPolicy(attempts=attempts, backoff=backoff_seconds,
                                                  statuses=TRANSIENT_STATUSES | {500}), log=log)
        if engine is not None:
            require_tables(engine, alert_outbox)

    def send(self, alert: Alert, occurrence: str | None = None) -> bool:
        """Record the alert (logging it once), then try to deliver it. Returns whether the webhook has it
        (True when log-only); False means it stays pending and is retried by ``alert_outbox_delivery``.

        ``occurrence`` is what makes this notification unique under its key (an episode's "opened", a run);
        None means every call is a new notification.
        """
        key, body = self._keyed(alert, occurrence)
        if self.engine is not None:
            with self.engine.begin() as conn:
                new = self._insert(conn, alert, key, body)
            if not new:
                return self.delivered(key)  # recorded before: logged then, retried by the sensor if pending
        self._log(alert, key, body)
        if self._webhook_down and self.engine is not None:
            return False  # a batch does not wait on a dead webhook each time
        return self._deliver(key, body)

    def enqueue(self, alerts: Iterable[tuple[Alert, str]]) -> int:
        """Record each ``(alert, occurrence)`` (see :meth:`send`) in the outbox, in one transaction, without
        POSTing: ``alert_outbox_delivery`` delivers them. A key recorded before is a no-op. Each new alert is
        logged once (its level-50 line). Returns how many were new."""
        if self.engine is None:
            raise ValueError("Alerter.enqueue needs the outbox: create the Alerter with an engine")
        with self.engine.begin() as conn:
            new = [(alert, key, body) for alert, occurrence in alerts
                   for key, body in [self._keyed(alert, occurrence)] if self._insert(conn, alert, key, body)]
        for alert, key, body in new:
            self._log(alert, key, body)
        return len(new)

    def deliver_due(self, limit: int = 100, budget_seconds: float = 30.0) -> tuple[int, int]:
        """Try every pending row whose next attempt is due, oldest first, within ``budget_seconds``.
        Returns (delivered, still pending among those tried)."""
        if self.engine is None:
            return 0, 0
        if not self.webhook_url:  # log-only now: each pending row's line was logged when it was stored
            with self.engine.begin() as conn:
                done = conn.execute(update(alert_outbox).where(alert_outbox.c.delivered_at.is_(None))
                                    .values(delivered_at=self._clock(), next_attempt_at=None)).rowcount
            return done, 0
        started = now = self._clock()
        with self.engine.connect() as conn:
            rows = conn.execute(select(alert_outbox.c.idempotency_key, alert_outbox.c.payload).where(
                alert_outbox.c.delivered_at.is_(None),
                (alert_outbox.c.next_attempt_at.is_(None)) | (alert_outbox.c.next_attempt_at <= now),
            ).order_by(alert_outbox.c.id).limit(limit)).all()
        delivered = failed = 0
        for row in rows:
            if (self._clock() - started).total_seconds() > budget_seconds:
                break
            if self._deliver(row.idempotency_key, dict(row.payload)):
                delivered += 1
            else:
                failed += 1
        return delivered, failed

    def delivered(self, key: str) -> bool:
        """Whether the outbox row ``key`` was accepted by the webhook (or logged, when log-only)."""
        if self.engine is None:
            return False
        with self.engine.connect() as conn:
            at = conn.execute(select(alert_outbox.c.delivered_at).where(alert_outbox.c.idempotency_key == key))
            return at.scalar_one_or_none() is not None

    @staticmethod
    def _keyed(alert: Alert, occurrence: str | None) -> tuple[str, dict[str, Any]]:
        key = f"{alert.key}:{occurrence or uuid.uuid4().hex}"
        return key, {**alert.payload(), "idempotency_key": key}

    def _insert(self, conn, alert: Alert, key: str, body: dict[str, Any]) -> bool:
        """Insert the row unless the key is there; True when this call inserted it."""
        now = self._clock()
        statement = dialect_insert(conn, alert_outbox).values(
            idempotency_key=key, task=alert.task, alert_key=alert.key, severity=alert.severity, payload=body,
            created_at=now, attempts=0, delivered_at=None if self.webhook_url else now,
        ).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(alert_outbox.c.id)
        return conn.execute(statement).scalar_one_or_none() is not None  # rowcount: -1 on some drivers

    @staticmethod
    def _log(alert: Alert, key: str, body: dict[str, Any]) -> None:
        log.error(alert.summary, extra={"alert": True, "alert_key": alert.key, "alert_task": alert.task,
                                        "idempotency_key": key, "severity": alert.severity,
                                        "details": body["details"]})

    def _deliver(self, key: str, body: dict[str, Any]) -> bool:
        if not self.webhook_url:
            return True
        retry_at = None
        try:
            response = self._http.post(self.webhook_url, json=body)
            reason = None if response.is_success else f"HTTP {response.status_code}"
        except RetryLater as exc:
            reason, retry_at = f"HTTP {exc.status}", exc.retry_at
        except TransientStatus as exc:
            reason = f"HTTP {exc.status}"
        except Unreachable as exc:
            reason = exc.reason
        except Exception as exc:  # best effort by design: a bad URL or an unserializable detail is logged
            reason = str(exc) if isinstance(exc, HttpError) else type(exc).__name__
        if reason:
            self._webhook_down, reason = True, redactor(reason)
            log.warning("alert webhook delivery failed; it stays in the outbox and is retried",
                        extra={"alert_key": body.get("key"), "idempotency_key": key, "reason": reason})
        self._mark(key, reason, retry_at)
        return reason is None

    def _mark(self, key: str, reason: str | None, retry_at: datetime | None) -> None:
        if self.engine is None:
            return
        now = self._clock()
        with self.engine.begin() as conn:
            row = alert_outbox.c
            if reason is None:
                values: dict[str, Any] = {"delivered_at": now, "last_attempt_at": now, "attempts": row.attempts + 1,
                                          "next_attempt_at": None}
            else:
                attempts = conn.execute(select(row.attempts).where(row.idempotency_key == key)).scalar_one() + 1
                values = {"attempts": attempts, "last_error": reason[:2000], "last_attempt_at": now,
                          "next_attempt_at": next_attempt_at(attempts, now, retry_at)}
            conn.execute(update(alert_outbox).where(row.idempotency_key == key, row.delivered_at.is_(None))
                         .values(**values))


@dataclass(frozen=True)
class OutboxStatus:
    """The outbox at a glance: what ``cloudmake status`` and the ``alert_outbox`` check read."""

    pending: int
    overdue: int  # pending longer than the limit
    oldest_pending_at: datetime | None
    delivered: int

    def as_dict(self) -> dict[str, Any]:
        return {"pending": self.pending, "overdue": self.overdue, "delivered": self.delivered,
                "oldest_pending_at": self.oldest_pending_at.isoformat() if self.oldest_pending_at else None}


def outbox_status(engine: Engine, now: datetime, overdue_after: timedelta) -> OutboxStatus:
    c = alert_outbox.c
    with engine.connect() as conn:
        pending, oldest = conn.execute(select(func.count(), func.min(c.created_at))
                                       .where(c.delivered_at.is_(None))).one()
        overdue = conn.execute(select(func.count()).where(
            c.delivered_at.is_(None), c.created_at < now - overdue_after)).scalar_one()
        delivered = conn.execute(select(func.count()).where(c.delivered_at.is_not(None))).scalar_one()
    if isinstance(oldest, str):  # aggregate results skip the column type on SQLite
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return OutboxStatus(pending, overdue, oldest, delivered)


def outbox_rows(engine: Engine, pending_only: bool = False, limit: int = 100) -> list[dict[str, Any]]:
    """The newest rows, for ``cloudmake alerts list``."""
    c = alert_outbox.c
    query = select(c.idempotency_key, c.task, c.severity, c.created_at, c.attempts, c.last_error,
                   c.next_attempt_at, c.delivered_at).order_by(c.id.desc()).limit(limit)
    if pending_only:
        query = query.where(c.delivered_at.is_(None))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def retry_now(engine: Engine) -> int:
    """Make every pending row due at once (``cloudmake alerts retry``); returns how many."""
    with engine.begin() as conn:
        return conn.execute(update(alert_outbox).where(alert_outbox.c.delivered_at.is_(None))
                            .values(next_attempt_at=None)).rowcount
