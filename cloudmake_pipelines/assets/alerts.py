"""The alert outbox in Dagster (issue 15 item 2): the ``alert_outbox`` asset and its blocking check.

The outbox table is written by every task's alerts (:mod:`cloudmake_pipelines.alerts`) and emptied by the
``alert_outbox_delivery`` sensor, not materialized by a job: it is declared here as an external asset so
the UI shows it, with one check, ``alert_outbox_delivered``, that fails (ERROR) while an alert has waited
longer than ``ALERT_OVERDUE_MINUTES``. The sensor reports the check's result whenever it changes; the
check can also be run on demand (blocking, so a run that executes it fails).
"""

from datetime import timedelta

import dagster as dg
from sqlalchemy import Engine

from ..alerts import OutboxStatus, outbox_status
from ..db.types import utcnow
from ..resources import AlertsResource, DatabaseResource
from . import fails_clearly

TASK = "alert_outbox"
CHECK = "alert_outbox_delivered"

alert_outbox = dg.AssetSpec(
    TASK, group_name="alerts", kinds={"sqlalchemy"}, tags={"task": TASK},
    description="Every alert, stored before its webhook POST and retried until the webhook accepts it "
                "(at-least-once, with an idempotency key); delivered by the alert_outbox_delivery sensor.")


def outbox_verdict(engine: Engine, overdue_minutes: int) -> tuple[OutboxStatus, dict]:
    """The outbox's status and the check result's fields (passed, severity, metadata), for both the check
    and the sensor that reports it."""
    status = outbox_status(engine, utcnow(), timedelta(minutes=overdue_minutes))
    metadata = {**{k: v for k, v in status.as_dict().items() if v is not None}, "overdue_minutes": overdue_minutes}
    return status, {"passed": status.overdue == 0, "severity": dg.AssetCheckSeverity.ERROR, "metadata": metadata}


@dg.asset_check(asset=alert_outbox.key, name=CHECK, blocking=True,
                description="No alert has waited longer than ALERT_OVERDUE_MINUTES for the webhook to accept it.")
@fails_clearly
def alert_outbox_delivered(database: DatabaseResource, alerts: AlertsResource) -> dg.AssetCheckResult:
    _, verdict = outbox_verdict(database.get_engine(), alerts.group().overdue_minutes)
    return dg.AssetCheckResult(**verdict)


defs = dg.Definitions(assets=[alert_outbox], asset_checks=[alert_outbox_delivered])
