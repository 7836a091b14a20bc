"""``alert_outbox_delivery``: every minute, POST the outbox's due alerts until the webhook accepts them.

It delivers *in the tick*, not through runs it launches. The lost alert of issue 15 was a launch that
failed (the code server timed out) followed by Dagster skipping the same run key on the next tick: any
design that hangs delivery on a run launch can lose it that way, or needs a new run key per attempt and
a run per retry. Here the outbox row is the state: a tick that fails or is skipped leaves the row due for
the next one. Each tick makes one attempt per due row (backoff between attempts comes from the row's
``next_attempt_at``), at most 1,000 rows (what the outage detector stores when a thousand servers go down
at once) and 30 s, well inside the sensor's evaluation timeout.

The tick also reports the ``alert_outbox_delivered`` check (and an observation of the counts) when its
result changes, so an overdue alert shows red on the asset without a run.
"""

import json

import dagster as dg

from ..assets.alerts import CHECK, TASK, outbox_verdict
from ..errors import CloudMakeError
from ..resources import AlertsResource, DatabaseResource

#: Rows and seconds one tick spends at most on deliveries.
BATCH, BUDGET_SECONDS = 1000, 30.0


@dg.sensor(name="alert_outbox_delivery", minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Delivers the alerts in the outbox whose next attempt is due (at-least-once, with "
                       "backoff); reports the alert_outbox_delivered check when it changes.")
def alert_outbox_delivery(context: dg.SensorEvaluationContext, database: DatabaseResource,
                          alerts: AlertsResource) -> dg.SensorResult:
    try:
        engine = database.get_engine()
        alerter = alerts.get_alerter(engine, attempts=1)
        delivered, failed = alerter.deliver_due(BATCH, BUDGET_SECONDS)
        status, verdict = outbox_verdict(engine, alerts.group().overdue_minutes)
    except CloudMakeError as exc:
        return dg.SensorResult(skip_reason=f"skipped: {exc}")
    summary = (f"delivered {delivered}, failed {failed}; {status.pending} pending, {status.overdue} overdue"
               if alerter.webhook_url else f"log-only (no ALERT_WEBHOOK_URL): {delivered} pending row(s) marked delivered")
    context.log.info(summary)
    state = json.dumps({"passed": verdict["passed"], "pending": status.pending, "overdue": status.overdue})
    events = []
    if state != context.cursor:
        events = [dg.AssetObservation(asset_key=TASK, metadata=verdict["metadata"]),
                  dg.AssetCheckEvaluation(asset_key=dg.AssetKey(TASK), check_name=CHECK, **verdict)]
    return dg.SensorResult(skip_reason=summary, cursor=state, asset_events=events)


defs = dg.Definitions(sensors=[alert_outbox_delivery])
