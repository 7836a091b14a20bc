"""Two helpers every storage module shares: "are the migrations applied?" and a dialect-aware upsert."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, Table, inspect

from ..errors import ConfigError


def require_tables(engine: Engine, *tables: Table | str) -> None:
    """Fail with what to do (exit 2) when a table the caller needs does not exist yet, instead of an SQL
    error halfway through: the database is not migrated."""
    existing = set(inspect(engine).get_table_names())
    missing = [name for name in (t if isinstance(t, str) else t.name for t in tables) if name not in existing]
    if missing:
        raise ConfigError(f"the database has no {', '.join(missing)} table{'s' if len(missing) > 1 else ''}: "
                          "run `cloudmake db upgrade` first (or the Dagster job migrations_job)")


def dialect_insert(conn: Connection, table: Table):
    """An INSERT that knows ``on_conflict_do_nothing``/``on_conflict_do_update`` on PostgreSQL and SQLite.

    Imported from the connection's own dialect, loaded already: on SQLite, SQLAlchemy's PostgreSQL dialect
    is not imported for it."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)
