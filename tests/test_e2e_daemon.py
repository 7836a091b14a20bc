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
#: An upper bound, not an expectation: the events come within about a minute (the schedule ticks each
#: minute), but on a loaded 2-core machine the daemon's start and the code server's load took longer
#: than a fixed 150 s. The loop ends as soon as the awaited events happen.
AWAIT_SECONDS = 600


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
        deadline = time.monotonic() + AWAIT_SECONDS
        while True:
            runs = inst.get_runs(dg.RunsFilter(job_name="migrations_job"))
            by_schedule = [r for r in runs if r.tags.get("dagster/schedule_name") == "e2e_every_minute"]
            by_sensor = [r for r in runs if r.tags.get("dagster/sensor_name") == "e2e_sensor"]
            done = [r for r in by_schedule[:1] + by_sensor[:1] if r.is_finished]
            awaited = [what for what, seen in (
                ("a run launched by the schedule e2e_every_minute", by_schedule),
                ("a run launched by the sensor e2e_sensor", by_sensor),
                ("both of those runs finished", len(done) == 2)) if not seen]
            if not awaited:
                break
            assert time.monotonic() < deadline, (
                f"after {AWAIT_SECONDS} s still awaiting: {'; '.join(awaited)}. Daemon log:\n"
                + (tmp_path / "daemon.log").read_text()[-4000:])
            time.sleep(1)
        assert all(r.is_success for r in done), [(r.run_id, r.status) for r in done]
        assert by_sensor[0].tags.get("e2e") == "sensor"
        assert type(inst.run_storage).__name__ == "PostgresRunStorage"
