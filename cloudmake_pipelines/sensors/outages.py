"""Seed task 2 in Dagster: the ``mcp_outage_detector`` sensor and its small alert job.

Every 5 minutes the sensor runs one detection tick (:mod:`cloudmake_pipelines.outages.detector`) from
its cursor and requests one ``mcp_outage_alert_job`` run per notification due, with a run key per episode and
kind, so Dagster itself never launches the same alert twice. When the breaker source or the database is
unreachable the tick is skipped with the reason and the cursor stays: the next tick catches up.

The alert job lives here, beside the sensor, not in ``jobs/``: only this sensor launches it, and the
notification it carries goes out (``Notification.to_config``) and comes back (``from_config``) in this file.
"""

import contextlib
import logging
from collections.abc import Iterator

import dagster as dg

from ..assets import fails_clearly, labels
from ..db.types import utcnow
from ..logs import PinoFormatter
from ..outages import Cursor, Notification, SourceUnavailable
from ..outages.detector import TASK
from ..outages.history import OutageHistory
from ..resources import AlertsResource, DatabaseResource, SettingsResource
from ..resources.outages import OutageDetectionResource


@dg.op(description="Send one outage notification and record it as sent on its episode.",
       config_schema=dg.Permissive())
@fails_clearly
def send_outage_alert(context: dg.OpExecutionContext, database: DatabaseResource, alerts: AlertsResource) -> None:
    notification = Notification.from_config(context.op_config)
    delivered = notification.deliver(alerts.get_alerter(), OutageHistory(database.get_engine()), utcnow())
    context.log.info(f"{notification.kind} notification for {notification.server}: {notification.alert.summary}")
    if not delivered:
        raise dg.Failure(f"the alert webhook did not accept the {notification.kind} notification for "
                         f"{notification.server} (it is in the logs at level 50); re-execute this run to resend")


@dg.job(description="Deliver one MCP outage notification (launched by mcp_outage_detector).",
        tags=labels("mcp_outages", 2), executor_def=dg.in_process_executor)
def mcp_outage_alert_job():
    send_outage_alert()


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


@dg.sensor(name="mcp_outage_detector", job=mcp_outage_alert_job, minimum_interval_seconds=300,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Reads MCP circuit-breaker transitions since its cursor; alerts once per "
                       "outage episode degraded > 90 s, then once when it resolves, with fallback guidance.")
def mcp_outage_detector(context: dg.SensorEvaluationContext, database: DatabaseResource,
                        mcp_outages: OutageDetectionResource, settings: SettingsResource):
    cursor = Cursor.loads(context.cursor)
    detector = mcp_outages.detector(database, settings.get().environment)
    try:
        with _tick_log(context.log):
            result = detector.tick(cursor, mcp_outages.now())
    except SourceUnavailable as exc:
        where = f"transition {cursor.after}" if cursor else "the start"
        return dg.SkipReason(f"skipped: {exc}. The cursor stays at {where}; the next tick catches up.")
    finally:
        detector.source.close()
    run_requests = [
        dg.RunRequest(
            run_key=n.run_key,
            run_config={"ops": {"send_outage_alert": {"config": n.to_config()}}},
            tags={"mcp_server": n.server, "outage_kind": n.kind},
        )
        for n in result.notifications
    ]
    if run_requests:
        return dg.SensorResult(run_requests=run_requests, cursor=result.cursor.dumps())
    return dg.SensorResult(skip_reason=result.summary, cursor=result.cursor.dumps())


defs = dg.Definitions(sensors=[mcp_outage_detector], jobs=[mcp_outage_alert_job],
                      resources={"mcp_outages": OutageDetectionResource.from_env()})
