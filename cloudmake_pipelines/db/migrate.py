"""The migration runner (seed task 9): Alembic, made safe to run from CI, the CLI and Dagster at once.

* It checks the history first and applies only what is pending; a second run applies nothing.
* It holds a database-wide lock for the whole run (db/locks.py), so two
  runners started together never both apply: the second waits, then finds nothing to do.
* Each migration runs in its own transaction: a failing one leaves the database at the last good
  revision, and :class:`MigrationFailed` names it.

Domain migrations branch from ``0001_foundation``; ``heads`` means "every branch up to date".
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine

from ..errors import CloudMakeError, ConfigError
from ..logs import get_logger
from ..settings import display_url
from .engine import make_engine, sqlite_file
from .errors import missing_sqlite
from .locks import exclusive, lock_key

log = get_logger("migrations")
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
LOCK_NAME = "migrations"
#: The PostgreSQL advisory-lock key every runner of this project takes (see db/locks.py).
ADVISORY_LOCK_KEY = lock_key(LOCK_NAME)


class MigrationFailed(CloudMakeError):
    """A migration raised; the database stays at the last revision that succeeded."""


@dataclass
class MigrationStatus:
    current: list[str]
    heads: list[str]
    pending: list[str]

    @property
    def up_to_date(self) -> bool:
        return not self.pending


@dataclass
class UpgradeResult:
    applied: list[dict] = field(default_factory=list)  # [{"revision", "file", "duration_ms"}]
    status: MigrationStatus | None = None
    duration_ms: float = 0.0


def _config(connection: Connection | None = None, directory: Path = MIGRATIONS_DIR) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(directory))
    cfg.attributes["connection"] = connection
    return cfg


def _script(directory: Path) -> ScriptDirectory:
    return ScriptDirectory.from_config(_config(None, directory))


def _status(connection: Connection, directory: Path) -> MigrationStatus:
    script = _script(directory)
    current = sorted(MigrationContext.configure(connection).get_current_heads())
    applied = {rev.revision for head in current for rev in script.iterate_revisions(head, "base")}
    in_order = reversed(list(script.walk_revisions()))  # base first, as upgrade applies them
    pending = [rev.revision for rev in in_order if rev.revision not in applied]
    return MigrationStatus(current, sorted(script.get_heads()), pending)


def required_revisions(target: str, directory: Path = MIGRATIONS_DIR) -> set[str]:
    """The revisions ``upgrade(target)`` ends with applied: ``target`` and its ancestors (``heads``: all).

    Raises :class:`ConfigError` for what ``upgrade`` cannot do: a revision this project does not have, a
    relative step, or ``base`` (the empty schema: reaching it would mean downgrading, which is not supported).
    """
    script = _script(directory)
    known = [rev.revision for rev in reversed(list(script.walk_revisions()))]
    expected = f"expected heads or one of this project's revisions ({', '.join(known)})"
    if target == "base":
        raise ConfigError("'base' is the empty schema before every migration: upgrading to it would be a "
                          f"downgrade, which is not supported (restore a backup instead); {expected}")
    revisions = ()
    if target == "heads" or target in known or not any(c in target for c in "+-@"):  # no relative steps
        with contextlib.suppress(CommandError):
            revisions = script.get_revisions(target)
    if not revisions or None in revisions:
        raise ConfigError(f"{target!r} is not a revision: {expected}")
    return {rev.revision for rev in script.iterate_revisions([r.revision for r in revisions], "base")}


def status(url: str | Engine, directory: Path = MIGRATIONS_DIR) -> MigrationStatus:
    """Current revisions vs heads, and what ``upgrade`` would apply (in order).

    A SQLite file that does not exist yet has nothing applied: that is reported without creating it (or its
    folder; a missing folder is an error naming the path)."""
    path = None if isinstance(url, Engine) else sqlite_file(url)
    if path is not None and not path.exists():
        if not path.parent.is_dir():
            raise missing_sqlite(str(path))
        url = "sqlite://"  # an empty in-memory database stands in for the file upgrade will create
    engine = url if isinstance(url, Engine) else make_engine(url)
    with engine.connect() as conn:
        return _status(conn, directory)


def upgrade(url: str | Engine, target: str = "heads", directory: Path = MIGRATIONS_DIR) -> UpgradeResult:
    """Apply every pending migration up to ``target``. Safe to call concurrently and repeatedly."""
    wanted = required_revisions(target, directory)
    engine = url if isinstance(url, Engine) else make_engine(url)
    result = UpgradeResult()
    started = time.perf_counter()
    with exclusive(engine, LOCK_NAME), engine.connect() as conn:
        before = _status(conn, directory)
        conn.rollback()
        if not wanted & set(before.pending):
            log.info("database is up to date: no migration to apply" if target == "heads"
                     else f"no migration to apply up to {target}",
                     extra={"database": display_url(str(engine.url)), "heads": before.heads})
            result.status, result.duration_ms = before, (time.perf_counter() - started) * 1000
            return result
        files = {rev.revision: Path(rev.path).name for rev in _script(directory).walk_revisions()}
        last = [time.perf_counter()]

        def on_apply(*, step, **_kw) -> None:
            now = time.perf_counter()
            revision = step.up_revision_id if step.is_upgrade else step.down_revision_ids
            entry = {"revision": revision, "file": files.get(revision, str(revision)),
                     "duration_ms": round((now - last[0]) * 1000, 1)}
            result.applied.append(entry)
            log.info(f"applied migration {entry['file']}", extra=entry)
            last[0] = now

        cfg = _config(conn, directory)
        cfg.attributes["on_version_apply"] = on_apply
        log.info("applying migrations", extra={"pending": before.pending, "database": display_url(str(engine.url))})
        try:
            command.upgrade(cfg, target)
        except Exception as exc:
            conn.rollback()
            done = {entry["revision"] for entry in result.applied}
            failed = next((rev for rev in before.pending if rev not in done), "unknown")
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            log.error(f"migration {files.get(failed, failed)} failed", extra={"revision": failed, "reason": reason})
            raise MigrationFailed(
                f"migration {files.get(failed, failed)} failed: {reason}; "
                f"the database stays at {', '.join(_status(conn, directory).current) or 'no revision'}"
            ) from None
        result.status = _status(conn, directory)
    result.duration_ms = round((time.perf_counter() - started) * 1000, 1)
    log.info("migrations applied", extra={"applied": len(result.applied), "duration_ms": result.duration_ms})
    return result
