"""The Dagster layer of seed task 1: partitions from the registry, the nightly schedule, the asset and checks."""

from datetime import UTC, datetime

import dagster as dg
import pytest
from sqlalchemy import select

from cloudmake_pipelines.assets import RUN_LOGGING, loadtest
from cloudmake_pipelines.assets.loadtest import (
    ALERT_CHECK,
    PARTITIONS_NAME,
    SC021_CHECK,
    mcp_load_test_nightly,
    mcp_server_metrics,
)
from cloudmake_pipelines.db.tables import alert_outbox
from cloudmake_pipelines.loadtest.store import recent_metrics
from cloudmake_pipelines.mcp import McpServer, Registry
from cloudmake_pipelines.resources import AlertsResource, DatabaseResource, SettingsResource, shared_resources
from cloudmake_pipelines.sensors import loadtest as loadtest_sensors
from cloudmake_pipelines.sensors.loadtest import mcp_server_partitions_sync
from tests.support.mcp_servers import Behaviour, constant, serve_mcp
from tests.support.webhook import WebhookReceiver


@pytest.fixture
def db_url(sqlite_url):
    """Dagster wiring is database-agnostic (the storage code is tested on both databases elsewhere)."""
    return sqlite_url


@pytest.fixture
def registry(engine):
    return Registry(engine)


def test_definitions_expose_the_asset_schedule_sensor_and_checks():
    defs = dg.Definitions.merge(loadtest.defs, loadtest_sensors.defs, dg.Definitions(resources=shared_resources()))
    assert defs.resolve_assets_def("mcp_server_metrics")
    schedule = defs.resolve_schedule_def("mcp_load_test_nightly")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 2 * * *", "UTC")
    assert schedule.job_name == "mcp_load_test_job"
    checks = {spec.name: spec for spec in mcp_server_metrics.check_specs}
    assert set(checks) == {SC021_CHECK, ALERT_CHECK}
    assert checks[SC021_CHECK].blocking and not checks[ALERT_CHECK].blocking
    assert defs.resolve_sensor_def("mcp_server_partitions_sync")


def test_partitions_follow_the_registry(registry, db_url):
    registry.add(McpServer("a", "http://127.0.0.1:9/mcp"))
    registry.add(McpServer("b", "http://127.0.0.1:9/mcp", enabled=False))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(PARTITIONS_NAME, ["gone"])
        context = dg.build_sensor_context(instance=instance, resources={"database": DatabaseResource(url=db_url)})
        result = mcp_server_partitions_sync(context)
        requests = {type(r).__name__: r.partition_keys for r in result.dynamic_partitions_requests}
        assert requests == {"AddDynamicPartitionsRequest": ["a", "b"], "DeleteDynamicPartitionsRequest": ["gone"]}


def test_nightly_schedule_requests_one_run_per_enabled_server(registry, db_url):
    registry.add(McpServer("a", "http://127.0.0.1:9/mcp"))
    registry.add(McpServer("b", "http://127.0.0.1:9/mcp"))
    registry.add(McpServer("off", "http://127.0.0.1:9/mcp", enabled=False))
    when = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                            resources={"database": DatabaseResource(url=db_url)})
        requests = mcp_load_test_nightly(context)
        assert [(r.partition_key, r.run_key) for r in requests] == [("a", "2026-11-30:a"), ("b", "2026-11-30:b")]
        assert all(r.run_config == RUN_LOGGING for r in requests)  # Pino run logs (test_schedule_table)
        assert sorted(instance.get_dynamic_partitions(PARTITIONS_NAME)) == ["a", "b"]
        for name in ("a", "b", "off"):
            registry.set_enabled(name, False)
        skipped = mcp_load_test_nightly(dg.build_schedule_context(
            instance=instance, scheduled_execution_time=when, resources={"database": DatabaseResource(url=db_url)}))
        assert isinstance(skipped, dg.SkipReason) and "no enabled MCP servers" in skipped.skip_message


def _materialize(db_url, name, hook_url=None):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(PARTITIONS_NAME, [name])
        result = dg.materialize(
            [mcp_server_metrics], instance=instance, partition_key=name, raise_on_error=False,
            resources={"database": DatabaseResource(url=db_url), "alerts": AlertsResource(webhook_url=hook_url),
                       "settings": SettingsResource()},
            run_config={"ops": {"mcp_server_metrics": {"config": {"rate_per_second": 40, "duration_seconds": 0.5}}}})
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        materialization = result.asset_materializations_for_node("mcp_server_metrics")
        return result, checks, materialization[0].metadata if materialization else {}


def test_materialization_writes_rows_and_checks_pass(registry, db_url):
    with serve_mcp("stateless") as server, WebhookReceiver() as hook:
        registry.add(McpServer("fast", server.url))
        result, checks, metadata = _materialize(db_url, "fast", hook.url_for())
    assert result.success
    assert checks[SC021_CHECK].passed and checks[ALERT_CHECK].passed and hook.alerts == []
    assert checks[SC021_CHECK].severity == dg.AssetCheckSeverity.ERROR
    assert metadata["tools_list.p95_ms"].value > 0 and metadata["tools_list.error_rate"].value == 0
    history = metadata["p95_history"].records  # the run just recorded, as the first row of the history table
    assert len(history) == 1 and history[0].data["tools/list"] == round(metadata["tools_list.p95_ms"].value, 1)
    rows = recent_metrics(registry.engine, "fast")
    assert {r["operation"] for r in rows} == {"tools/list", "resources/list", "prompts/list"}
    assert {r["run_id"] for r in rows} == {result.run_id}


def test_slow_server_fails_sc021_and_erroring_server_alerts_once(registry, db_url):
    slow = Behaviour(latency=constant(0.55), error_methods=frozenset({"prompts/list"}))
    with serve_mcp("stateless", slow) as server, WebhookReceiver() as hook:
        registry.add(McpServer("slow", server.url, thresholds={"request_timeout_seconds": 3}))
        result, checks, _ = _materialize(db_url, "slow", hook.url_for())
    assert not result.success  # SC-021 is a blocking ERROR check: `dg launch --job` exits 1
    assert not checks[SC021_CHECK].passed
    assert "p95" in checks[SC021_CHECK].metadata["failures"].value
    assert not checks[ALERT_CHECK].passed and checks[ALERT_CHECK].metadata["alert_sent"].value is True
    assert len(hook.alerts) == 1
    alert = hook.alerts[0]
    assert alert["key"] == f"mcp_load_test:slow:{result.run_id}" and alert["task"] == "mcp_load_test"
    assert any(reason.startswith("prompts/list: error rate 100.0%") for reason in alert["details"]["reasons"])
    assert len(recent_metrics(registry.engine, "slow")) == 3  # rows are recorded even when the check fails
    with registry.engine.connect() as conn:  # through the outbox, keyed per run: a retried step alerts once
        (row,) = conn.execute(select(alert_outbox)).all()
    assert row.idempotency_key == alert["idempotency_key"] == f"{alert['key']}:breach" and row.delivered_at
