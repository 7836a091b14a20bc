"""A Celery cluster on this machine, as several would run it: for tests/test_celery_executor.py and the benchmark.

One Dagster instance (the production dagster.yaml: PostgreSQL storage, in a database of its own), one
platform database (SQLite here), real ``mcp`` SDK servers on 127.0.0.1 registered in it, and
``dagster-celery worker start`` processes with their own names on a load queue unique to the cluster (so
nothing another cluster left on the broker is consumed). Runs are the nightly schedule's, launched by
tests/support/celery_runs.py, one process each. Everything started here is stopped on exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import psycopg
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from cloudmake_pipelines.db import make_engine
from cloudmake_pipelines.db.migrate import upgrade
from cloudmake_pipelines.mcp import McpServer, Registry
from cloudmake_pipelines.settings import variables

from .mcp_servers import Behaviour, serve_mcp
from .processes import spawn

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
BROKER = "amqp://guest:guest@127.0.0.1:5672//"  # secretscan:allow (RabbitMQ's local default account)
STEP = "mcp_server_metrics"


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class Cluster:
    home: Path
    env: dict[str, str]
    engine: Engine
    tmp: Path
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)
    servers: dict[str, str] = field(default_factory=dict)

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))

    def launch(self, duration: float, rate: float, *, parallel: int = 0, **env: str) -> subprocess.Popen:
        """The nightly schedule's runs, ``parallel`` at a time (0: all at once); JSON lines on stdout."""
        return subprocess.Popen([sys.executable, "-m", "tests.support.celery_runs", str(duration), str(rate),
                                 str(parallel)], env={**self.env, **env}, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)

    def launch_job(self, job: str, run_config: dict) -> subprocess.Popen:
        """One run of ``job`` (unpartitioned) with ``run_config``, as the daemon's run worker would execute it."""
        return subprocess.Popen([sys.executable, "-m", "tests.support.celery_runs", "--job", job,
                                 json.dumps(run_config)], env=self.env, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)

    def start_worker(self, name: str, stack: contextlib.ExitStack, concurrency: int = 1) -> None:
        """A worker machine: its own name, the load queue, ``concurrency`` processes (one per core)."""
        log = self.tmp / f"{name}.log"
        self.workers[name] = stack.enter_context(spawn(
            [str(VENV_BIN / "dagster-celery"), "worker", "start", "-A", "cloudmake_pipelines.worker",
             "-q", self.env["CLOUDMAKE_CELERY_QUEUE"], "-n", name, "--", "-c", str(concurrency)],
            self.env, log, cwd=ROOT))

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not all("ready." in (self.tmp / f"{w}.log").read_text() for w in self.workers):
            assert time.monotonic() < deadline, f"workers did not start: see their logs in {self.tmp}"
            assert all(p.poll() is None for p in self.workers.values()), f"a worker exited: logs in {self.tmp}"
            time.sleep(0.5)


def finish(proc: subprocess.Popen, timeout: float = 100) -> tuple[list[dict], str]:
    """The runs' JSON lines and all output of a :meth:`Cluster.launch`; the launcher is gone afterwards."""
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith('{"partition"')]
    return lines, out + err


def step_history(instance: dg.DagsterInstance, run_id: str, step: str = STEP) -> list[tuple[str, float, str]]:
    """(what, timestamp, detail) of the step's hand-over to a worker (detail: its name), start and end."""
    history = []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or entry.step_key != step:
            continue
        if event.event_type == dg.DagsterEventType.ENGINE_EVENT:
            worker = event.engine_event_data.metadata.get("Celery worker")
            if worker is not None:
                history.append(("worker", entry.timestamp, worker.value))
        elif event.event_type in (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS,
                                  dg.DagsterEventType.STEP_FAILURE):
            history.append((event.event_type.value, entry.timestamp, ""))
    return history


@contextlib.contextmanager
def celery_cluster(tmp: Path, pg_server_url: str, servers: dict[str, Behaviour]) -> Iterator[tuple[Cluster, contextlib.ExitStack]]:
    """The cluster, no worker started yet, and the stack that stops what it starts (pass it to
    :meth:`Cluster.start_worker`)."""
    name = f"cm_celery_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(pg_server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    pg = make_url(pg_server_url)
    home = tmp / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    platform_db = f"sqlite:///{tmp / 'cloudmake.db'}"
    upgrade(platform_db)
    env = {k: v for k, v in os.environ.items() if k not in variables()}
    storage = {"DAGSTER_PG_USERNAME": pg.username or "postgres", "DAGSTER_PG_PASSWORD": pg.password or "",
               "DAGSTER_PG_HOST": pg.host or "127.0.0.1", "DAGSTER_PG_DB": name}
    env.update({"DAGSTER_HOME": str(home), "DATABASE_URL": platform_db, "CLOUDMAKE_STATE_DIR": str(tmp / "state"),
                **storage, "CLOUDMAKE_EXECUTOR": "celery", "CLOUDMAKE_CELERY_BROKER_URL": BROKER,
                "CLOUDMAKE_CELERY_QUEUE": f"cm-test-{uuid.uuid4().hex[:8]}",
                "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"})
    engine = make_engine(platform_db)
    saved = {k: os.environ.get(k) for k in storage}
    os.environ.update(storage)  # this process reads the same instance
    try:
        with contextlib.ExitStack() as stack:
            cluster = Cluster(home, env, engine, tmp)
            cluster.instance().dispose()  # storage created once, before several processes open it
            registry = Registry(engine)
            for server_name, behaviour in servers.items():
                server = stack.enter_context(serve_mcp("stateless", behaviour))
                cluster.servers[server_name] = server.url
                registry.add(McpServer(server_name, server.url))
            yield cluster, stack
    finally:
        engine.dispose()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        with psycopg.connect(_libpq(pg_server_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
