"""Alerts: one Pino line at level 50 with ``alert: true``, and an optional JSON POST to a webhook.

A failing webhook never fails the task that raised the alert: the failure is logged and the call
returns normally. Retries with exponential backoff come from tenacity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

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


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500 or exc.response.status_code == 429
    return isinstance(exc, httpx.TransportError)


class Alerter:
    """Sends alerts. ``webhook_url=None`` means log-only (the line is the alert)."""

    def __init__(self, webhook_url: str | None = None, *, attempts: int = 4, backoff_seconds: float = 0.5,
                 timeout_seconds: float = 5.0, client: httpx.Client | None = None):
        self.webhook_url = webhook_url
        self._client = client or httpx.Client(timeout=timeout_seconds)
        self._post = retry(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=backoff_seconds, max=10),
            reraise=True,
        )(self._post_once)

    def _post_once(self, body: dict[str, Any]) -> None:
        response = self._client.post(self.webhook_url, json=body)
        response.raise_for_status()

    def send(self, alert: Alert) -> bool:
        """Log the alert and deliver it. Returns whether the webhook accepted it (True when log-only)."""
        body = alert.payload()
        log.error(alert.summary, extra={"alert": True, "alert_key": alert.key, "alert_task": alert.task,
                                        "severity": alert.severity, "details": body["details"]})
        if not self.webhook_url:
            return True
        try:
            self._post(body)
            return True
        except Exception as exc:  # delivery is best effort by design
            reason = f"HTTP {exc.response.status_code}" if isinstance(exc, httpx.HTTPStatusError) else type(exc).__name__
            log.warning("alert webhook delivery failed", extra={"alert_key": alert.key, "reason": redactor(reason)})
            return False
