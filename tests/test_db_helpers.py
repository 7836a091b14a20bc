"""The shared storage helpers: one "are the migrations applied?" answer and one upsert, on both databases."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from cloudmake_pipelines.db import make_engine
from cloudmake_pipelines.db.helpers import dialect_insert, require_tables
from cloudmake_pipelines.db.migrate import upgrade
from cloudmake_pipelines.db.tables import mcp_breaker_states, mcp_servers
from cloudmake_pipelines.errors import ConfigError


def test_require_tables_names_what_is_missing_and_what_to_run(db_url):
    engine = make_engine(db_url)
    with pytest.raises(ConfigError) as missing:
        require_tables(engine, mcp_servers, "secrets")
    assert missing.value.exit_code == 2
    assert "mcp_servers, secrets tables" in str(missing.value) and "cloudmake db upgrade" in str(missing.value)
    upgrade(db_url)
    require_tables(engine, mcp_servers, "secrets")  # migrated: nothing to say
    engine.dispose()


def test_dialect_insert_upserts_on_both_databases(engine):
    row = {"server_name": "a", "state": "open", "failure_count": 1, "updated_at": datetime(2026, 12, 2, tzinfo=UTC)}
    with engine.begin() as conn:
        for count in (1, 2):
            stmt = dialect_insert(conn, mcp_breaker_states).values({**row, "failure_count": count})
            conn.execute(stmt.on_conflict_do_update(index_elements=["server_name"],
                                                    set_={"failure_count": stmt.excluded.failure_count}))
        counts = conn.execute(select(mcp_breaker_states.c.failure_count)).scalars().all()
    assert counts == [2]
