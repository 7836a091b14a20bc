"""The code location as Dagster sees it: loading, the migration job, the production instance, the CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from cloudmake_pipelines.db.migrate import status
from cloudmake_pipelines.definitions import defs
from cloudmake_pipelines.resources import DatabaseResource

ROOT = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).with_name("dagster"))


def test_definitions_load_with_shared_resources():
    repo = defs.get_repository_def()
    assert {"database", "alerts", "settings"} <= set(repo.get_top_level_resources())
    assert defs.resolve_job_def("migrations_job")


def test_migration_job_runs_in_process(sqlite_url):
    job = defs.resolve_job_def("migrations_job")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance,
            resources={"database": DatabaseResource(url=sqlite_url)},
        )
        assert result.success
        after = status(sqlite_url)
        assert after.up_to_date and set(after.current) <= set(result.output_for_node("apply_migrations"))
        rerun = job.execute_in_process(
            instance=instance,
            resources={"database": DatabaseResource(url=sqlite_url)},
        )
        assert rerun.output_for_node("apply_migrations") == []


@pytest.mark.postgres
def test_production_dagster_yaml_stores_and_reads_back_a_run(production_dagster_home, tmp_path):
    with dg.DagsterInstance.from_config(str(production_dagster_home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        result = defs.resolve_job_def("migrations_job").execute_in_process(
            instance=instance,
            resources={"database": DatabaseResource(url=f"sqlite:///{tmp_path}/x.db")},
        )
        stored = instance.get_run_by_id(result.run_id)
        assert stored is not None and stored.is_success
        assert any(e.dagster_event and e.dagster_event.event_type_value in ("RUN_SUCCESS", "PIPELINE_SUCCESS")
                   for e in instance.all_logs(result.run_id))


@pytest.mark.e2e
def test_dagster_cli_validates_and_executes_the_job_with_pino_logs(embedded_dagster_home, tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(embedded_dagster_home), "DATABASE_URL": f"sqlite:///{tmp_path}/cm.db"}
    validate = subprocess.run([DAGSTER, "definitions", "validate", "-w", str(ROOT / "workspace.yaml")],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert validate.returncode == 0, validate.stderr[-2000:]
    assert "owners" not in validate.stderr, "Dagster's owners BetaWarning is back (see definitions.py)"
    # As the README says (`dg launch --job migrations_job`, from the repository root, .venv not activated).
    env.pop("VIRTUAL_ENV", None)
    dg_cli = str(Path(DAGSTER).with_name("dg"))
    run = subprocess.run([dg_cli, "launch", "--job", "migrations_job"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Logging error" not in run.stderr
    assert "Warning" not in run.stderr, run.stderr[-2000:]  # no Beta/SupersessionWarning, no dg venv warning
    assert status(env["DATABASE_URL"]).up_to_date
    assert run.stdout == "", "run log lines go to stderr: stdout carries results"
    # Launched by hand, no logger named: Dagster's console lines, each once (there used to be a Pino twin).
    assert run.stderr.count("applied migration 0001_foundation.py") == 1, run.stderr[-2000:]
    assert not [line for line in run.stderr.splitlines() if line.startswith("{")]
    # The README's way to get Pino lines from a hand launch: each line once, Dagster's events included.
    pino = subprocess.run([dg_cli, "launch", "--job", "migrations_job", "--config-json",
                           '{"loggers":{"console":{}}}'], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert pino.returncode == 0 and pino.stdout == "", pino.stderr[-2000:]
    records = [json.loads(line) for line in pino.stderr.splitlines() if line.strip()]  # every line is JSON
    assert [r["msg"] for r in records].count("database is up to date: no migration to apply") == 1
    assert any(r.get("event") in ("RUN_SUCCESS", "PIPELINE_SUCCESS") and r.get("run_id") for r in records)
    assert len({(r["time"], r["msg"]) for r in records}) == len(records)
