"""The ``preview_env_active_total`` gauge, pushed to a Prometheus Pushgateway.

The value is counted in the database after each run, never adjusted by decrements, so it cannot drift
(a crashed run or a preview created elsewhere is reflected by the next push). A batch job has no
long-lived /metrics endpoint to scrape, hence the Pushgateway (``PROMETHEUS_PUSHGATEWAY_URL``); the push
replaces the previous values of this job's group, so the HTTP layer may retry it (prometheus_client builds
the request, the layer sends it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

from ..http import HttpClient, RetryPolicy
from ..logs import get_logger, redactor

log = get_logger("previews")
PUSH_JOB = "cloudmake_preview_archival"


@dataclass(frozen=True)
class PreviewGauges:
    active: int  # preview_env_active_total
    cleanup_backlog: int  # archived previews whose resources are not freed yet
    archived_last_run: int
    finished_at_unix: float

    def registry(self) -> CollectorRegistry:
        registry = CollectorRegistry()
        values = (
            ("preview_env_active_total", "Active preview environments, counted in the database", self.active),
            ("preview_env_cleanup_backlog", "Archived previews whose resources are not freed yet",
             self.cleanup_backlog),
            ("preview_env_archived_last_run", "Preview environments archived by the last run",
             self.archived_last_run),
            ("preview_archival_last_success_unixtime", "When the last archival run finished (Unix time)",
             self.finished_at_unix),
        )
        for name, documentation, value in values:
            Gauge(name, documentation, registry=registry).set(value)
        return registry


def _sender(http: HttpClient) -> Callable[..., Callable[[], None]]:
    """A prometheus_client push handler that sends through ``http`` (retries, timeouts, safe errors)."""

    def handler(url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes):
        def send() -> None:
            response = http.request(method, url, content=data, headers=dict(headers))
            if not response.is_success:
                raise OSError(f"the Pushgateway answered HTTP {response.status_code}")

        return send

    return handler


def push_registry(registry: CollectorRegistry, job: str, gateway_url: str, environment: str,
                  timeout_seconds: float = 10.0) -> bool:
    """Push ``registry`` as ``job``'s group; a failure is logged and reported (False), never raised: the
    task's work stands. Any task's gauges go through here (the quota task's too)."""
    try:
        with HttpClient(service="Pushgateway", setting="PROMETHEUS_PUSHGATEWAY_URL", timeout=timeout_seconds,
                        retry=RetryPolicy(attempts=3, deadline=30.0), log=log) as http:
            push_to_gateway(gateway_url, job=job, registry=registry, handler=_sender(http),
                            grouping_key={"environment": environment}, timeout=timeout_seconds)
    except Exception as exc:  # HTTP errors, bad URLs: the metrics are late, the work is done
        log.error("could not push metrics to the Pushgateway",
                  extra={"job": job, "pushgateway": redactor(gateway_url),
                         "error": redactor(f"{type(exc).__name__}: {exc}")})
        return False
    return True


def push(gauges: PreviewGauges, gateway_url: str, environment: str, timeout_seconds: float = 10.0) -> bool:
    """Push the preview gauges (see :func:`push_registry`)."""
    if not push_registry(gauges.registry(), PUSH_JOB, gateway_url, environment, timeout_seconds):
        return False
    log.info("pushed preview metrics", extra={"preview_env_active_total": gauges.active,
                                              "preview_env_cleanup_backlog": gauges.cleanup_backlog})
    return True
