"""The ops dashboard's data (`cloudmake status`): every scheduled or manual task, read from Dagster.

Derived from the Definitions and the instance only, so it cannot disagree with the UI: schedules (cron),
sensors (interval) and the jobs nothing schedules (manual / on demand); whether each is on (the UI's
toggle wins over the code default, which depends on ENVIRONMENT); its last run; its next tick; and the
latest result of every asset check on the assets it materializes.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType
from dagster._utils.schedules import cron_string_iterator


@dataclass
class TaskStatus:
    name: str
    kind: str  # schedule | sensor | manual
    cadence: str
    enabled: bool
    job: str
    last_run: dict[str, Any] | None = None
    next_run: str | None = None
    last_tick: str | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _iso(timestamp: float | None) -> str | None:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds") if timestamp else None


def _last_run(instance: dg.DagsterInstance, job_name: str, materializations) -> dict[str, Any] | None:
    """The newest run of the job, or of any run that materialized its assets (UI, `dagster asset
    materialize` and backfills run them under other job names); ``materializations`` are the latest
    materialization events of the job's assets."""
    candidates = list(instance.get_run_records(dg.RunsFilter(job_name=job_name), limit=1))
    run_ids = {event.run_id for event in materializations if event is not None}
    if run_ids:
        candidates += instance.get_run_records(dg.RunsFilter(run_ids=list(run_ids)))
    if not candidates:
        return None
    record = max(candidates, key=lambda r: r.create_timestamp)
    status = record.dagster_run.status
    # A run whose launch was cut off (e.g. by stopping the daemon mid-launch) ends FAILURE/CANCELED without
    # ever starting: say so, and date it by its creation rather than showing no time at all.
    never_started = record.start_time is None and status in (dg.DagsterRunStatus.FAILURE,
                                                               dg.DagsterRunStatus.CANCELED)
    return {"run_id": record.dagster_run.run_id, "status": status.value, "created_at": record.create_timestamp.astimezone(UTC).isoformat(timespec="seconds"),
            "started_at": _iso(record.start_time), "ended_at": _iso(record.end_time),
            "note": "interrupted before it started" if never_started else None}


def _check(key, record) -> dict[str, Any]:
    evaluation = record.event.asset_check_evaluation if record and record.event else None
    return {
        "check": key.name,
        "asset": key.asset_key.to_user_string(),
        "status": record.status.value if record else "NEVER_RUN",
        "passed": evaluation.passed if evaluation else None,
        "at": _iso(record.create_timestamp) if record else None,
    }


def _enabled(state, default_status: dg.DefaultScheduleStatus | dg.DefaultSensorStatus) -> bool:
    if state is not None and state.status != InstigatorStatus.DECLARED_IN_CODE:
        return state.status == InstigatorStatus.RUNNING
    return default_status.value == "RUNNING"


def collect(defs: dg.Definitions, instance: dg.DagsterInstance, now: float | None = None) -> list[TaskStatus]:
    """One :class:`TaskStatus` per schedule, sensor and unscheduled job, sorted by name."""
    now = time.time() if now is None else now
    repo = defs.get_repository_def()
    states = {(s.instigator_type, s.instigator_name): s for s in instance.all_instigator_state()}
    tasks: list[TaskStatus] = []
    covered: set[str] = set()
    for schedule in repo.schedule_defs:
        state = states.get((InstigatorType.SCHEDULE, schedule.name))
        enabled = _enabled(state, schedule.default_status)
        tz = schedule.execution_timezone or "UTC"
        upcoming = next(cron_string_iterator(now, schedule.cron_schedule, tz)) if enabled else None
        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1) if state else []
        tasks.append(TaskStatus(schedule.name, "schedule", f"{schedule.cron_schedule} ({tz})", enabled,
                                schedule.job_name, next_run=upcoming.isoformat() if upcoming else None,
                                last_tick=_iso(ticks[0].timestamp) if ticks else None))
        covered.add(schedule.job_name)
    for sensor in repo.sensor_defs:
        state = states.get((InstigatorType.SENSOR, sensor.name))
        enabled = _enabled(state, sensor.default_status)
        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1) if state else []
        last_tick = ticks[0].timestamp if ticks else None
        upcoming = max(now, last_tick + sensor.minimum_interval_seconds) if enabled and last_tick else (
            now if enabled else None)
        job = sensor.job_name if sensor.has_jobs and len(sensor.jobs) == 1 else ""
        tasks.append(TaskStatus(sensor.name, "sensor", f"every {sensor.minimum_interval_seconds} s", enabled,
                                job, next_run=_iso(upcoming), last_tick=_iso(last_tick)))
        covered.add(job)
    for job in repo.get_all_jobs():
        if job.name not in covered and not job.name.startswith("__"):
            tasks.append(TaskStatus(job.name, "manual", "on demand", True, job.name))
    # Each job's assets and checks, then one query for all their latest materializations and one for all
    # their latest check results: per key, Dagster's SQLite storage opens a connection (0.3 s of 0.4 s).
    assets = {}
    for job_name in {task.job for task in tasks if task.job}:
        layer = repo.get_job(job_name).asset_layer
        assets[job_name] = set(layer.selected_asset_keys) if layer else set()
    checks = {job_name: sorted(repo.asset_graph.get_check_keys_for_assets(keys), key=lambda k: k.to_user_string())
              for job_name, keys in assets.items() if keys}
    asset_keys = set().union(*assets.values())
    latest = instance.get_latest_materialization_events(asset_keys) if asset_keys else {}
    check_keys = sorted({key for keys in checks.values() for key in keys}, key=lambda k: k.to_user_string())
    records = instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys) if check_keys else {}
    for task in tasks:
        if task.job:
            task.last_run = _last_run(instance, task.job, [latest.get(key) for key in assets[task.job]])
            task.checks = [_check(key, records.get(key)) for key in checks.get(task.job, [])]
    return sorted(tasks, key=lambda t: t.name)
