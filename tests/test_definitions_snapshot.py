"""The code location's inventory, pinned: any change to an asset, check, job, schedule or sensor (names, tags,
kinds, cron, blocking, executor, descriptions) shows up as a diff of ``tests/snapshots/definitions.json``.

Built from the Definitions object (milliseconds) rather than ``dg list defs --json`` (seconds, and without
tags of jobs, blocking, executors or sensor intervals). After an intended change, regenerate and review:

    .venv/bin/python -m tests.test_definitions_snapshot
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from cloudmake_pipelines.definitions import defs

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def _user_tags(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in sorted(tags.items()) if not k.startswith("dagster/")}


def inventory(definitions: dg.Definitions) -> dict[str, Any]:
    repo = definitions.get_repository_def()
    graph = repo.asset_graph
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name, "kinds": sorted(node.kinds), "tags": _user_tags(node.tags),
            "deps": sorted(k.to_user_string() for k in node.parent_keys), "executable": node.is_executable,
            "partitions": type(node.partitions_def).__name__ if node.partitions_def else None,
            "description": node.description}
    checks = {}
    for key in sorted(graph.asset_check_keys, key=lambda k: (k.asset_key.to_user_string(), k.name)):
        node = graph.get(key)
        checks[f"{key.asset_key.to_user_string()}:{key.name}"] = {
            "blocking": node.blocking, "metadata": {k: str(v) for k, v in sorted((node.metadata or {}).items())},
            "description": node.description}
    jobs = {}
    for job in sorted(repo.get_all_jobs(), key=lambda j: j.name):
        jobs[job.name] = {
            "executor": job.executor_def.name, "tags": _user_tags(dict(job.tags)),
            "assets": sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys) if job.asset_layer
            else [], "ops": sorted(job.graph.node_names()) if not job.asset_layer.selected_asset_keys else [],
            "description": job.description}
    schedules = {s.name: {"cron": s.cron_schedule, "timezone": s.execution_timezone, "job": s.job_name,
                          "default_status": s.default_status.value, "description": s.description}
                 for s in sorted(repo.schedule_defs, key=lambda s: s.name)}
    sensors = {s.name: {"minimum_interval_seconds": s.minimum_interval_seconds,
                        "jobs": sorted(j.name for j in s.jobs) if s.has_jobs else [],
                        "default_status": s.default_status.value, "description": s.description}
               for s in sorted(repo.sensor_defs, key=lambda s: s.name)}
    resources = {name: type(r).__module__ + "." + type(r).__name__
                 for name, r in sorted(repo.get_top_level_resources().items())}
    return {"assets": assets, "asset_checks": checks, "jobs": jobs, "schedules": schedules, "sensors": sensors,
            "resources": resources}


def render(definitions: dg.Definitions) -> str:
    return json.dumps(inventory(definitions), indent=2, sort_keys=False) + "\n"


def test_the_definitions_match_the_reviewed_snapshot():
    assert SNAPSHOT.is_file(), "no snapshot yet: .venv/bin/python -m tests.test_definitions_snapshot"
    assert json.loads(SNAPSHOT.read_text()) == inventory(defs), (
        "the definitions changed: if intended, regenerate with `.venv/bin/python -m tests.test_definitions_snapshot` "
        "and review the diff of tests/snapshots/definitions.json")


def test_every_job_and_the_location_default_run_in_process():
    """One process per run: a UI materialization of one asset with its checks starts no step subprocesses."""
    repo = defs.get_repository_def()
    assert {job.name: job.executor_def.name for job in repo.get_all_jobs()} == {
        job.name: "in_process" for job in repo.get_all_jobs()}


def test_every_run_queue_limit_names_a_task_some_job_carries():
    """dagster.yaml's limits key on the ``task`` tag: a renamed task must not leave a limit that limits nothing."""
    coordinator = yaml.safe_load((ROOT / "dagster.yaml").read_text())["run_coordinator"]["config"]
    limited = {limit["value"] for limit in coordinator["tag_concurrency_limits"] if limit["key"] == "task"}
    tasks = {job.tags["task"] for job in defs.get_repository_def().get_all_jobs() if "task" in job.tags}
    assert limited and limited <= tasks, sorted(limited - tasks)


if __name__ == "__main__":
    SNAPSHOT.parent.mkdir(exist_ok=True)
    SNAPSHOT.write_text(render(defs))
    print(f"wrote {SNAPSHOT}")
