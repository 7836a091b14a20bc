"""Snapshots in mcp_drift_snapshots (SQLite and PostgreSQL), the asset and its blocking SC-008 check."""

import datetime as dt
import json
import logging
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import func, select

from cloudmake_pipelines.db.tables import mcp_drift_snapshots as table
from cloudmake_pipelines.drift import DriftItem, DriftReport, snapshots
from cloudmake_pipelines.logs import PinoFormatter

FIXTURES = Path(__file__).parent / "fixtures" / "drift"
T0 = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)


def _report(*keys: str, target: str = "/repo") -> DriftReport:
    items = [DriftItem(*key.split(":", 2)) for key in keys]
    return DriftReport(target=target, items=items, spec_digest="d" * 64, code_revision="abc", duration_ms=12.5)


@pytest.fixture
def pino_lines():
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(PinoFormatter().format(record))
    logger = logging.getLogger("cloudmake.drift")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def test_snapshots_store_everything_and_log_only_new_drift(engine, pino_lines):
    first = snapshots.record(engine, _report("routes:extra:GET /a", "entities:missing:t"), T0)
    assert first.first and {i.key for i in first.new} == {"routes:extra:GET /a", "entities:missing:t"}
    pino_lines.clear()
    second = snapshots.record(engine, _report("routes:extra:GET /a", "tokens:changed:c.x"), T0 + dt.timedelta(hours=1))
    assert [i.key for i in second.new] == ["tokens:changed:c.x"]
    assert [i.key for i in second.resolved] == ["entities:missing:t"]
    new_lines = [json.loads(line) for line in pino_lines if "new spec drift" in line]
    assert [line["key"] for line in new_lines] == ["tokens:changed:c.x"] and new_lines[0]["level"] == 40
    other = snapshots.record(engine, _report("routes:extra:GET /a", target="/elsewhere"), T0)
    assert other.first  # targets are tracked separately
    row = snapshots.latest(engine, "/repo")
    assert row["id"] == second.snapshot_id and row["has_drift"] is True
    assert row["taken_at"] == T0 + dt.timedelta(hours=1)
    assert row["counts"] == {"entities": 0, "routes": 1, "schemas": 0, "tokens": 1, "total": 2, "accepted": 0}
    assert [i["key"] for i in row["items"]] == ["routes:extra:GET /a", "tokens:changed:c.x"]
    assert (row["spec_digest"], row["code_revision"], row["duration_ms"]) == ("d" * 64, "abc", 12.5)
    clean = snapshots.record(engine, _report(), T0 + dt.timedelta(hours=2))
    assert clean.new == [] and len(clean.resolved) == 2
    assert snapshots.latest(engine, "/repo")["has_drift"] is False
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 4


def test_long_target_paths_keep_their_tail(engine):
    target = "/very" * 60 + "/repo"
    snapshots.record(engine, _report("routes:extra:GET /a", target=target), T0)
    row = snapshots.latest(engine, target)
    assert len(row["target"]) == 200 and row["target"].endswith("/repo")


@pytest.fixture(scope="module")
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def _materialize(instance, sqlite_url, target):
    from cloudmake_pipelines.assets.drift import mcp_drift_snapshots, sc_008_no_spec_drift
    from cloudmake_pipelines.resources import AlertsResource, DatabaseResource, SettingsResource
    from cloudmake_pipelines.resources.drift import DriftTargetResource

    return dg.materialize(
        [mcp_drift_snapshots, sc_008_no_spec_drift], instance=instance, raise_on_error=False,
        resources={"database": DatabaseResource(url=sqlite_url), "drift": DriftTargetResource(target=str(target)),
                   "alerts": AlertsResource(), "settings": SettingsResource()})


def test_asset_stores_a_snapshot_with_numeric_metadata_and_the_check_blocks_on_drift(instance, sqlite_url):
    from cloudmake_pipelines.db.migrate import upgrade

    upgrade(sqlite_url)
    drifted = _materialize(instance, sqlite_url, FIXTURES / "express-drift")
    assert not drifted.success  # the blocking check failed the run
    [evaluation] = drifted.get_asset_check_evaluations()
    assert evaluation.check_name == "sc_008_no_spec_drift" and not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    metadata = drifted.asset_materializations_for_node("mcp_drift_snapshots")[0].metadata
    assert metadata["has_drift"].value == 1 and metadata["drift_total"].value == 17
    assert metadata["drift_routes"].value == 4 and metadata["new"].value == 17
    assert isinstance(metadata["duration_ms"].value, float)
    again = _materialize(instance, sqlite_url, FIXTURES / "express-drift")
    assert again.asset_materializations_for_node("mcp_drift_snapshots")[0].metadata["new"].value == 0
    clean = _materialize(instance, sqlite_url, FIXTURES / "express-clean")
    assert clean.success and clean.get_asset_check_evaluations()[0].passed


def test_spec_error_fails_the_asset_with_the_file_and_line(instance, sqlite_url, tmp_path):
    from cloudmake_pipelines.db.migrate import upgrade

    upgrade(sqlite_url)
    (tmp_path / "specs/001-x").mkdir(parents=True)
    (tmp_path / "specs/001-x/data-model.md").write_text("```yaml\nentity: t\nfields: {id: nope}\n```\n")
    result = _materialize(instance, sqlite_url, tmp_path)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "specs/001-x/data-model.md:3: unknown type 'nope'" in failure.message


def test_hourly_utc_schedule_targets_the_asset_and_its_check():
    from cloudmake_pipelines.assets import drift
    from cloudmake_pipelines.definitions import defs

    [schedule] = drift.defs.schedules
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 * * * *", "UTC")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    job = defs.resolve_job_def(schedule.job_name)
    assert job.asset_layer.executable_asset_keys == {dg.AssetKey("mcp_drift_snapshots")}
    check_keys = job.asset_layer.asset_graph.asset_check_keys
    assert dg.AssetCheckKey(dg.AssetKey("mcp_drift_snapshots"), "sc_008_no_spec_drift") in check_keys
    [check] = drift.defs.asset_checks
    assert next(iter(check.check_specs)).blocking
