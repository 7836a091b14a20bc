"""Shared fixtures: databases (embedded SQLite and a fresh PostgreSQL database per test), migrated engines.

PostgreSQL tests use TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres). Where no
server answers they skip with the reason, except under CI=true, where they must run and so fail.

Migrating a database takes every migration (a second on PostgreSQL, more on a loaded machine), and more than
a hundred tests want one: so each session (each xdist worker) migrates one SQLite file and one PostgreSQL
database once, and ``engine``/``pg_engine`` hand each test a copy of it (a file copy; ``CREATE DATABASE ...
TEMPLATE``). Tests of the migrations themselves call ``upgrade`` on an empty ``pg_url``/``sqlite_url``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from cloudmake_pipelines.db import make_engine
from cloudmake_pipelines.db.migrate import upgrade

PG_SERVER_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    try:
        psycopg.connect(_libpq(PG_SERVER_URL), connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL at TEST_DATABASE_URL is not reachable ({type(exc).__name__})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true requires it")
        pytest.skip(reason)
    return PG_SERVER_URL


def _create_database(server_url: str, template: str | None = None) -> str:
    """A new PostgreSQL database (a copy of ``template`` when given); returns its URL."""
    name = f"cm_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _drop_database(server_url: str, url: str) -> None:
    with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


#: Tests that use one of these fixtures get their database migrated: a copy of the session's migrated one.
MIGRATED = {"engine", "pg_engine"}


@pytest.fixture
def pg_url(request, pg_server_url: str) -> Iterator[str]:
    """A new PostgreSQL database for one test, dropped afterwards: empty, or a copy of the session's migrated
    database (``CREATE DATABASE ... TEMPLATE``) when the test also uses ``engine`` or ``pg_engine``."""
    template = request.getfixturevalue("_pg_migrated") if MIGRATED & set(request.fixturenames) else None
    url = _create_database(pg_server_url, template)
    yield url
    _drop_database(pg_server_url, url)


@pytest.fixture
def platform_pg_url(pg_server_url: str) -> Iterator[str]:
    """Another new, empty PostgreSQL database for one test, dropped afterwards: the platform's, for a test whose
    ``pg_url`` holds Dagster's storage (``production_dagster_home``), as production keeps them apart."""
    url = _create_database(pg_server_url)
    yield url
    _drop_database(pg_server_url, url)


@pytest.fixture(scope="session")
def _pg_migrated(pg_server_url: str) -> Iterator[str]:
    """The name of a PostgreSQL database with every head applied, made once per session: the template of
    the migrated ``pg_url`` (a template takes no connection while it is copied: its engine is disposed)."""
    url = _create_database(pg_server_url)
    eng = make_engine(url)
    upgrade(eng)
    eng.dispose()
    yield make_url(url).database
    _drop_database(pg_server_url, url)


@pytest.fixture(scope="session")
def _sqlite_migrated(tmp_path_factory) -> bytes:
    """A SQLite database file with every head applied, made once per session (checkpointed: no WAL left)."""
    path = tmp_path_factory.mktemp("migrated") / "cloudmake.db"
    eng = make_engine(f"sqlite:///{path}")
    upgrade(eng)
    eng.dispose()
    return path.read_bytes()


@pytest.fixture
def sqlite_url(request, tmp_path) -> str:
    """A SQLite file path for one test: no file yet, or a copy of the session's migrated database (private,
    as make_engine creates it) when the test also uses ``engine``."""
    path = tmp_path / "cloudmake.db"
    if MIGRATED & set(request.fixturenames):
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(request.getfixturevalue("_sqlite_migrated"))
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request) -> str:
    """Each test using this runs twice: on the embedded SQLite default and on PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated database (every head applied), on SQLite and on PostgreSQL (see ``sqlite_url``, ``pg_url``)."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """A migrated PostgreSQL database, for PostgreSQL-only features."""
    eng = make_engine(pg_url)
    yield eng
    eng.dispose()


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def embedded_dagster_home(tmp_path) -> Path:
    """A DAGSTER_HOME with the embedded default instance config (SQLite storage), as the quick start's."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.embedded.yaml", home / "dagster.yaml")
    return home


@pytest.fixture
def production_dagster_home(pg_url, tmp_path, monkeypatch) -> Path:
    """A DAGSTER_HOME with the repository's production dagster.yaml, its DAGSTER_PG_* variables set
    (in os.environ, so subprocesses inherit them) to a fresh PostgreSQL database."""
    url = make_url(pg_url)
    home = tmp_path / "dagster_home_pg"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    for name, value in (("DAGSTER_PG_USERNAME", url.username or "postgres"), ("DAGSTER_PG_PASSWORD", url.password or ""),
                        ("DAGSTER_PG_HOST", url.host or "127.0.0.1"), ("DAGSTER_PG_DB", url.database)):
        monkeypatch.setenv(name, value)
    return home


@pytest.fixture(scope="session")
def chromium() -> str:
    """The machine's Chromium as the audit finds it (Debian's package, installed by scripts/setup as root; or
    Chrome, as on GitHub's runners) for the browser tests: they skip without one, except under CI=true."""
    from cloudmake_pipelines.a11y.browser import find_chromium
    from cloudmake_pipelines.errors import ConfigError

    try:
        return find_chromium()
    except ConfigError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc}; CI=true requires it")
        pytest.skip(str(exc))


@pytest.fixture
def cloudmake_main(capsys):
    """Runs ``cloudmake GROUP ARGS...`` through the console entry point, in process (a process each is slow):
    returns a CompletedProcess with the exit code and only this command's stdout and stderr. Settings are read
    afresh from the environment each time, as each command is a new process in real life."""
    import subprocess

    from cloudmake_pipelines.cli import main
    from cloudmake_pipelines.settings import get_settings

    def run(*args: str) -> subprocess.CompletedProcess:
        get_settings.cache_clear()
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, exited.value.code, out, err)

    return run


def pytest_addoption(parser):
    parser.addoption("--serial", choices=("all", "skip", "only"), default="all",
                     help="tests marked serial (they measure latency): run them with the rest (all), leave them "
                          "out (skip: scripts/test runs them alone after its parallel part), or run only them")


def pytest_collection_modifyitems(config, items):
    """``--serial skip|only``: deselect (not skip: they run in scripts/test's other pass) by the serial mark."""
    mode = config.getoption("--serial")
    if mode == "all":
        return
    keep = [item for item in items if (item.get_closest_marker("serial") is not None) == (mode == "only")]
    dropped = [item for item in items if item not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test inherits a developer's credentials or database, or another test's process-wide state."""
    from cloudmake_pipelines.settings import MASTER_KEY_PREFIX, variables

    for name in [*variables(), *(n for n in os.environ if n.startswith(MASTER_KEY_PREFIX))]:
        if name != "DAGSTER_HOME":  # where the developer's instance is; the e2e tests set their own
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDMAKE_STATE_DIR", str(tmp_path / "state"))
    from dagster._core.storage.defs_state.base import _current_storage

    from cloudmake_pipelines.logs import redactor
    from cloudmake_pipelines.settings import get_settings

    get_settings.cache_clear()
    # Also before the test: a module-scoped fixture that leaves its DagsterInstance after the previous test's
    # teardown restores the storage it found when it entered, now of a disposed instance (seen in CI: the
    # next module's first dg.materialize failed with "undefined DagsterInstance weakref").
    _current_storage.set(None)
    yield
    get_settings.cache_clear()
    # One test's secrets must not mask another test's expected output (the redactor is process-wide).
    redactor.clear()
    # A DagsterInstance entered in one test and left in another context (a fixture's generator, a
    # server thread) can leave Dagster's current defs-state storage pointing at a disposed instance,
    # which breaks the next Definitions load in this process.
    _current_storage.set(None)
