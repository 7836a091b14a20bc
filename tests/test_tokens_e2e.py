"""The real daemon ticks design_token_propagation_monitor: a row measured, then a 304 from the stored cursor."""

import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import select

from cloudmake_pipelines.db import make_engine
from cloudmake_pipelines.db.migrate import upgrade
from cloudmake_pipelines.db.tables import token_propagation
from cloudmake_pipelines.tokens import App, AppRegistry, TokenSource, VersionStore
from tests.support.processes import spawn
from tests.support.token_apps import TokenApp
from tests.test_tokens import Repo, tokens_json

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.e2e
def test_daemon_ticks_measure_and_the_next_tick_is_conditional(embedded_dagster_home, tmp_path):
    url = f"sqlite:///{tmp_path}/cm.db"
    upgrade(url)
    engine = make_engine(url)
    (tmp_path / "ds").mkdir()
    repo = Repo(tmp_path / "ds")
    repo.commit(tokens_json("2.0.0"), when=time.time() - 30)
    VersionStore(engine).add_source(TokenSource(str(repo.path)))
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text("load_from:\n  - python_module:\n      module_name: cloudmake_pipelines.definitions\n"
                         f"      working_directory: {ROOT}\n      location_name: cloudmake\n")
    env = {**os.environ, "DAGSTER_HOME": str(embedded_dagster_home), "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    with TokenApp("2.0.0") as app:
        AppRegistry(engine, clock=lambda: datetime.now(UTC) - timedelta(hours=1)).add(
            App("web", app.page, "json", "meta.tokens"))
        with spawn([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], env, tmp_path / "daemon.log",
                   cwd=tmp_path):
            deadline = time.monotonic() + 170  # the first tick at start, the second 60 s later
            while not [r for r in app.requests if r.status == 304]:
                assert time.monotonic() < deadline, (tmp_path / "daemon.log").read_text()[-4000:]
                time.sleep(1)
    assert app.requests[0].status == 200 and app.requests[1].headers.get("if-none-match")
    with engine.connect() as conn:
        seen = conn.execute(select(token_propagation.c.app_name, token_propagation.c.first_seen_at)).all()
    assert [name for name, first in seen if first is not None] == ["web"]
    with dg.DagsterInstance.from_config(str(embedded_dagster_home)) as instance:
        states = [s for s in instance.all_instigator_state() if s.name == "design_token_propagation_monitor"]
        cursor = json.loads(states[0].instigator_data.cursor)
    assert cursor["apps"]["web"][1] == "2.0.0"
