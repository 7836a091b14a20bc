"""The schedules daemon against the production instance config (dagster.yaml) on the local PostgreSQL."""

import os
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from tests.support.processes import spawn

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.e2e
@pytest.mark.postgres
def test_daemon_runs_schedule_and_sensor_ticks_and_stores_runs(production_dagster_home, tmp_path):
    home = production_dagster_home
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: tests.fixtures.daemon_location\n"
        f"      working_directory: {ROOT}\n      location_name: cloudmake_e2e\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "DATABASE_URL": f"sqlite:///{tmp_path}/cm.db",
           "PYTHONPATH": str(ROOT)}
    args = [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)]
    with spawn(args, env, tmp_path / "daemon.log", cwd=tmp_path), dg.DagsterInstance.from_config(str(home)) as inst:
        deadline = time.monotonic() + 150
        while True:
            runs = inst.get_runs(dg.RunsFilter(job_name="migrations_job"))
            by_schedule = [r for r in runs if r.tags.get("dagster/schedule_name") == "e2e_every_minute"]
            by_sensor = [r for r in runs if r.tags.get("dagster/sensor_name") == "e2e_sensor"]
            done = [r for r in by_schedule[:1] + by_sensor[:1] if r.is_finished]
            if by_schedule and by_sensor and len(done) == 2:
                break
            assert time.monotonic() < deadline, (tmp_path / "daemon.log").read_text()[-4000:]
            time.sleep(1)
        assert all(r.is_success for r in done), [(r.run_id, r.status) for r in done]
        assert by_sensor[0].tags.get("e2e") == "sensor"
        assert type(inst.run_storage).__name__ == "PostgresRunStorage"
