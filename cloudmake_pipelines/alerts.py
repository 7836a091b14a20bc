"""Alerts: one Pino line at level 50 with ``alert: true``, and an optional JSON POST to a webhook.

A failing webhook never fails the task that raised the alert: the failure is logged and the call
returns normally. Retries are the HTTP layer's (:mod:`.http`); 500 counts as transient here, since a
receiver deduplicates by ``key`` and a repeat is harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from .http import TRANSIENT_STATUSES, HttpClient, HttpError, RetryPolicy, TransientStatus, Unreachable
from .logs import get_logger, redactor

log = get_logger("alerts")


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


class Alerter:
    """Sends alerts. ``webhook_url=None`` means log-only (the line is the alert)."""

    def __init__(self, webhook_url: str | None = None, *, attempts: int = 4, backoff_seconds: float = 0.5,
                 timeout_seconds: float = 5.0):
        self.webhook_url = webhook_url
        self._http = HttpClient(service="alert webhook", setting="ALERT_WEBHOOK_URL", timeout=timeout_seconds,
                                retry=RetryPolicy(attempts=attempts, backoff=backoff_seconds,
                                                  statuses=TRANSIENT_STATUSES | {500}), log=log)

    def send(self, alert: Alert) -> bool:
        """Log the alert and deliver it. Returns whether the webhook accepted it (True when log-only)."""
        body = alert.payload()
        log.error(alert.summary, extra={"alert": True, "alert_key": alert.key, "alert_task": alert.task,
                                        "severity": alert.severity, "details": body["details"]})
        if not self.webhook_url:
            return True
        try:
            response = self._http.post(self.webhook_url, json=body)
            reason = None if response.is_success else f"HTTP {response.status_code}"
        except TransientStatus as exc:
            reason = f"HTTP {exc.status}"
        except Unreachable as exc:
            reason = exc.reason
        except Exception as exc:  # best effort by design: a bad URL or an unserializable detail is logged
            reason = str(exc) if isinstance(exc, HttpError) else type(exc).__name__
        if reason:
            log.warning("alert webhook delivery failed", extra={"alert_key": alert.key, "reason": redactor(reason)})
        return reason is None
