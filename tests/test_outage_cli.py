"""`cloudmake mcp breaker set|list` and `cloudmake mcp outages`, in process, on SQLite and PostgreSQL."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from cloudmake_pipelines.db import make_engine
from cloudmake_pipelines.db.migrate import upgrade
from cloudmake_pipelines.db.tables import alert_outbox, mcp_breaker_transitions, mcp_servers
from cloudmake_pipelines.db.types import utcnow
from cloudmake_pipelines.errors import ConfigError
from cloudmake_pipelines.outages import Cursor, DatabaseSource, OutageDetector
from cloudmake_pipelines.outages.fallbacks import Fallbacks
from tests.support import outages as support


@pytest.fixture
def run(engine, db_url, monkeypatch, cloudmake_main):
    """``cloudmake mcp ...`` through the real entry point (exit codes included), in process."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    with engine.begin() as conn:
        conn.execute(insert(mcp_servers).values(name="alpha", url="http://127.0.0.1:9/mcp"))
    return lambda *args: cloudmake_main("mcp", *args)


def test_breaker_set_list_and_outages(run, engine):
    unknown = run("breaker", "set", "nope", "open")
    assert unknown.returncode == 2 and "error: server 'nope' is not registered" in unknown.stderr
    assert run("breaker", "set", "alpha", "stuck").returncode == 2

    opened = run("breaker", "set", "alpha", "open", "--failures", "7", "--json")
    assert opened.returncode == 0, opened.stdout
    assert json.loads(opened.stdout) == {"server": "alpha", "state": "open", "failure_count": 7, "changed": True,
                                         "from_state": "closed", "transition_id": 1}
    assert "alpha: already open (failure count 7)" in run("breaker", "set", "alpha", "open").stdout
    listed = json.loads(run("breaker", "list", "--json").stdout)
    assert [(b["server"], b["state"], b["failure_count"]) for b in listed] == [("alpha", "open", 7)]

    assert "no MCP outage ongoing" in run("outages").stdout
    OutageDetector(DatabaseSource(engine), engine, fallbacks=Fallbacks(default={"message": "retry later"})).tick(
        Cursor(), utcnow())
    report = run("outages", "--json", "--check")
    assert report.returncode == 1  # --check: a server is degraded now
    body = json.loads(report.stdout)
    (outage,) = body["outages"]
    assert body["degraded"] == 1 and outage["server"] == "alpha" and outage["status"] == "degraded"
    assert 0 <= outage["duration_seconds"] < 600 and outage["fallback"]["message"] == "retry later"
    table = run("outages")
    assert table.returncode == 0 and "alpha" in table.stdout and "(ongoing)" in table.stdout

    closed = json.loads(run("breaker", "set", "alpha", "closed", "--json").stdout)
    assert closed["from_state"] == "open" and closed["failure_count"] == 0
    assert run("outages", "--since", "1x").returncode == 2


def test_breaker_prune_keeps_recent_transitions_states_and_history(run, engine):
    from datetime import timedelta

    from cloudmake_pipelines.outages.store import BreakerStore

    store = BreakerStore(engine)
    old = utcnow() - timedelta(days=40)
    store.set_state("alpha", "open", failure_count=5, at=old)
    store.set_state("alpha", "closed", failure_count=0, at=old + timedelta(minutes=3))
    assert run("breaker", "set", "alpha", "open", "--json").returncode == 0  # now
    assert run("breaker", "prune", "--older-than", "1h").returncode == 2  # too young to be safe
    pruned = run("breaker", "prune", "--json")
    assert pruned.returncode == 0, pruned.stdout
    assert json.loads(pruned.stdout) == {"deleted": 2, "older_than_seconds": 30 * 86400}
    remaining = store.transitions(after=0)
    assert [(t.from_state.value, t.to_state.value) for t in remaining] == [("closed", "open")]
    assert store.status("alpha").state.value == "open"
    assert json.loads(run("breaker", "prune", "--json").stdout)["deleted"] == 0


def test_fallback_file_errors_name_the_file_and_field(tmp_path):
    path = tmp_path / "fallbacks.yaml"
    path.write_text("servers:\n  alpha:\n    cache_max_age_seconds: -5\n")
    with pytest.raises(ConfigError, match=r"fallbacks.yaml:3: servers\.alpha\.cache_max_age_seconds=-5: expected a number > 0"):
        Fallbacks.load(path)
    path.write_text("servers:\n  alpha:\n    alternate: beta\n")
    with pytest.raises(ConfigError, match=r"fallbacks.yaml:3: servers\.alpha\.alternate: unknown key"):
        Fallbacks.load(path)
    path.write_text("servers: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        Fallbacks.load(path)
    with pytest.raises(ConfigError, match="cannot read the fallback guidance file"):
        Fallbacks.load(tmp_path / "missing.yaml")


@pytest.mark.e2e
def test_operator_opens_a_breaker_and_the_sensor_in_the_code_location_records_the_alert(
        sqlite_url, embedded_dagster_home, tmp_path):
    """Real processes: `cloudmake mcp breaker set`, then `dagster sensor preview` on the code location."""
    env = {**os.environ, "DATABASE_URL": sqlite_url, "DAGSTER_HOME": str(embedded_dagster_home),
           "CLOUDMAKE_MCP_OUTAGE_THRESHOLD_SECONDS": "0"}
    upgrade(sqlite_url, target=support.OUTAGES_REVISION)
    upgrade(sqlite_url, target=support.OUTBOX_REVISION)
    with make_engine(sqlite_url).begin() as conn:
        conn.execute(insert(mcp_servers).values(name="alpha", url="http://127.0.0.1:9/mcp"))
    cloudmake = [sys.executable, "-m", "cloudmake_pipelines.cli", "mcp"]
    opened = subprocess.run([*cloudmake, "breaker", "set", "alpha", "open", "--failures", "4"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert opened.returncode == 0, opened.stderr
    time.sleep(0.05)  # degraded for more than the (zero) threshold
    preview = subprocess.run([str(Path(sys.executable).with_name("dagster")), "sensor", "preview",
                              "mcp_outage_detector", "-m", "cloudmake_pipelines.definitions"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert preview.returncode == 0, preview.stderr[-2000:]
    assert "1 notification(s) due" in preview.stdout, preview.stdout
    with make_engine(sqlite_url).connect() as conn:  # log-only here: recorded as delivered by its level-50 line
        (row,) = conn.execute(select(alert_outbox)).all()
    assert row.idempotency_key.startswith("mcp_outage:alpha:") and row.idempotency_key.endswith(":opened")
    assert row.payload["summary"].startswith("MCP server 'alpha' degraded for") and "4 failures" in row.payload["summary"]
    assert row.delivered_at is not None


def test_breaker_reason_with_a_token_is_stored_redacted(run, engine):
    token = "ghp_" + "A1b2C3d4E5" * 4
    assert run("breaker", "set", "alpha", "open", "--reason", f"rotated token {token} by hand").returncode == 0
    with engine.connect() as conn:
        reasons = conn.execute(select(mcp_breaker_transitions.c.reason)).scalars().all()
    assert reasons == ["rotated token [REDACTED] by hand"]
