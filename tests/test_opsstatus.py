"""`cloudmake status` data on an instance with real run history: successes, failures, never run."""

import dagster as dg

from cloudmake_pipelines import opsstatus


@dg.asset
def nightly_metrics(context) -> int:
    if context.run.tags.get("fail") == "yes":
        raise RuntimeError("boom")
    return 1


@dg.asset_check(asset=nightly_metrics, blocking=True)
def sc_021_p95_under_500ms(context) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=context.run.tags.get("slow") != "yes")


@dg.asset
def hourly_snapshot() -> int:
    return 2


@dg.op
def noop() -> None:
    return None


@dg.job
def manual_rotation():
    noop()


nightly_job = dg.define_asset_job("nightly_job", selection=[nightly_metrics])
hourly_job = dg.define_asset_job("hourly_job", selection=[hourly_snapshot])


@dg.sensor(job=manual_rotation, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING)
def watcher(context):
    return None


DEFS = dg.Definitions(
    assets=[nightly_metrics, hourly_snapshot],
    asset_checks=[sc_021_p95_under_500ms],
    jobs=[nightly_job, hourly_job, manual_rotation],
    schedules=[
        dg.ScheduleDefinition(job=nightly_job, cron_schedule="0 2 * * *", execution_timezone="UTC",
                              default_status=dg.DefaultScheduleStatus.RUNNING),
        dg.ScheduleDefinition(job=hourly_job, cron_schedule="0 * * * *", execution_timezone="UTC"),
    ],
    sensors=[watcher],
)
NOW = 1_795_900_000.0  # 2026-11-28T18:26:40Z


def by_name(tasks):
    return {t.name: t for t in tasks}


def test_status_reflects_history_and_toggles():
    with dg.instance_for_test() as instance:
        job = DEFS.resolve_job_def("nightly_job")
        assert job.execute_in_process(instance=instance).success
        failed = job.execute_in_process(instance=instance, tags={"fail": "yes"}, raise_on_error=False)
        assert not failed.success
        slow = job.execute_in_process(instance=instance, tags={"slow": "yes"}, raise_on_error=False)
        assert not slow.success  # the blocking SC check failed the run
        tasks = by_name(opsstatus.collect(DEFS, instance, now=NOW))

    nightly = tasks["nightly_job_schedule"]
    assert nightly.kind == "schedule" and nightly.cadence == "0 2 * * * (UTC)" and nightly.enabled
    assert nightly.next_run == "2026-11-29T02:00:00+00:00"
    assert nightly.last_run["status"] == "FAILURE"
    (check,) = nightly.checks
    assert check["check"] == "sc_021_p95_under_500ms" and check["passed"] is False

    hourly = tasks["hourly_job_schedule"]
    assert hourly.enabled is False and hourly.next_run is None and hourly.last_run is None
    assert hourly.checks == []

    watcher_task = tasks["watcher"]
    assert watcher_task.kind == "sensor" and watcher_task.cadence == "every 300 s" and watcher_task.enabled
    assert watcher_task.job == "manual_rotation" and watcher_task.last_run is None

    assert "manual_rotation" not in tasks  # the sensor runs it: listed once, as the sensor


def test_unscheduled_jobs_are_listed_as_manual():
    defs = dg.Definitions(jobs=[manual_rotation])
    with dg.instance_for_test() as instance:
        manual_rotation.execute_in_process(instance=instance)
        (task,) = opsstatus.collect(defs, instance, now=NOW)
    assert (task.name, task.kind, task.cadence) == ("manual_rotation", "manual", "on demand")
    assert task.last_run["status"] == "SUCCESS"


def test_never_run_check_is_reported():
    with dg.instance_for_test() as instance:
        tasks = by_name(opsstatus.collect(DEFS, instance, now=NOW))
    assert tasks["nightly_job_schedule"].checks[0]["status"] == "NEVER_RUN"


def test_a_run_interrupted_before_it_started_is_shown_as_such():
    """Stopping the daemon while it launches a run leaves it FAILURE with no start time: status dates it by its
    creation and says it was interrupted, instead of a bare FAILURE with no time."""
    defs = dg.Definitions(jobs=[manual_rotation])
    with dg.instance_for_test() as instance:
        run = instance.create_run_for_job(job_def=manual_rotation)
        instance.report_run_failed(run)
        (task,) = opsstatus.collect(defs, instance, now=NOW)
    last = task.last_run
    assert last["status"] == "FAILURE" and last["started_at"] is None
    assert last["created_at"] and last["note"] == "interrupted before it started"
