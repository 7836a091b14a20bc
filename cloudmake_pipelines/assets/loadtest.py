"""Seed task 1 in Dagster: the ``mcp_server_metrics`` asset, partitioned per registered MCP server.

* partitions follow the registry (the ``mcp_server_partitions_sync`` sensor in :mod:`..sensors.loadtest`,
  and the schedule before it launches anything);
* ``mcp_load_test_nightly`` at 02:00 UTC launches one ``mcp_load_test_job`` run per enabled server's partition;
* checks: ``sc_021_list_p95`` (ERROR, blocking: list operations p95 <= 500 ms) and ``alert_conditions``
  (p95 > 750 ms or error rate > 5% sends one alert per server per run).

All the work is in :mod:`cloudmake_pipelines.loadtest`; this module only wires it to Dagster. The load tester
(aiohttp) is imported by the asset when it runs: loading the definitions (`cloudmake status`, every code
server and run worker) does not pay ~0.15 s of CPU for it.
"""

import dagster as dg

from ..loadtest.history import RUNS, p95_history
from ..loadtest.thresholds import load_thresholds
from ..mcp import Registry
from ..resources import AlertsResource, DatabaseResource, SettingsResource
from . import fails_clearly, frame_table, labels, load_step_tags, run_request, task_job

PARTITIONS_NAME = "mcp_servers"
TASK = "mcp_load_test"
SC021_CHECK = "sc_021_list_p95"
ALERT_CHECK = "alert_conditions"

mcp_server_partitions = dg.DynamicPartitionsDefinition(name=PARTITIONS_NAME)


class LoadTestConfig(dg.Config):
    """Launchpad options. Leave empty for the nightly settings from the thresholds file."""

    thresholds_path: str | None = None
    rate_per_second: float | None = None
    duration_seconds: float | None = None


@dg.asset(
    name="mcp_server_metrics",
    partitions_def=mcp_server_partitions,
    group_name="mcp",
    kinds={"python", "sql"},
    tags=labels(TASK, 1, "SC-021"),
    op_tags=load_step_tags(),
    description="Nightly open-loop load test of one MCP server's list operations: p50/p95/p99, error rate and "
                f"errors by kind, one mcp_server_metrics row per operation; p95_history: the last {RUNS} runs' p95 "
                "per operation (CLI runs included).",
    check_specs=[
        dg.AssetCheckSpec(SC021_CHECK, asset="mcp_server_metrics", blocking=True,
                          description="SC-021: every MCP list operation's p95 <= 500 ms (or the server's override). "
                                      "Blocking: the seed's target for list latency; a miss fails the run.",
                          metadata={"sc": "SC-021"}),
        dg.AssetCheckSpec(ALERT_CHECK, asset="mcp_server_metrics",
                          description="Alert conditions: p95 > 750 ms or error rate > 5%; sends one alert per run. Not "
                                      "blocking (WARN): the seed asks for an alert here, not a failed run."),
    ],
)
@fails_clearly
def mcp_server_metrics(context: dg.AssetExecutionContext, config: LoadTestConfig, database: DatabaseResource,
                       alerts: AlertsResource, settings: SettingsResource) -> dg.MaterializeResult:
    from ..loadtest.service import measure_and_record

    overrides = {k: v for k, v in (("rate_per_second", config.rate_per_second),
                                   ("duration_seconds", config.duration_seconds)) if v is not None}
    result, alerted = measure_and_record(
        database.get_engine(), context.partition_key, load_thresholds(config.thresholds_path),
        environment=settings.get().environment, run_id=context.run_id, alerter=alerts.get_alerter(database.get_engine()),
        overrides=overrides)
    metadata: dict[str, dg.RawMetadataValue] = {
        "server": result.server, "protocol": result.protocol_version or "none",
        "duration_ms": result.duration_ms, "late_starts": result.late_starts,
        "rows_written": len(result.operations)}
    for op in result.operations:
        key = op["operation"].replace("/", "_")
        if op["p95_ms"] is not None:  # no answer at all: no latency to plot, the error rate says why
            metadata[f"{key}.p95_ms"] = dg.MetadataValue.float(op["p95_ms"])
        metadata[f"{key}.error_rate"] = dg.MetadataValue.float(op["error_rate"])
        metadata[f"{key}.requests"] = dg.MetadataValue.int(op["requests"])
    if result.notes:
        metadata["notes"] = "; ".join(result.notes)
    metadata["p95_history"] = frame_table(p95_history(database.get_engine(), result.server))
    failures, reasons = result.sc021_failures(), result.alert_reasons()
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(check_name=SC021_CHECK, passed=not failures, severity=dg.AssetCheckSeverity.ERROR,
                                metadata={"target_p95_ms": result.thresholds.sc021_p95_ms,
                                          "failures": "; ".join(failures) or "none"}),
            dg.AssetCheckResult(check_name=ALERT_CHECK, passed=not reasons, severity=dg.AssetCheckSeverity.WARN,
                                metadata={"alert_sent": alerted, "reasons": "; ".join(reasons) or "none"}),
        ],
    )


mcp_load_test_job = task_job("mcp_load_test_job", [mcp_server_metrics], tags=labels(TASK, 1),
                             description="Load-test one MCP server (one partition per registered server).",
                             generates_load=True)


def partition_changes(registered: list[str], existing: list[str]) -> tuple[list[str], list[str]]:
    """What to add to and delete from the partition set so that it equals the registry."""
    return sorted(set(registered) - set(existing)), sorted(set(existing) - set(registered))


@dg.schedule(name="mcp_load_test_nightly", cron_schedule="0 2 * * *", execution_timezone="UTC",
             job=mcp_load_test_job, default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Load-test every enabled MCP server nightly at 02:00 UTC.")
def mcp_load_test_nightly(context: dg.ScheduleEvaluationContext, database: DatabaseResource):
    names = [s.name for s in Registry(database.get_engine()).list(enabled_only=True)]
    if not names:
        return dg.SkipReason("no enabled MCP servers in the registry (add one: cloudmake mcp add)")
    missing, _ = partition_changes(names, context.instance.get_dynamic_partitions(PARTITIONS_NAME))
    if missing:  # schedules cannot return partition requests: make sure each run's partition exists
        context.instance.add_dynamic_partitions(PARTITIONS_NAME, missing)
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return [run_request(run_key=f"{day}:{name}", partition_key=name, tags={"server": name}) for name in names]


defs = dg.Definitions(assets=[mcp_server_metrics], jobs=[mcp_load_test_job], schedules=[mcp_load_test_nightly])
