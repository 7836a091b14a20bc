"""Driving the outage sensor in tests: a frozen clock, a webhook receiver, and ticks as the daemon runs them.

A tick evaluates ``mcp_outage_detector`` with ``build_sensor_context`` on a real instance: its alerts are
stored in the outbox, and :meth:`Harness.deliver` runs ``alert_outbox_delivery``, which POSTs them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from cloudmake_pipelines.resources import AlertsResource, DatabaseResource, SettingsResource
from cloudmake_pipelines.resources.outages import OutageDetectionResource
from cloudmake_pipelines.sensors.alerts import alert_outbox_delivery
from cloudmake_pipelines.sensors.outages import mcp_outage_detector
from tests.support.webhook import WebhookReceiver

#: The outage tables' own migration branch (0001 -> 0004) and the alert outbox's (0001 -> 0013): what a test
#: that migrates a database itself applies (the ``engine`` fixture's database has every head).
OUTAGES_REVISION = "0004_mcp_outages"
OUTBOX_REVISION = "0013_alert_outbox"


T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class FrozenOutageDetection(OutageDetectionResource):
    """The production resource with the clock set by the test."""

    now_iso: str

    def now(self) -> datetime:
        return datetime.fromisoformat(self.now_iso)


@pytest.fixture(scope="module")
def inbox() -> Iterator[WebhookReceiver]:
    """One receiver per module; each Harness has its own mailbox on it."""
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def dagster_instance() -> Iterator[dg.DagsterInstance]:
    """One test instance per module (creating one costs seconds); each Harness tags its own runs."""
    with dg.instance_for_test() as instance:
        yield instance


@dataclass
class Harness:
    db_url: str
    instance: dg.DagsterInstance
    inbox: WebhookReceiver
    detection: dict = field(default_factory=dict)
    cursor: str | None = None
    name: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def webhook_url(self) -> str:
        return self.inbox.url_for(self.name)

    @property
    def received(self) -> list[dict]:
        return self.inbox.alerts_to(self.name)

    def resources(self, now: datetime) -> dict:
        return {"database": DatabaseResource(url=self.db_url), "settings": SettingsResource(),
                "alerts": AlertsResource(webhook_url=self.webhook_url),
                "mcp_outages": FrozenOutageDetection(now_iso=now.isoformat(), **self.detection)}

    def evaluate(self, now: datetime, cursor: str | None = None):
        context = dg.build_sensor_context(instance=self.instance, cursor=cursor, resources=self.resources(now))
        return mcp_outage_detector.evaluate_tick(context)

    def tick(self, now: datetime) -> tuple[object, list[dict]]:
        """One tick as the daemon runs it: evaluate and keep the cursor, then one tick of the delivery sensor.
        Returns the evaluation and the alerts the webhook received meanwhile."""
        before = len(self.received)
        data = self.evaluate(now, self.cursor)
        if data.cursor is not None:
            self.cursor = data.cursor
        self.deliver()
        return data, self.received[before:]

    def deliver(self, cursor: str | None = None):
        """One tick of ``alert_outbox_delivery`` (on the real clock: backoff is measured against it)."""
        context = dg.build_sensor_context(instance=self.instance, cursor=cursor, resources={
            "database": DatabaseResource(url=self.db_url), "alerts": AlertsResource(webhook_url=self.webhook_url)})
        return alert_outbox_delivery.evaluate_tick(context)
