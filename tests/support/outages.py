"""Driving the outage sensor in tests: a frozen clock, a webhook receiver, and ticks that launch runs.

A tick evaluates ``mcp_outage_detector`` with ``build_sensor_context`` on a real instance, then launches
each requested run in process unless a run with that run key exists already — as the daemon does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import dagster as dg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cloudmake_pipelines.resources import AlertsResource, DatabaseResource, SettingsResource
from cloudmake_pipelines.sensors.mcp_outage_detector import (
    OutageDetectionResource,
    mcp_outage_alert,
    mcp_outage_detector,
)
from tests.support.servers import serve_asgi

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class FrozenOutageDetection(OutageDetectionResource):
    """The production resource with the clock set by the test."""

    now_iso: str

    def now(self) -> datetime:
        return datetime.fromisoformat(self.now_iso)


@contextlib.contextmanager
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """A real webhook receiver on 127.0.0.1: yields its URL and the list of bodies it received."""
    received: list[dict] = []

    async def hook(request: Request) -> JSONResponse:
        received.append(await request.json())
        return JSONResponse({"ok": True})

    with serve_asgi(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as base:
        yield f"{base}/hook", received


@dataclass
class Harness:
    db_url: str
    instance: dg.DagsterInstance
    webhook_url: str
    received: list[dict]
    detection: dict = field(default_factory=dict)
    cursor: str | None = None

    def resources(self, now: datetime) -> dict:
        return {"database": DatabaseResource(url=self.db_url), "settings": SettingsResource(),
                "alerts": AlertsResource(webhook_url=self.webhook_url),
                "mcp_outages": FrozenOutageDetection(now_iso=now.isoformat(), **self.detection)}

    def evaluate(self, now: datetime, cursor: str | None = None):
        context = dg.build_sensor_context(instance=self.instance, cursor=cursor, resources=self.resources(now))
        return mcp_outage_detector.evaluate_tick(context)

    def tick(self, now: datetime) -> tuple[object, list[dict]]:
        """One tick as the daemon runs it: evaluate, keep the cursor, launch new run keys. Returns the
        evaluation and the alerts the webhook received during the tick."""
        before = len(self.received)
        data = self.evaluate(now, self.cursor)
        if data.cursor is not None:
            self.cursor = data.cursor
        self.launch(data.run_requests or [])
        return data, self.received[before:]

    def launch(self, run_requests) -> None:
        for request in run_requests:
            if self.instance.get_runs(filters=dg.RunsFilter(tags={"dagster/run_key": request.run_key})):
                continue
            result = mcp_outage_alert.execute_in_process(
                run_config=request.run_config, instance=self.instance,
                tags={**request.tags, "dagster/run_key": request.run_key},
                resources={"database": DatabaseResource(url=self.db_url),
                           "alerts": AlertsResource(webhook_url=self.webhook_url)})
            assert result.success
