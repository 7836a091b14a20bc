"""The quick start's first run: the demo MCP server load-tests clean, the demo previews archive."""

import dagster as dg
import pytest
from sqlalchemy import select

from cloudmake_pipelines import demo
from cloudmake_pipelines.assets.loadtest import PARTITIONS_NAME, SC021_CHECK, mcp_server_metrics
from cloudmake_pipelines.cli import main
from cloudmake_pipelines.db.tables import environments
from cloudmake_pipelines.errors import ConfigError
from cloudmake_pipelines.resources import AlertsResource, DatabaseResource, SettingsResource
from tests.support.servers import serve_asgi


@pytest.fixture
def db_url(sqlite_url):
    return sqlite_url


def test_demo_server_load_tests_clean_and_previews_are_seeded_once(engine, db_url):
    with serve_asgi(demo.build_app()) as base:
        assert demo.seed(engine, f"{base}/mcp") == {"servers": 1, "previews_added": 5}
        assert demo.seed(engine, f"{base}/mcp")["previews_added"] == 0
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions(PARTITIONS_NAME, [demo.DEMO_SERVER])
            result = dg.materialize(
                [mcp_server_metrics], instance=instance, partition_key=demo.DEMO_SERVER,
                resources={"database": DatabaseResource(url=db_url), "alerts": AlertsResource(),
                           "settings": SettingsResource()},
                run_config={"ops": {"mcp_server_metrics": {"config": {"rate_per_second": 20,
                                                                      "duration_seconds": 0.5}}}})
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks[SC021_CHECK].passed
    with engine.connect() as conn:
        kinds = dict(conn.execute(select(environments.c.id, environments.c.kind)).all())
    assert sorted(kinds) == [f"demo-pr-10{i}" for i in range(1, 6)]


def test_demo_previews_archive_as_a_newcomer_would(engine, db_url, monkeypatch, capsys):
    demo.seed(engine, "http://127.0.0.1:8765/mcp")
    monkeypatch.setenv("DATABASE_URL", db_url)
    with pytest.raises(SystemExit) as exit_:
        main(["previews", "archive", "--force", "--json"])
    assert exit_.value.code == 0
    with engine.connect() as conn:
        archived = set(conn.scalars(select(environments.c.id).where(environments.c.kind == "archived")))
    assert archived == {"demo-pr-101", "demo-pr-102", "demo-pr-103"}


def test_demo_refuses_outside_dev(monkeypatch, sqlite_url):
    with pytest.raises(ConfigError, match="ENVIRONMENT=dev"):
        demo.require_dev("production")
    monkeypatch.setenv("ENVIRONMENT", "staging")
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "seed"])
    assert exit_.value.code == 2
