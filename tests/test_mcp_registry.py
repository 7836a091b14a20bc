"""The MCP server registry on SQLite and PostgreSQL, and the thresholds file."""

import json
from datetime import UTC, datetime

import pytest

from cloudmake_pipelines.db.engine import make_engine
from cloudmake_pipelines.db.migrate import upgrade
from cloudmake_pipelines.errors import ConfigError
from cloudmake_pipelines.loadtest.thresholds import PACKAGED, load_thresholds, validate_overrides
from cloudmake_pipelines.logs import redactor
from cloudmake_pipelines.mcp import McpServer, Registry, RegistryError, resolve_auth

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


@pytest.fixture
def registry(engine):
    return Registry(engine, clock=lambda: NOW, validate_thresholds=validate_overrides)


@pytest.fixture
def sqlite_registry(sqlite_url):
    """Validation happens before any SQL, so one database is enough for it."""
    upgrade(sqlite_url)
    return Registry(make_engine(sqlite_url), validate_thresholds=validate_overrides)


def test_add_list_get_enable_remove(registry):
    registry.add(McpServer("beta", "http://127.0.0.1:9/mcp", thresholds={"sc021_p95_ms": 800}))
    registry.add(McpServer("alpha", "https://mcp.example.com/mcp", transport="streamable_http_handshake",
                           auth_header="Authorization", auth_secret_ref="env:ALPHA_TOKEN", enabled=False))
    assert [s.name for s in registry.list()] == ["alpha", "beta"]
    assert [s.name for s in registry.list(enabled_only=True)] == ["beta"]
    beta = registry.get("beta")
    assert beta.thresholds == {"sc021_p95_ms": 800} and beta.enabled and beta.created_at == NOW
    assert registry.get("alpha").auth_secret_ref == "env:ALPHA_TOKEN"
    assert registry.set_enabled("alpha", True).enabled
    registry.remove("beta")
    assert [s.name for s in registry.list()] == ["alpha"]
    with pytest.raises(RegistryError, match="'beta' is not registered"):
        registry.remove("beta")
    with pytest.raises(RegistryError, match="not registered"):
        registry.set_enabled("beta", False)


def test_duplicates_are_refused_unless_replacing(registry):
    registry.add(McpServer("a", "http://127.0.0.1:9/mcp"))
    with pytest.raises(RegistryError, match="already registered"):
        registry.add(McpServer("a", "http://127.0.0.1:10/mcp"))
    assert registry.add(McpServer("a", "http://127.0.0.1:10/mcp"), replace=True).url == "http://127.0.0.1:10/mcp"
    assert len(registry.list()) == 1


@pytest.mark.parametrize("server, message", [
    (McpServer("Bad Name", "http://h/mcp"), "name 'Bad Name'"),
    (McpServer("a", "ftp://h/mcp"), "url 'ftp://h/mcp'"),
    (McpServer("a", "http://user:pw@h/mcp"), "credentials in the URL"),
    (McpServer("a", "http://h/mcp", transport="sse"), "transport 'sse'"),
    (McpServer("a", "http://h/mcp", auth_header="Authorization"), "both the header name"),
    (McpServer("a", "http://h/mcp", auth_header="Authorization", auth_secret_ref="s3cret"), "expected env:VARIABLE"),
    (McpServer("a", "http://h/mcp", thresholds={"sc021_p95_ms": "fast"}), "sc021_p95_ms='fast': expected a number"),
    (McpServer("a", "http://h/mcp", thresholds={"speed": 1}), "speed: unknown key"),
])
def test_bad_servers_are_refused_naming_the_field(sqlite_registry, server, message):
    with pytest.raises(ConfigError, match=message):
        sqlite_registry.add(server)
    assert sqlite_registry.list() == []


def test_auth_value_comes_from_the_environment_and_is_redacted():
    server = McpServer("a", "http://h/mcp", auth_header="Authorization", auth_secret_ref="env:A_TOKEN")
    assert resolve_auth(McpServer("b", "http://h/mcp")) == {}
    with pytest.raises(ConfigError, match="export A_TOKEN") as caught:
        resolve_auth(server, {})
    assert "Bearer" not in str(caught.value)
    assert resolve_auth(server, {"A_TOKEN": "Bearer tok-abcdef123"}) == {"Authorization": "Bearer tok-abcdef123"}
    assert "tok-abcdef123" not in redactor("header was tok-abcdef123")


def test_packaged_thresholds_and_precedence(tmp_path):
    packaged = load_thresholds()
    assert packaged.path == str(PACKAGED)
    assert (packaged.defaults.sc021_p95_ms, packaged.defaults.alert_p95_ms, packaged.defaults.alert_error_rate) == (
        500, 750, 0.05)
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"defaults": {"sc021_p95_ms": 400, "alert_p95_ms": 700, "alert_error_rate": 0.1,
                                             "rate_per_second": 5},
                                "servers": {"a": {"rate_per_second": 7, "alert_p95_ms": 900}}}))
    file = load_thresholds(path)
    effective = file.for_server("a", {"alert_p95_ms": 1000})
    assert (effective.sc021_p95_ms, effective.rate_per_second, effective.alert_p95_ms) == (400, 7, 1000)
    assert file.for_server("other").rate_per_second == 5
    assert file.for_server("other").duration_seconds == 30  # built-in default


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON at line 1"),
    ('{"servers": {}}', "defaults: expected a value: it is required"),
    ('{"defaults": {"sc021_p95_ms": 500, "alert_p95_ms": 750, "alert_error_rate": 5}}',
     "defaults.alert_error_rate=5: expected a number <= 1"),
    ('{"defaults": {"sc021_p95_ms": 500, "alert_p95_ms": 750, "alert_error_rate": 0.05}, '
     '"servers": {"a": {"max_in_flight": 2.5}}}', "servers.a.max_in_flight=2.5: expected a whole number"),
    ('{"defaults": {"sc021_p95_ms": 500, "alert_p95_ms": 750, "alert_error_rate": 0.05, "operations": []}}',
     r"defaults.operations=\[\]: expected at least 1 item"),
    ('{"defaults": {"sc021_p95_ms": NaN, "alert_p95_ms": 750, "alert_error_rate": 0.05}}',
     "defaults.sc021_p95_ms=nan: expected a finite number"),
    ('{"defaults": {"sc021_p95_ms": 1e300, "alert_p95_ms": 750, "alert_error_rate": 0.05}}',
     "defaults.sc021_p95_ms=1e\\+300: expected a number <= 300000"),
    ('{"defaults": {"sc021_p95_ms": 500, "alert_p95_ms": Infinity, "alert_error_rate": 0.05}}',
     "defaults.alert_p95_ms=inf: expected a finite number"),
    ('{"defaults": {"sc021_p95_ms": 500, "alert_p95_ms": 750, "alert_error_rate": 0.05, "rate_per_second": -1}}',
     "defaults.rate_per_second=-1: expected a number > 0"),
    ('{"defaults": {"sc021_p95_ms": 500, "alert_p95_ms": 750, "alert_error_rate": 0.05, "max_in_flight": true}}',
     "defaults.max_in_flight=True: expected a whole number"),
])
def test_bad_thresholds_files_name_the_file_and_field(tmp_path, content, message):
    path = tmp_path / "loadTestThresholds.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as caught:
        load_thresholds(path)
    assert str(path) in str(caught.value)


def test_missing_thresholds_file_says_how_to_point_at_one(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDMAKE_MCP_THRESHOLDS", str(tmp_path / "nope.json"))
    with pytest.raises(ConfigError, match="nope.json: thresholds file not found"):
        load_thresholds()


def test_thresholds_accept_ping_which_the_runner_handles_and_still_refuse_a_bare_word(tmp_path):
    path = tmp_path / "loadTestThresholds.json"
    path.write_text('{"defaults": {"sc021_p95_ms": 500, "alert_p95_ms": 750, "alert_error_rate": 0.05, '
                    '"operations": ["ping", "tools/list"]}}')
    assert load_thresholds(path).for_server("a").operations == ("ping", "tools/list")
    validate_overrides({"operations": ["ping"]})
    with pytest.raises(ConfigError, match="operations"):
        validate_overrides({"operations": ["pong"]})
