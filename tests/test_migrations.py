import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from cloudmake_pipelines.db import make_engine, metadata
from cloudmake_pipelines.db.migrate import ADVISORY_LOCK_KEY, MIGRATIONS_DIR, MigrationFailed, status, upgrade

SEED_TABLES = {"mcp_servers", "mcp_server_metrics", "mcp_drift_snapshots", "environments", "admin_audit_logs"}


def test_upgrade_from_empty_then_idempotent(db_url):
    before = status(db_url)
    assert before.current == [] and before.pending
    first = upgrade(db_url)
    assert [entry["revision"] for entry in first.applied] == before.pending
    assert all(entry["duration_ms"] >= 0 and entry["file"].endswith(".py") for entry in first.applied)
    assert first.status.up_to_date
    second = upgrade(db_url)
    assert second.applied == [] and second.status.current == second.status.heads


def test_migrations_build_exactly_the_metadata(engine):
    assert SEED_TABLES <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == [], f"tables.py and the migrations disagree: {diff}"


def _run_cli(args, env):
    return subprocess.Popen([sys.executable, "-m", "cloudmake_pipelines.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.postgres
def test_two_concurrent_runners_on_postgres_exactly_one_applies(pg_url):
    env = {**os.environ, "DATABASE_URL": pg_url}
    procs = [_run_cli(["db", "upgrade", "--json"], env) for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert sorted(len(r["applied"]) > 0 for r in results) == [False, True]
    assert status(pg_url).up_to_date


def test_two_concurrent_runners_on_sqlite(sqlite_url):
    env = {**os.environ, "DATABASE_URL": sqlite_url}
    procs = [_run_cli(["db", "upgrade", "--json"], env) for _ in range(2)]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outs.append(json.loads(out))
    assert sorted(len(o["applied"]) > 0 for o in outs) == [False, True]


def _broken_tree(tmp_path):
    """The real migrations plus a good one and a failing one on top."""
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    heads = status.__globals__["_script"](directory).get_heads()
    good = directory / "versions" / "9001_good.py"
    good.write_text(textwrap.dedent(f"""
        import sqlalchemy as sa
        from alembic import op
        revision = "9001_good"
        down_revision = {tuple(heads)!r}
        branch_labels = None
        depends_on = None
        def upgrade():
            op.create_table("good_table", sa.Column("id", sa.Integer, primary_key=True))
        def downgrade():
            op.drop_table("good_table")
    """))
    bad = directory / "versions" / "9002_broken.py"
    bad.write_text(textwrap.dedent("""
        import sqlalchemy as sa
        from alembic import op
        revision = "9002_broken"
        down_revision = "9001_good"
        branch_labels = None
        depends_on = None
        def upgrade():
            op.create_table("half_done", sa.Column("id", sa.Integer, primary_key=True))
            op.execute("SELECT * FROM table_that_does_not_exist")
        def downgrade():
            pass
    """))
    return directory


def test_broken_migration_leaves_last_good_revision(db_url, tmp_path):
    directory = _broken_tree(tmp_path)
    with pytest.raises(MigrationFailed) as err:
        upgrade(db_url, directory=directory)
    assert "9002_broken.py" in str(err.value)
    assert err.value.exit_code == 1
    assert status(db_url, directory=directory).current == ["9001_good"]
    tables = set(inspect(make_engine(db_url)).get_table_names())
    assert "good_table" in tables and "half_done" not in tables


def test_cli_status_and_exit_codes(sqlite_url):
    env = {**os.environ, "DATABASE_URL": sqlite_url}
    proc = subprocess.run([sys.executable, "-m", "cloudmake_pipelines.cli", "db", "status", "--check", "--json"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and json.loads(proc.stdout)["up_to_date"] is False
    subprocess.run([sys.executable, "-m", "cloudmake_pipelines.cli", "db", "upgrade"], env=env, check=True,
                   capture_output=True, timeout=60)
    proc = subprocess.run([sys.executable, "-m", "cloudmake_pipelines.cli", "db", "status", "--check"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "pending:  none" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "cloudmake_pipelines.cli", "db", "status"],
                         env={**env, "ENVIRONMENT": "qa"}, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "ENVIRONMENT" in bad.stderr


def test_upgrade_logs_each_file_as_pino(sqlite_url):
    """Each file is logged as a Pino line on stderr (stdout carries only the result)."""
    env = {**os.environ, "DATABASE_URL": sqlite_url}
    proc = subprocess.run([sys.executable, "-m", "cloudmake_pipelines.cli", "db", "upgrade"], env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    records = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    applied = [r for r in records if r["msg"].startswith("applied migration")]
    assert applied and all(r["level"] == 30 and "duration_ms" in r and r["file"] for r in applied)


def test_failed_upgrade_on_postgres_releases_the_lock(pg_url, tmp_path):
    directory = _broken_tree(tmp_path)
    with pytest.raises(MigrationFailed):
        upgrade(pg_url, directory=directory)
    with make_engine(pg_url).connect() as conn:
        held = conn.execute(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND (classid::bigint << 32) + objid::bigint = :key"), {"key": ADVISORY_LOCK_KEY}).scalar()
    assert held == 0


def test_a_downgraded_branch_is_pending_again(db_url):
    from alembic import command

    from cloudmake_pipelines.db.migrate import _config

    upgrade(db_url)
    branch = next(head for head in status(db_url).heads if head != "0001_foundation")
    with make_engine(db_url).begin() as conn:
        command.downgrade(_config(conn), f"{branch}@-1")
    assert branch in status(db_url).pending
    again = upgrade(db_url)
    assert branch in [entry["revision"] for entry in again.applied] and again.status.up_to_date


def test_db_tables_lists_every_table_each_schema_module_defines():
    """db/tables.py finds a table's module through DOMAINS, and its ``metadata`` imports the modules listed there:
    a table (or a module) left out would be missing from the schema Alembic and the drift detector compare."""
    import importlib
    import pkgutil

    from sqlalchemy import Table

    from cloudmake_pipelines.db import schema, tables

    assert {m.name for m in pkgutil.iter_modules(schema.__path__)} == set(tables.DOMAINS)
    for domain, names in tables.DOMAINS.items():
        module = importlib.import_module(f"{schema.__name__}.{domain}")
        assert sorted(n for n, v in vars(module).items() if isinstance(v, Table)) == sorted(names), domain
        assert all(getattr(tables, name) is getattr(module, name) for name in names)
    assert sorted(tables.metadata.tables) == sorted(n for names in tables.DOMAINS.values() for n in names)
