"""Dogfooding: this repository's spec (specs/001-cloudmake-pipelines) against its own migrations.

Nothing here lists tables by hand: the check reflects whatever our Alembic migrations build. A table or
column added without being specified in data-model.md fails this test with the drift table.
"""

from pathlib import Path

import pytest

from cloudmake_pipelines.db.migrate import upgrade
from cloudmake_pipelines.db.tables import metadata
from cloudmake_pipelines.drift import run_check
from cloudmake_pipelines.drift.report import as_text

ROOT = Path(__file__).resolve().parents[1]


def test_this_repository_matches_its_own_spec_on_sqlite_built_from_its_migrations():
    report = run_check(ROOT)
    assert report.checked["entities"] == ("temporary SQLite built by the migrations in "
                                          "cloudmake_pipelines/db/migrations")
    assert not report.has_drift, (
        "specs/001-cloudmake-pipelines/data-model.md disagrees with the migrations. Specify new tables and "
        "columns there (`cloudmake drift scaffold` prints the blocks of unspecified tables; see "
        "specs/README.md), or fix the migration:\n" + as_text(report))


@pytest.mark.postgres
def test_this_repository_matches_its_own_spec_on_postgresql(pg_url, tmp_path):
    """PostgreSQL keeps the exact types (bigint keys, jsonb) that SQLite folds together."""
    upgrade(pg_url)
    config = tmp_path / "drift.yaml"
    config.write_text(f"specs: {ROOT / 'specs'}\ndatabase: {{url: '{pg_url}'}}\n")
    report = run_check(ROOT, config_path=config)
    assert report.checked["entities"].startswith("database postgresql+psycopg://")
    assert not report.has_drift, as_text(report)


def test_the_spec_covers_every_table_of_the_metadata():
    """The same fact from the other side: every table on the one MetaData has an entity block."""
    from cloudmake_pipelines.drift.config import load_config
    from cloudmake_pipelines.drift.spec import load_spec

    specified = set(load_spec(load_config(ROOT)).entities)
    missing = sorted(set(metadata.tables) - specified)
    assert not missing, f"tables without an entity in specs/001-cloudmake-pipelines/data-model.md: {missing}"
