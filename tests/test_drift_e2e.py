"""The real `dg launch` CLI (as the nightly workflow runs it): the blocking SC-008 check makes it exit non-zero on
drift; it prints no warning about itself or the instance config, and each log line once."""

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


def _launch(selection: list[str], target: str, home: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    database_url = f"sqlite:///{tmp_path}/cloudmake.db"
    upgrade(database_url)
    env = {**os.environ, "DAGSTER_HOME": str(home), "DATABASE_URL": database_url,
           "CLOUDMAKE_DRIFT_TARGET": str(FIXTURES / target)}
    # From the repository root, as the workflow runs it (dg reads [tool.dg] in pyproject.toml), with the
    # project's .venv not activated (the workflow calls .venv/bin/dg).
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run([DG, "launch", *selection], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def _stored(tmp_path: Path) -> list[tuple[str, bool]]:
    engine = make_engine(f"sqlite:///{tmp_path}/cloudmake.db")
    with engine.connect() as conn:
        rows = conn.execute(select(mcp_drift_snapshots.c.target, mcp_drift_snapshots.c.has_drift)).all()
    engine.dispose()
    return [(Path(target).name, drift) for target, drift in rows]


@pytest.mark.e2e
def test_dg_launch_of_the_job_exits_non_zero_on_drift_logging_each_line_once(embedded_dagster_home, tmp_path):
    """One real CLI run on a drifted target (the clean twin passing is covered in-process, in
    test_drift_snapshots.py): the asset succeeds and stores its snapshot, the blocking check fails, and
    the command's exit code says so (executors: test_definitions_snapshot)."""
    run = _launch(["--job", "spec_drift_job"], "express-drift", embedded_dagster_home, tmp_path)
    output = run.stdout + run.stderr
    assert run.returncode == 1, output[-4000:]
    assert "1 blocking asset check failed with ERROR severity:\nmcp_drift_snapshots: sc_008_no_spec_drift" in output
    # Noise: none of Dagster's BetaWarning, SupersessionWarning (`dagster asset materialize`) or dg's venv
    # mismatch warning; log lines on stderr, stdout left for results.
    for noise in ("BetaWarning", "SupersessionWarning", "Warning:", "does not match the virtual environment"):
        assert noise not in output, output[-4000:]
    assert run.stdout == ""
    # Each line once: Dagster's console logger alone (a hand launch names no logger). Before, the instance's
    # Pino handler printed a JSON twin of every line.
    assert run.stderr.count("drift snapshot stored") == 1, run.stderr[-4000:]
    assert not [line for line in run.stderr.splitlines() if line.startswith("{")]
    assert _stored(tmp_path) == [("express-drift", True)]
