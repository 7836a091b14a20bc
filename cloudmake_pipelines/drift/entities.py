"""Entities: the spec's tables and fields against a real database schema, reflected with SQLAlchemy.

The database is a live one (``database.url``) or, by default, a temporary SQLite database built from
the target's own migrations (Alembic, through :func:`cloudmake_pipelines.db.migrate.upgrade`) or SQL
files. Types are compared in one vocabulary: ``integer bigint smallint string(n) text boolean float
numeric(p,s) datetime date time json uuid bytes enum``. SQLite stores a BIGINT key as INTEGER and a
UUID as CHAR(32); on SQLite those pairs count as equal.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, inspect
from sqlalchemy import types as sqltypes

from ..db.engine import make_engine
from ..db.migrate import upgrade
from ..settings import display_url
from .config import SKIP_DIRS, DriftConfig, walk_files
from .model import DriftItem, SpecError

TYPE_NAMES = {"integer", "bigint", "smallint", "string", "text", "boolean", "float", "numeric", "datetime",
              "date", "time", "json", "uuid", "bytes", "enum"}
_TYPE = re.compile(r"^(\w+)(?:\((\d+)(?:\s*,\s*(\d+))?\))?$")
_SQLITE_SAME = {("bigint", "integer"), ("smallint", "integer"), ("uuid", "string(32)")}


@dataclass(frozen=True)
class Field:
    type: str
    nullable: bool
    primary_key: bool = False
    location: str = ""

    def describe(self) -> str:
        return f"{self.type} {'null' if self.nullable else 'not null'}{' pk' if self.primary_key else ''}"


@dataclass
class Entity:
    name: str
    fields: dict[str, Field]
    location: str


def parse_type(text: str, where: str, line: int | None) -> str:
    """Validate a spec type (``string(200)``, ``numeric(10,2)``, ``bigint``) and return its normal form."""
    match = _TYPE.match(text.strip().lower())
    if not match or match.group(1) not in TYPE_NAMES:
        raise SpecError(where, f"unknown type {text!r}: expected one of {', '.join(sorted(TYPE_NAMES))} "
                               "(string and numeric take a length: string(200), numeric(10,2))", line)
    return text.strip().lower().replace(" ", "")


def column_type(coltype: sqltypes.TypeEngine) -> str:
    """A reflected column type in the spec vocabulary."""
    checks: list[tuple[type, str]] = [
        (sqltypes.Boolean, "boolean"), (sqltypes.BigInteger, "bigint"), (sqltypes.SmallInteger, "smallint"),
        (sqltypes.Integer, "integer"), (sqltypes.Float, "float"), (sqltypes.DateTime, "datetime"),
        (sqltypes.Date, "date"), (sqltypes.Time, "time"), (sqltypes.JSON, "json"), (sqltypes.Uuid, "uuid"),
        (sqltypes._Binary, "bytes"), (sqltypes.Enum, "enum"), (sqltypes.Text, "text"),
    ]
    for cls, name in checks:
        if isinstance(coltype, cls):
            return name
    if isinstance(coltype, sqltypes.Numeric):
        precision, scale = getattr(coltype, "precision", None), getattr(coltype, "scale", None)
        return f"numeric({precision},{scale or 0})" if precision else "numeric"
    if isinstance(coltype, sqltypes.String):
        return f"string({coltype.length})" if coltype.length else "string"
    name = type(coltype).__name__.lower()
    return {"double_precision": "float", "real": "float", "bytea": "bytes", "jsonb": "json"}.get(name, name)


def reflect(engine: Engine, ignore_tables: list[str], label: str) -> dict[str, Entity]:
    """Tables and columns of ``engine``'s database; ``label`` names it in item locations."""
    inspector = inspect(engine)
    url = label
    found = {}
    for table in inspector.get_table_names():
        if table in ignore_tables:
            continue
        primary = set(inspector.get_pk_constraint(table).get("constrained_columns") or [])
        fields = {col["name"]: Field(column_type(col["type"]), bool(col["nullable"]) and col["name"] not in primary,
                                     col["name"] in primary, f"{url}: {table}")
                  for col in inspector.get_columns(table)}
        found[table] = Entity(table, fields, f"{url}: {table}")
    return found


def render(entity: Entity) -> str:
    """The ``data-model.md`` block that specifies ``entity`` as it is (for ``cloudmake drift scaffold``)."""
    lines = [f"## {entity.name}", "", "```yaml", f"entity: {entity.name}", "fields:"]
    lines += [f"  {name}: {f.type}{'?' if f.nullable else ''}{' pk' if f.primary_key else ''}"
              for name, f in entity.fields.items()]
    return "\n".join([*lines, "```", ""])


def discover_migrations(root: Path) -> list[Path]:
    """Alembic script directories under ``root``: a folder with ``env.py`` and ``versions/``."""
    return [p.parent for p in walk_files(root, ["**/env.py"])
            if (p.parent / "versions").is_dir() and not set(p.relative_to(root).parts) & SKIP_DIRS]


@contextlib.contextmanager
def database(config: DriftConfig) -> Iterator[tuple[Engine, str, str] | None]:
    """(engine, description, short label) of the database to reflect; None when the target has none."""
    settings = config.database
    source = config.source or config.root
    if "url" in settings:
        engine = make_engine(settings["url"], create=False, source=f"{source}: database.url")
        try:
            yield engine, f"database {display_url(str(engine.url))}", display_url(str(engine.url))
        finally:
            engine.dispose()
        return
    migrations = [config.root / settings["migrations"]] if "migrations" in settings else None
    if migrations is None and "sql" not in settings:
        migrations = discover_migrations(config.root)
        if len(migrations) > 1:
            raise SpecError(source, "several Alembic directories found ("
                            + ", ".join(str(m.relative_to(config.root)) for m in migrations)
                            + "): name one as database.migrations in drift.yaml")
        if not migrations:
            yield None
            return
    with tempfile.TemporaryDirectory(prefix="cloudmake-drift-") as tmp:
        path = Path(tmp) / "drift.db"
        if migrations:
            directory = migrations[0]
            if not (directory / "env.py").is_file():
                raise SpecError(source, f"database.migrations: {directory} is not an Alembic directory (no env.py)")
            upgrade(f"sqlite:///{path}", directory=directory)
            label = str(directory.relative_to(config.root) if directory.is_relative_to(config.root) else directory)
            described = f"temporary SQLite built by the migrations in {label}"
        else:
            _run_sql(config, path)
            label = ", ".join(settings["sql"])
            described = f"temporary SQLite built from {label}"
        engine = make_engine(f"sqlite:///{path}")
        try:
            yield engine, described, label
        finally:
            engine.dispose()


def _run_sql(config: DriftConfig, path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA synchronous = OFF")  # a throw-away database: no fsync per statement
        conn.execute("PRAGMA journal_mode = MEMORY")
        for name in config.database["sql"]:
            file = config.root / name
            if not file.is_file():
                raise SpecError(config.source or config.root, f"database.sql: {name} not found")
            try:
                conn.executescript(file.read_text(encoding="utf-8"))
            except sqlite3.Error as exc:
                raise SpecError(file, f"SQL failed on SQLite: {exc}") from None


def _same(expected: Field, actual: Field, dialect: str) -> bool:
    if (expected.nullable, expected.primary_key) != (actual.nullable, actual.primary_key):
        return False
    return expected.type == actual.type or (dialect == "sqlite" and (expected.type, actual.type) in _SQLITE_SAME)


def compare(spec: dict[str, Entity], actual: dict[str, Entity], dialect: str) -> list[DriftItem]:
    items = []
    for name in sorted(set(spec) | set(actual)):
        if name not in actual:
            items.append(DriftItem("entities", "missing", name, f"table ({len(spec[name].fields)} fields)", None,
                                   spec[name].location))
        elif name not in spec:
            items.append(DriftItem("entities", "extra", name, None, f"table ({len(actual[name].fields)} fields)",
                                   actual[name].location))
        else:
            want, have = spec[name].fields, actual[name].fields
            for field in [*want, *(f for f in have if f not in want)]:
                key = f"{name}.{field}"
                if field not in have:
                    items.append(DriftItem("entities", "missing", key, want[field].describe(), None,
                                           want[field].location))
                elif field not in want:
                    items.append(DriftItem("entities", "extra", key, None, have[field].describe(),
                                           spec[name].location))
                elif not _same(want[field], have[field], dialect):
                    items.append(DriftItem("entities", "changed", key, want[field].describe(),
                                           have[field].describe(), want[field].location))
    return items
