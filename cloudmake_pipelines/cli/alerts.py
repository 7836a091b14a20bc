"""`cloudmake alerts`: the alert outbox for operators: what is pending, and "retry now"."""

from __future__ import annotations

from datetime import timedelta

import click
from rich.table import Table

from ..alerts import Alerter, outbox_rows, outbox_status, retry_now
from ..db.engine import make_engine
from ..db.helpers import require_tables
from ..db.tables import alert_outbox
from ..db.types import utcnow
from .common import BoundedInt, emit_json, json_option, setup
from .output import print_table


def _engine(settings):
    engine = make_engine(settings.database_url, create=False)
    require_tables(engine, alert_outbox)
    return engine


def _iso(value) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


@click.group("alerts")
def group() -> None:
    """The alert outbox: every alert, stored before delivery and retried until the webhook accepts it."""


@group.command("list")
@json_option
@click.option("--pending", is_flag=True, help="Only alerts the webhook has not accepted yet.")
@click.option("--limit", type=BoundedInt(1, 10_000), default=50, show_default=True, help="Newest rows shown.")
def list_(as_json: bool, pending: bool, limit: int) -> None:
    """The newest alerts with their delivery state. Exit 1 when one is overdue (ALERT_OVERDUE_MINUTES)."""
    settings = setup(as_json)
    engine = _engine(settings)
    rows = [{**r, **{k: _iso(r[k]) for k in ("created_at", "next_attempt_at", "delivered_at")}}
            for r in outbox_rows(engine, pending_only=pending, limit=limit)]
    status = outbox_status(engine, utcnow(), timedelta(minutes=settings.alerts.overdue_minutes))
    if as_json:
        emit_json({"outbox": status.as_dict(), "alerts": rows})
    else:
        table = Table(title=f"alert outbox: {status.pending} pending, {status.overdue} overdue")
        for column in ("idempotency key", "task", "created", "attempts", "state", "last error"):
            table.add_column(column, overflow="fold")
        for r in rows:
            state = f"delivered {r['delivered_at']}" if r["delivered_at"] else f"pending, next {r['next_attempt_at'] or 'now'}"
            table.add_row(r["idempotency_key"], r["task"], r["created_at"], str(r["attempts"]), state,
                          r["last_error"] or "")
        print_table(table)
    if status.overdue:
        raise click.exceptions.Exit(1)


@group.command("retry")
@json_option
def retry(as_json: bool) -> None:
    """Deliver every pending alert now instead of at its next attempt. Exit 1 when some are still pending."""
    settings = setup(as_json)
    engine = _engine(settings)
    due = retry_now(engine)
    delivered, failed = Alerter(settings.alert_webhook_url, engine=engine, attempts=1).deliver_due(limit=10_000)
    if as_json:
        emit_json({"pending": due, "delivered": delivered, "failed": failed})
    else:
        click.echo(f"{due} pending: {delivered} delivered, {failed} still failing")
    if failed:
        raise click.exceptions.Exit(1)
