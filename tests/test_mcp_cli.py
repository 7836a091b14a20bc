"""`cloudmake mcp add|list|remove|loadtest` as users run them: a real process, a real database and server."""

import json
import os
import subprocess
import sys

import pytest

from cloudmake_pipelines.db.engine import make_engine
from cloudmake_pipelines.db.migrate import upgrade
from cloudmake_pipelines.loadtest.store import recent_metrics
from tests.support.mcp_servers import Behaviour, serve_mcp


@pytest.fixture
def cli(sqlite_url, monkeypatch, cloudmake_main):
    """Runs `cloudmake mcp ...` through the console entry point, in process (a process each is slow)."""
    upgrade(sqlite_url)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)

    def run(*args):
        return cloudmake_main("mcp", *args)

    run.url = sqlite_url
    return run


def test_registry_commands_and_exit_codes(cli):
    added = cli("add", "docs", "http://127.0.0.1:9/mcp", "--auth-header", "Authorization",
                "--auth-secret", "env:DOCS_TOKEN", "--threshold", "sc021_p95_ms=800", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["thresholds"] == {"sc021_p95_ms": 800}
    again = cli("add", "docs", "http://127.0.0.1:9/mcp")
    assert again.returncode == 2 and "already registered" in again.stderr
    bad = cli("add", "x", "http://h/mcp", "--threshold", "alert_error_rate=2")
    assert bad.returncode == 2 and "--threshold: alert_error_rate=2: expected a number <= 1" in bad.stderr
    listed = cli("list", "--json")
    assert [(s["name"], s["auth_secret_ref"]) for s in json.loads(listed.stdout)] == [("docs", "env:DOCS_TOKEN")]
    assert cli("disable", "docs").returncode == 0
    assert "no" in cli("list").stdout
    assert cli("remove", "docs").returncode == 0
    gone = cli("remove", "docs")
    assert gone.returncode == 2 and "'docs' is not registered" in gone.stderr


def test_loadtest_prints_results_records_rows_and_exits_1_on_failure(cli, tmp_path):
    with serve_mcp("stateless", Behaviour(error_methods=frozenset({"prompts/list"}))) as server:
        assert cli("add", "local", server.url).returncode == 0
        ok = subprocess.run([sys.executable, "-m", "cloudmake_pipelines.cli", "mcp", "loadtest", "--server", "local",
                             "--duration", "0.5", "--rate", "20", "--json"], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "DATABASE_URL": cli.url})
        table = cli("loadtest", "--duration", "0.3", "--rate", "10")
    assert ok.returncode == 1  # prompts/list fails every time: alert condition
    report = json.loads(ok.stdout)
    ops = {op["operation"]: op for op in report["servers"][0]["operations"]}
    assert ops["tools/list"]["errors"] == 0 and ops["prompts/list"]["errors_by_kind"] == {"jsonrpc": 3}
    assert any(json.loads(line)["msg"] == "load test finished" for line in ok.stderr.splitlines()
               if line.startswith("{"))  # Pino lines go to stderr with --json
    assert table.returncode == 1 and "tools/list" in table.stdout and "SC-021" in table.stdout
    rows = recent_metrics(make_engine(cli.url), "local")
    assert len(rows) == 6 and len({r["run_id"] for r in rows}) == 2
    bad = tmp_path / "t.json"
    bad.write_text('{"defaults": {"sc021_p95_ms": "fast"}}')
    refused = cli("loadtest", "--thresholds", str(bad))
    assert refused.returncode == 2 and f"{bad}: defaults" in refused.stderr
