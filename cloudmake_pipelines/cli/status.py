"""`cloudmake status`: the CloudMake Ops dashboard in a terminal."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import click
from rich.table import Table

from ..errors import CloudMakeError, ConfigError
from ..lazy import loading
from .common import emit_json, json_option, setup
from .output import print_table


def _check_word(check: dict) -> str:
    if check["passed"] is None:
        return "never run" if check["status"] == "NEVER_RUN" else check["status"].lower()
    return "pass" if check["passed"] else "FAIL"


def _check_summary(checks: list[dict]) -> str:
    return ", ".join(f"{c['check']}: {_check_word(c)}" for c in checks) or "-"


@contextlib.contextmanager
def _storage_errors(home: str) -> Iterator[None]:
    """An instance whose dagster.yaml or storage cannot be read is one line naming it (exit 2), not a traceback."""
    import sqlalchemy.exc
    import yaml
    from dagster._core.errors import DagsterInvalidConfigError
    from dagster_postgres.utils import DagsterPostgresException

    try:
        yield
    except (OSError, yaml.YAMLError, sqlalchemy.exc.SQLAlchemyError, DagsterInvalidConfigError,
            DagsterPostgresException) as exc:
        cause = exc
        while cause.__cause__ is not None:  # Dagster wraps the driver's error: show what actually failed
            cause = cause.__cause__
        raise ConfigError(f"cannot read the Dagster instance at {home} (DAGSTER_HOME): "
                          f"{' '.join(str(cause).split()) or type(cause).__name__}") from None


def _reach_postgres_storage(home: str) -> None:
    """Fail fast, naming host:port, when the instance's PostgreSQL storage cannot be reached.

    Dagster retries each storage's first connection with backoff (about 30 s when the port refuses) and has no
    connect timeout (a port that never answers hangs it for good). One connection through :func:`make_engine`
    (psycopg 3, ``connect_timeout`` once) decides first: :class:`DatabaseUnavailable`, exit 2.
    """
    from dagster._config import process_config
    from dagster._core.instance.config import dagster_instance_config
    from dagster_postgres import DagsterPostgresStorage
    from dagster_postgres.utils import pg_url_from_config
    from sqlalchemy.engine import make_url

    from ..db.engine import make_engine
    from ..db.errors import DatabaseUnavailable

    config, _ = dagster_instance_config(home)
    storage = (config.get("storage") or {}).get("postgres")
    if not storage:
        return
    resolved = process_config(DagsterPostgresStorage.config_type(), storage)
    if not resolved.success:
        return  # Dagster reports the configuration error itself, naming the field
    url = make_url(pg_url_from_config(resolved.value)).set(drivername="postgresql+psycopg")
    engine = make_engine(url.render_as_string(hide_password=False), source=f"{home}/dagster.yaml (storage)")
    try:
        with engine.connect():
            pass
    except DatabaseUnavailable as exc:
        raise ConfigError(f"cannot read the Dagster instance at {home} (DAGSTER_HOME): {exc}") from None
    finally:
        engine.dispose()


def _alert_outbox(settings) -> dict:
    """The alert outbox's counts from the platform database; ``unavailable`` says why when it cannot be read
    (the dashboard still shows the tasks)."""
    from datetime import timedelta

    from ..alerts import outbox_status
    from ..db.engine import make_engine
    from ..db.helpers import require_tables
    from ..db.tables import alert_outbox
    from ..db.types import utcnow

    try:
        engine = make_engine(settings.database_url, create=False)
        require_tables(engine, alert_outbox)
        return outbox_status(engine, utcnow(), timedelta(minutes=settings.alerts.overdue_minutes)).as_dict()
    except CloudMakeError as exc:
        return {"unavailable": str(exc)}


@click.command("status")
@json_option
@click.option("--failing", is_flag=True,
              help="Exit 1 when a task's last run or a check failed, or an alert is overdue in the outbox.")
def command(as_json: bool, failing: bool) -> None:
    """Every scheduled task: cadence, on/off, last run, next run, latest SC check results.

    Reads the Dagster instance at $DAGSTER_HOME (the same one the UI shows); without it, the quick
    start's instance in the state folder (.cloudmake/dagster_home).
    """
    settings = setup(as_json)
    home = str(settings.core.dagster_home or settings.state_dir / "dagster_home")
    if not os.path.isfile(os.path.join(home, "dagster.yaml")):
        raise ConfigError(f"no Dagster instance at {home}: set DAGSTER_HOME to the instance's folder "
                          "(the quick start's is .cloudmake/dagster_home)")
    with loading():
        with _storage_errors(home):
            _reach_postgres_storage(home)  # before loading the definitions: seconds of CPU for nothing otherwise
        import dagster as dg

        from .. import opsstatus
        from ..definitions import defs

        with _storage_errors(home):
            instance = dg.DagsterInstance.from_config(home)
    with _storage_errors(home), instance:
        tasks = opsstatus.collect(defs, instance)
    outbox = _alert_outbox(settings)
    if as_json:
        emit_json({"environment": settings.environment, "tasks": [t.as_dict() for t in tasks], "alert_outbox": outbox})
    else:
        table = Table(title=f"CloudMake Ops ({settings.environment})")
        for column in ("task", "cadence", "on", "last run", "next run", "checks"):
            table.add_column(column, overflow="fold")
        for t in tasks:
            last = (f"{t.last_run['status']} {t.last_run['started_at'] or t.last_run['created_at']}"
                    + (f" ({t.last_run['note']})" if t.last_run["note"] else "")) if t.last_run else "never"
            table.add_row(t.name, t.cadence, "on" if t.enabled else "off", last, t.next_run or "-",
                          _check_summary(t.checks))
        print_table(table)
        if "unavailable" in outbox:
            click.echo(f"alert outbox: unavailable: {outbox['unavailable']}")
        else:
            oldest = f", oldest pending since {outbox['oldest_pending_at']}" if outbox["oldest_pending_at"] else ""
            click.echo(f"alert outbox: {outbox['pending']} undelivered ({outbox['overdue']} overdue){oldest}; "
                       f"{outbox['delivered']} delivered")
    bad = [t for t in tasks if (t.last_run and t.last_run["status"] == "FAILURE")
           or any(c["passed"] is False for c in t.checks)]
    if failing and (bad or outbox.get("overdue")):
        raise click.exceptions.Exit(1)
