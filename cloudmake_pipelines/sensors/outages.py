"""Seed task 2 in Dagster: the ``mcp_outage_detector`` sensor.

Every 5 minutes the sensor runs one detection tick (:mod:`cloudmake_pipelines.outages.detector`) from its
cursor and hands the notifications due to the alert outbox (:mod:`cloudmake_pipelines.alerts`) in the tick:
stored, in one transaction, under the idempotency key "<alert key>:<kind>" (per server, episode start and
kind). The tick POSTs nothing: ``alert_outbox_delivery`` (every minute) POSTs them until the webhook accepts
each, so a thousand outages or a slow webhook never hold the tick (1,000 POSTs took seconds inside it).
Only once stored are they marked sent on their episodes, so a tick that dies in between asks again and the
outbox makes the repeat a no-op.

No run is launched per alert any more: that run's launch could fail, and the next tick's request under the
same run key was then skipped by Dagster, losing the alert (issue 15). When the breaker source or the
database is unreachable the tick is skipped with the reason and the cursor stays: the next tick catches up.
"""

import contextlib
import logging
from collections.abc import Iterator

import dagster as dg

from ..db.types import utcnow
from ..logs import PinoFormatter
from ..outages import Cursor, SourceUnavailable
from ..outages.detector import TASK, hand_over
from ..outages.history import OutageHistory
from ..resources import AlertsResource, DatabaseResource, SettingsResource
from ..resources.outages import OutageDetectionResource


class _ToTickLog(logging.Handler):
    """Copies the detector's log records, as Pino JSON lines, into the tick's log in the Dagster UI."""

    def __init__(self, target: logging.Logger):
        super().__init__()
        self.target = target
        self.setFormatter(PinoFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.target.log(record.levelno, self.format(record))


@contextlib.contextmanager
def _tick_log(target: logging.Logger) -> Iterator[None]:
    """For one tick, the detector's INFO lines reach the tick log (the code server configures no level)."""
    logger = logging.getLogger(f"cloudmake.{TASK}")
    handler, level = _ToTickLog(target), logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@dg.sensor(name="mcp_outage_detector", minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Reads MCP circuit-breaker transitions since its cursor; alerts once per "
                       "outage episode degraded > 90 s, then once when it resolves, with fallback guidance.")
def mcp_outage_detector(context: dg.SensorEvaluationContext, database: DatabaseResource,
                        mcp_outages: OutageDetectionResource, settings: SettingsResource, alerts: AlertsResource):
    cursor = Cursor.loads(context.cursor)
    detector = mcp_outages.detector(database, settings.get().environment)
    try:
        with _tick_log(context.log):
            result = detector.tick(cursor, mcp_outages.now())
            if result.notifications:
                hand_over(result.notifications, alerts.get_alerter(detector.engine), OutageHistory(detector.engine),
                          utcnow())
    except SourceUnavailable as exc:
        where = f"transition {cursor.after}" if cursor else "the start"
        return dg.SkipReason(f"skipped: {exc}. The cursor stays at {where}; the next tick catches up.")
    finally:
        detector.source.close()
    return dg.SensorResult(skip_reason=result.summary, cursor=result.cursor.dumps())


defs = dg.Definitions(sensors=[mcp_outage_detector], resources={"mcp_outages": OutageDetectionResource.from_env()})
