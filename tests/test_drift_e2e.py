"""The real `dg launch --assets` CLI (as the nightly workflow runs it): the blocking SC-008 check makes it exit
non-zero on drift, and it prints no warning about itself or the instance config."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from cloudmake_pipelines.db import make_engine
from cloudmake_pipelines.db.migrate import upgrade
from cloudmake_pipelines.db.tables import mcp_drift_snapshots

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "drift"
DG = str(Path(sys.executable).with_name("dg"))


@pytest.mark.e2e
def test_dagster_asset_materialize_exits_non_zero_when_the_check_finds_drift(embedded_dagster_home, tmp_path):
    """One real CLI run on a drifted target (the clean twin passing is covered in-process, in
    test_drift_snapshots.py): the asset succeeds and stores its snapshot, the blocking check fails, and
    the command's exit code says so. No executor config: the code location's default runs in process."""
    home = embedded_dagster_home
    database_url = f"sqlite:///{tmp_path}/cloudmake.db"
    upgrade(database_url)
    env = {**os.environ, "DAGSTER_HOME": str(home), "DATABASE_URL": database_url,
           "CLOUDMAKE_DRIFT_TARGET": str(FIXTURES / "express-drift")}
    # From the repository root, as the workflow runs it (dg reads [tool.dg] in pyproject.toml), with the
    # project's .venv not activated (the workflow calls .venv/bin/dg).
    env.pop("VIRTUAL_ENV", None)
    run = subprocess.run([DG, "launch", "--assets", "mcp_drift_snapshots"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    assert run.returncode == 1, output[-4000:]
    assert "Asset check 'sc_008_no_spec_drift' on 'mcp_drift_snapshots' did not pass" in output
    assert "ASSET_MATERIALIZATION" in output or "Materialized value mcp_drift_snapshots" in output
    assert "Executing steps in process" in output  # one process, no step subprocesses
    # Noise: none of Dagster's BetaWarning (yaml logging config), SupersessionWarning (`dagster asset
    # materialize`) or dg's venv mismatch warning; log lines on stderr, stdout left for results.
    for noise in ("BetaWarning", "SupersessionWarning", "Warning:", "does not match the virtual environment"):
        assert noise not in output, output[-4000:]
    assert run.stdout == ""
    assert '"msg":"drift snapshot stored"' in run.stderr  # the Pino line of the run's log
    engine = make_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(select(mcp_drift_snapshots.c.target, mcp_drift_snapshots.c.has_drift)).all()
    engine.dispose()
    assert [(Path(target).name, drift) for target, drift in rows] == [("express-drift", True)]
