"""Bad input and unavailable services, as an operator meets them: one line on stderr and exit 2, never a traceback.

Real failures only: a closed port, a database that does not exist on the local server, a port that accepts
and never answers, paths SQLite cannot open.
"""

from __future__ import annotations

import io
import socket
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

SHOP_SPECS = Path(__file__).parent / "fixtures" / "drift" / "shop-spec" / "specs"
#: Every command that reads or writes the application database.
DATABASE_COMMANDS = [("db", "status"), ("db", "upgrade"), ("mcp", "list"), ("mcp", "breaker", "list"),
                     ("mcp", "outages"), ("previews", "list"), ("previews", "archive"), ("keys", "status"),
                     ("keys", "check"), ("github", "targets", "list")]


@pytest.fixture
def cloudmake(monkeypatch, cloudmake_main):
    """`cloudmake ARGS` in process (the shared ``cloudmake_main``), with DATABASE_URL=url."""

    def run(url: str | None, *args: str) -> subprocess.CompletedProcess:
        if url is not None:
            monkeypatch.setenv("DATABASE_URL", url)
        return cloudmake_main(*args)

    return run


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The error line, after checking it is the only thing on stderr and the exit code is 2."""
    lines = [line for line in result.stderr.splitlines() if not line.startswith('{"level"')]
    assert result.returncode == 2, result
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", DATABASE_COMMANDS, ids=" ".join)
def test_refused_port_is_one_line_naming_host_port_database(cloudmake, command):
    line = one_line_error(cloudmake("postgresql://nouser:s3cret-pw@127.0.0.1:1/appdb", *command))
    assert "'appdb' on 127.0.0.1:1 as user 'nouser': connection refused" in line
    assert "s3cret-pw" not in line and "db upgrade" not in line  # mcp list used to blame missing migrations


@pytest.mark.parametrize("command", [("db", "status"), ("db", "upgrade"), ("mcp", "list"), ("keys", "status")],
                         ids=" ".join)
def test_unknown_database_on_a_real_server(cloudmake, pg_server_url, command):
    url = make_url(pg_server_url).set(database="cm_no_such_database").render_as_string(hide_password=False)
    line = one_line_error(cloudmake(url, *command))
    assert "'cm_no_such_database'" in line and "unknown database" in line and "createdb" in line


def test_unknown_role_is_an_authentication_failure(cloudmake, pg_server_url):
    url = make_url(pg_server_url).set(username="cm_no_such_role").render_as_string(hide_password=False)
    line = one_line_error(cloudmake(url, "db", "status"))
    assert "as user 'cm_no_such_role': authentication failed" in line


@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+psycopg2"])
def test_a_silent_server_times_out_within_the_connect_timeout(cloudmake, scheme):
    """Once: libpq's sslmode=prefer could try again without SSL and wait a second connect_timeout."""
    with socket.socket() as silent:  # accepts TCP (backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        line = one_line_error(cloudmake(f"{scheme}://u@127.0.0.1:{port}/x?connect_timeout=2", "db", "status"))
        took = time.monotonic() - started
    assert f"on 127.0.0.1:{port}" in line and "timed out: no answer within 2 s" in line
    assert 1.9 < took < 3.5, f"{took:.1f} s: the connect timeout applied more than once"


def test_status_fails_fast_when_the_instance_postgres_never_answers(cloudmake, tmp_path, monkeypatch):
    """Dagster's own storage connection has no timeout (it hung for good here) and retries a refused port for
    about 30 s: `cloudmake status` probes it first, within the connect timeout, one line naming host:port."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "pw-never-shown-42")  # secretscan:allow
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        (home / "dagster.yaml").write_text(
            "storage:\n  postgres:\n    postgres_db:\n      username: postgres\n"
            "      password: {env: DAGSTER_PG_PASSWORD}\n      hostname: 127.0.0.1\n      db_name: dagster\n"
            f"      port: {port}\n      params: {{connect_timeout: 1}}\n")
        started = time.monotonic()
        result = cloudmake(None, "status")
        took = time.monotonic() - started
    line = one_line_error(result)
    assert line.startswith(f"error: cannot read the Dagster instance at {home} (DAGSTER_HOME): ")
    assert f"'dagster' on 127.0.0.1:{port}" in line and "timed out: no answer within 1 s" in line
    assert "pw-never-shown-42" not in result.stderr + result.stdout  # secretscan:allow
    assert took < 4, f"{took:.1f} s"


def test_the_default_connect_timeout_applies_when_the_url_sets_none(cloudmake, monkeypatch):
    from cloudmake_pipelines.db import engine, errors

    assert 1 <= errors.CONNECT_TIMEOUT_S <= 10
    monkeypatch.setattr(engine, "CONNECT_TIMEOUT_S", 1)
    monkeypatch.setattr(errors, "CONNECT_TIMEOUT_S", 1)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        started = time.monotonic()
        line = one_line_error(cloudmake(f"postgresql://u@127.0.0.1:{silent.getsockname()[1]}/x", "mcp", "list"))
    assert "timed out: no answer within 1 s" in line and time.monotonic() - started < 10


@pytest.mark.parametrize("command", [("db", "upgrade"), ("keys", "check"), ("previews", "archive")], ids=" ".join)
def test_sqlite_path_that_cannot_be_opened(cloudmake, command):
    line = one_line_error(cloudmake("sqlite:////proc/cloudmake-x.db", *command))
    assert "cannot open SQLite database /proc/cloudmake-x.db" in line


def test_a_file_that_is_not_a_database(cloudmake, tmp_path):
    not_db = tmp_path / "notes.db"
    not_db.write_text("hello\n" * 100)
    line = one_line_error(cloudmake(f"sqlite:///{not_db}", "mcp", "list"))
    assert f"cannot open SQLite database {not_db}: file is not a database" in line


@pytest.mark.parametrize("command", [("db", "status"), ("mcp", "list"), ("previews", "list"), ("keys", "status"),
                                     ("keys", "jwks"), ("mcp", "outages")], ids=" ".join)
def test_read_only_commands_create_no_folder_and_no_database(cloudmake, tmp_path, command):
    missing = tmp_path / "nonexistent" / "dir" / "x.db"
    line = one_line_error(cloudmake(f"sqlite:///{missing}", *command))
    assert f"no SQLite database at {missing}" in line and "cloudmake db upgrade" in line
    assert not missing.parent.parent.exists()


def test_db_status_before_the_first_upgrade_reports_all_pending_and_creates_nothing(cloudmake, tmp_path):
    fresh = tmp_path / "x.db"
    result = cloudmake(f"sqlite:///{fresh}", "db", "status", "--check")
    assert result.returncode == 1 and "pending:  0001_foundation" in result.stdout
    assert not fresh.exists()


def test_db_upgrade_still_creates_the_database_and_its_folder(cloudmake, tmp_path):
    fresh = tmp_path / "new" / "x.db"
    assert cloudmake(f"sqlite:///{fresh}", "db", "upgrade").returncode == 0
    assert fresh.is_file() and cloudmake(None, "db", "status").returncode == 0


def test_drift_database_url_unreachable_names_drift_yaml(cloudmake, tmp_path):
    (tmp_path / "drift.yaml").write_text(f"specs: {SHOP_SPECS}\ndatabase:\n  url: postgresql://u:pw@127.0.0.1:1/appdb\n")
    line = one_line_error(cloudmake(None, "drift", "check", "--target", str(tmp_path)))
    assert "'appdb' on 127.0.0.1:1" in line and "connection refused" in line and "database.url" in line


@pytest.mark.parametrize("yaml_text, expected", [
    ("storage:\n  sqlite:\n    base_dir: /proc/cloudmake-nope\n", "/proc/cloudmake-nope"),
    ("storage: [\n", "dagster.yaml\", line 2"),
    ("storage:\n  postgres:\n    postgres_url: postgresql+psycopg2://postgres@127.0.0.1:1/x\n",
     "on 127.0.0.1:1 as user 'postgres': connection refused"),
], ids=["unwritable-sqlite-dir", "broken-yaml", "refused-postgres"])
def test_status_with_an_unreadable_dagster_instance(cloudmake, tmp_path, monkeypatch, yaml_text, expected):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml_text)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    result = cloudmake(None, "status")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert line.startswith(f"error: cannot read the Dagster instance at {home} (DAGSTER_HOME): ") and expected in line


def test_unreachable_database_is_not_reported_as_unmigrated(cloudmake):
    line = one_line_error(cloudmake("postgresql://u@127.0.0.1:1/x", "mcp", "add", "a", "http://127.0.0.1:9/mcp"))
    assert "connection refused" in line and "db upgrade" not in line




def test_non_utf8_data_model_names_the_file_and_line(cloudmake, tmp_path):
    feature = tmp_path / "specs" / "001-shop"
    feature.mkdir(parents=True)
    (feature / "data-model.md").write_bytes(b"# Data model\n\nCaf\xe9 orders\n")
    line = one_line_error(cloudmake(None, "drift", "check", "--target", str(tmp_path)))
    assert "specs/001-shop/data-model.md:3: not UTF-8 text (byte 0xe9 at offset 17)" in line


def test_binary_stdin_to_put_secret_is_refused_without_echoing_it(cloudmake, sqlite_url, monkeypatch):
    assert cloudmake(sqlite_url, "db", "upgrade").returncode == 0
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"\xff\xfe\x00token-bytes")))
    line = one_line_error(cloudmake(None, "keys", "put-secret", "blob"))
    assert "put-secret blob: stdin is not UTF-8 text (invalid byte at offset 0)" in line
    assert "token-bytes" not in line
    assert cloudmake(None, "keys", "list-secrets").stdout.strip() == "(no secrets)"


def test_keys_check_with_a_malformed_key_file_is_a_config_error(cloudmake, sqlite_url, tmp_path, monkeypatch):
    assert cloudmake(sqlite_url, "db", "upgrade").returncode == 0
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"value\n")))
    assert cloudmake(None, "keys", "put-secret", "deploy_token").returncode == 0
    key_file = tmp_path / "state" / "keys" / "master_keys.json"
    assert cloudmake(None, "keys", "check").returncode == 0
    key_file.write_text('{"CLOUDMAKE_MASTER_KEY_V1": "too-short"')
    line = one_line_error(cloudmake(None, "keys", "check"))
    assert f"key file {key_file} is not valid JSON" in line


@pytest.mark.parametrize("target, expected", [
    ("nonexistent", "'nonexistent' is not a revision: expected heads or one of this project's revisions (0001_"),
    ("base", "'base' is the empty schema before every migration: upgrading to it would be a downgrade"),
    ("-1", "'-1' is not a revision"),
])
def test_db_upgrade_target_that_upgrade_cannot_reach_is_a_usage_error(cloudmake, sqlite_url, target, expected):
    result = cloudmake(sqlite_url, "db", "upgrade", "--target", target)
    assert result.returncode == 2 and "Invalid value for '--target'" in result.stderr and expected in result.stderr
    assert "migration 0001_foundation.py failed" not in result.stderr and "up to date" not in result.stdout
    assert "pending:  0001_foundation" in cloudmake(None, "db", "status").stdout  # nothing was applied


def test_db_upgrade_to_an_applied_target_says_what_is_still_pending(cloudmake, sqlite_url):
    assert cloudmake(sqlite_url, "db", "upgrade", "--target", "0007_keys").returncode == 0
    again = cloudmake(None, "db", "upgrade", "--target", "0001_foundation")
    assert again.returncode == 0 and "0001_foundation is already applied; pending beyond it: " in again.stdout
    assert "up to date" not in "".join(line for line in again.stdout.splitlines() if not line.startswith("{"))


@pytest.mark.parametrize("args, option", [
    (("mcp", "add", "a", "http://127.0.0.1:9/mcp", "--threshold", "sc021_p95_ms=NaN"), "--threshold"),
    (("mcp", "add", "a", "http://127.0.0.1:9/mcp", "--threshold", "sc021_p95_ms=1e400"), "--threshold"),
    (("mcp", "add", "a", "http://127.0.0.1:9/mcp", "--threshold", "alert_p95_ms=-Infinity"), "--threshold"),
    (("mcp", "loadtest", "--rate", "nan"), "'--rate'"),
    (("mcp", "loadtest", "--duration", "nan"), "'--duration'"),
    (("mcp", "loadtest", "--duration", "inf"), "'--duration'"),
    (("mcp", "breaker", "set", "a", "open", "--failures", "99999999999999999999"), "'--failures'"),
    (("mcp", "breaker", "prune", "--older-than", "99999999999d"), "'--older-than'"),
    (("mcp", "outages", "--since", "99999999999d"), "'--since'"),
    (("previews", "list", "--limit", "99999999999999999999"), "'--limit'"),
    (("previews", "archive", "--cleanup-limit", "99999999999999999999"), "'--cleanup-limit'"),
    (("github", "targets", "add", "actions:repo:o/r", "--repository-id", "-5"), "'--repository-id'"),
    (("db", "benchmark-admin", "--threshold-ms", "nan"), "'--threshold-ms'"),
    (("db", "benchmark-admin", "--seed", "--users", "99999999999999999999"), "'--users'"),
], ids=lambda v: " ".join(v) if isinstance(v, tuple) else v)
def test_non_finite_and_out_of_range_numbers_are_usage_errors(cloudmake, sqlite_url, args, option):
    assert cloudmake(sqlite_url, "db", "upgrade").returncode == 0
    result = cloudmake(None, *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result
    assert f"Invalid value for {option}" in result.stderr
    assert cloudmake(None, "mcp", "list", "--json").stdout.strip() == "[]"  # nothing was stored


def _options(command, path=()):
    import click

    if isinstance(command, click.Group):
        for name in command.list_commands(None):
            yield from _options(command.get_command(None, name), (*path, name))
    else:
        for param in command.params:
            yield " ".join(path), param


def test_every_numeric_option_is_bounded_and_finite():
    import click

    from cloudmake_pipelines.cli import cli
    from cloudmake_pipelines.cli.common import FiniteFloat

    checked = 0
    for where, param in _options(cli):
        kind = param.type
        if isinstance(kind, click.types.FloatParamType):
            assert isinstance(kind, FiniteFloat), f"{where} {param.opts}: use FiniteFloat(min, max)"
        elif isinstance(kind, click.types.IntParamType) and not isinstance(kind, click.types.BoolParamType):
            assert isinstance(kind, click.IntRange) and kind.min is not None and kind.max is not None, \
                f"{where} {param.opts}: use BoundedInt(min, max)"
        else:
            continue
        checked += 1
    assert checked >= 15


def test_a_stored_nan_threshold_cannot_switch_sc021_off(cloudmake, sqlite_url):
    from sqlalchemy import insert

    from cloudmake_pipelines.db.engine import make_engine
    from cloudmake_pipelines.db.tables import mcp_servers
    from cloudmake_pipelines.db.types import utcnow
    from cloudmake_pipelines.mcp import McpServer, Registry
    from cloudmake_pipelines.mcp.registry import RegistryError

    assert cloudmake(sqlite_url, "db", "upgrade").returncode == 0
    engine = make_engine(sqlite_url)
    with pytest.raises(RegistryError, match="threshold sc021_p95_ms=nan is not a finite number"):
        Registry(engine).add(McpServer("direct", "http://127.0.0.1:9/mcp", thresholds={"sc021_p95_ms": float("nan")}))
    with engine.begin() as conn:  # as an older version or a hand-made row left it (SQLite keeps NaN in JSON)
        conn.execute(insert(mcp_servers).values(name="legacy", url="http://127.0.0.1:9/mcp", transport="streamable_http",
                                                enabled=True, thresholds={"sc021_p95_ms": float("nan")},
                                                created_at=utcnow(), updated_at=utcnow()))
    line = one_line_error(cloudmake(None, "mcp", "loadtest", "--server", "legacy", "--duration", "0.1"))
    assert "server 'legacy': threshold sc021_p95_ms=nan is not a finite number" in line
