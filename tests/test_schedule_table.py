"""The source document's cron table, asserted against the definitions: a cadence change is a reviewed change.

Seed "Deployment" (wrangler.toml crons), all UTC, plus the daily JWT due-date evaluation (task 5) and the
weekly look at the master key's age for the annual reminder (task 6).
"""

from datetime import UTC, datetime

import dagster as dg

from cloudmake_pipelines.assets import RUN_LOGGING
from cloudmake_pipelines.definitions import defs

SCHEDULES = {
    # name: (cron, job, seed task)
    "mcp_load_test_nightly": ("0 2 * * *", "mcp_load_test_job"),               # 1: MCP load tests
    "github_secrets_sync_nightly": ("0 1 * * *", "github_secrets_sync_job"),   # 8: GitHub secrets sync
    "spec_drift_hourly": ("0 * * * *", "spec_drift_job"),                      # 3: spec drift detection
    "preview_archival_every_6h": ("0 */6 * * *", "preview_archival_job"),      # 4: preview archival
    "jwt_key_rotation_daily": ("0 0 * * *", "jwt_key_rotation_job"),           # 5: daily due-date evaluation
    "master_key_reminder_weekly": ("0 9 * * 1", "master_key_reminder_job"),    # 6: annual reminder check
    "quota_exhaustion_hourly": ("5 * * * *", "quota_exhaustion_job"),          # issue 20: quota monitoring
    "token_propagation_hourly": ("10 * * * *", "token_propagation_job"),        # future: token propagation plots
    "accessibility_audit_nightly": ("0 3 * * *", "accessibility_audit_job"),    # future: SC-003 a11y audits
}
SENSORS = {
    "mcp_outage_detector": 300,          # 2: outage detection, */5 * * * *
    "mcp_server_partitions_sync": 60,    # 1: partitions follow the MCP server registry
    "design_token_propagation_monitor": 60,  # future: SC-002 token propagation, polls within 5 min
    "alert_outbox_delivery": 60,         # every task's alerts: retried until the webhook accepts them
}
MANUAL_JOBS = {"migrations_job", "master_key_rotation_job", "admin_benchmark_job"}  # 9, 6, 10: on demand


def test_the_cron_table_is_exactly_the_seed():
    repo = defs.get_repository_def()
    schedules = {s.name: (s.cron_schedule, s.job_name) for s in repo.schedule_defs}
    assert schedules == SCHEDULES
    assert {s.execution_timezone for s in repo.schedule_defs} == {"UTC"}
    assert {s.name: s.minimum_interval_seconds for s in repo.sensor_defs} == SENSORS


def test_on_demand_jobs_exist_and_are_not_scheduled():
    repo = defs.get_repository_def()
    jobs = {j.name for j in repo.get_all_jobs()}
    assert MANUAL_JOBS <= jobs
    scheduled = {s.job_name for s in repo.schedule_defs}
    assert not MANUAL_JOBS & scheduled


def test_every_job_carries_a_task_tag_for_the_run_queue_limits():
    repo = defs.get_repository_def()
    untagged = [j.name for j in repo.get_all_jobs() if not j.name.startswith("__") and "task" not in j.tags]
    assert untagged == []


def test_every_schedule_and_sensor_is_on_by_default():
    """Environment rules live inside the evaluations (JWT rotation rotates only in production, load tests
    are read-only there), so each tick's skip reason says why nothing ran."""
    repo = defs.get_repository_def()
    assert {s.default_status for s in repo.schedule_defs} == {dg.DefaultScheduleStatus.RUNNING}
    assert {s.default_status for s in repo.sensor_defs} == {dg.DefaultSensorStatus.RUNNING}


def test_scheduled_runs_name_the_pino_console_logger():
    """A run whose config names no logger gets Dagster's colored console logger; the daemon's runs name the
    code location's Pino `console` logger, so their stderr is one JSON line per event. The schedules with an
    evaluation function of their own are checked in their tests (test_keys_dagster, test_mcp_dagster)."""
    repo = defs.get_repository_def()
    assert set(repo.get_job("migrations_job").loggers) == {"console"}
    assert "Pino" in repo.get_job("migrations_job").loggers["console"].description
    plain = [s for s in repo.schedule_defs if not s.required_resource_keys]
    assert len(plain) >= 6
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 12, 1, 3, tzinfo=UTC))
    for schedule in plain:
        requests = schedule.evaluate_tick(context).run_requests
        assert [r.run_config for r in requests] == [RUN_LOGGING], schedule.name
