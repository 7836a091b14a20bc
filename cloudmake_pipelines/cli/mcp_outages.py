"""`cloudmake mcp breaker set|list` and `cloudmake mcp outages`: circuit breakers and outages (seed task 2)."""

from __future__ import annotations

from datetime import timedelta

import click
from rich.table import Table
from sqlalchemy import Engine

from ..db import tables
from ..db.engine import make_engine
from ..db.helpers import require_tables
from ..db.types import utcnow
from ..mcp import Registry
from ..outages import BreakerStore, State
from ..outages.history import OutageHistory
from ..outages.model import format_duration
from .common import INT32_MAX, BoundedInt, Duration, emit_json, json_option, setup
from .output import print_table

#: What these commands read and write (migration 0004_mcp_outages).
OUTAGE_TABLES = (tables.mcp_breaker_states, tables.mcp_breaker_transitions, tables.mcp_outage_episodes,
                 tables.mcp_degradation_status)


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else ""


def _engine(database_url: str, *, create: bool = True) -> Engine:
    """A migrated database; ``create=False`` (read-only commands) never creates an empty SQLite file."""
    engine = make_engine(database_url, create=create)
    require_tables(engine, *OUTAGE_TABLES)
    return engine


@click.group("breaker")
def breaker() -> None:
    """Circuit breakers of MCP servers: force one to a state, list them."""


@breaker.command("set")
@click.argument("server")
@click.argument("state", type=click.Choice([s.value for s in State]))
@click.option("--failures", type=BoundedInt(0, INT32_MAX),
              help="Failure count to record (default: 0 when closing, else the current count).")
@click.option("--reason", default="set by operator", show_default=True, help="Why, for the transition log.")
@json_option
def set_state(server: str, state: str, failures: int | None, reason: str, as_json: bool) -> None:
    """Set SERVER's breaker to STATE (closed, open, half_open); the outage sensor sees the transition."""
    settings = setup(as_json)
    engine = _engine(settings.database_url)
    Registry(engine).get(server)  # an unknown name is a usage error (exit 2)
    store = BreakerStore(engine)
    current = store.status(server)
    if failures is None:
        failures = 0 if state == State.CLOSED else (current.failure_count if current else 0)
    transition = store.set_state(server, state, failure_count=failures, at=utcnow(), reason=reason, source="cli")
    if as_json:
        emit_json({"server": server, "state": state, "failure_count": failures, "changed": transition is not None,
                   "from_state": transition.from_state.value if transition else state,
                   "transition_id": transition.id if transition else None})
    elif transition is None:
        click.echo(f"{server}: already {state} (failure count {failures})")
    else:
        click.echo(f"{server}: {transition.from_state.value} -> {state} (failure count {failures}, "
                   f"transition {transition.id})")


@breaker.command("prune")
@click.option("--older-than", type=Duration(), default="30d", show_default=True,
              help="Delete transitions older than this (e.g. 30d); states and outage history stay.")
@json_option
def prune(older_than: timedelta, as_json: bool) -> None:
    """Delete old rows of the append-only breaker transition log (retention)."""
    if older_than < timedelta(days=1):
        raise click.BadParameter("expected at least 1d: the outage sensor must read a transition first",
                                 param_hint="--older-than")
    settings = setup(as_json)
    deleted = BreakerStore(_engine(settings.database_url)).prune(utcnow() - older_than)
    if as_json:
        emit_json({"deleted": deleted, "older_than_seconds": int(older_than.total_seconds())})
    else:
        click.echo(f"deleted {deleted} breaker transition(s) older than {format_duration(older_than)}")


@breaker.command("list")
@json_option
def list_states(as_json: bool) -> None:
    """Every breaker's current state, failure count and since when it is out of CLOSED."""
    settings = setup(as_json)
    snapshot = BreakerStore(_engine(settings.database_url, create=False)).snapshot()
    if as_json:
        emit_json([{"server": b.server, "state": b.state.value, "failure_count": b.failure_count,
                    "left_closed_at": b.left_closed_at, "updated_at": b.updated_at} for b in snapshot.breakers])
        return
    table = Table("server", "state", "failures", "out of CLOSED since", "updated")
    for b in snapshot.breakers:
        table.add_row(b.server, b.state.value, str(b.failure_count),
                      _when(b.left_closed_at), _when(b.updated_at))
    print_table(table)


@click.command("outages")
@click.option("--since", type=Duration(), default="24h", show_default=True,
              help="List outages resolved within this (e.g. 30m, 24h, 7d); ongoing ones are always listed.")
@click.option("--check", is_flag=True, help="Exit 1 when a server is degraded now.")
@json_option
def outages(since: timedelta, check: bool, as_json: bool) -> None:
    """Current and recent MCP outages with their durations, as the outage sensor recorded them."""
    settings = setup(as_json)
    history = OutageHistory(_engine(settings.database_url, create=False))
    now = utcnow()
    episodes = history.recent(now - since)
    guidance = {row["server_name"]: row["fallback"] for row in history.statuses(only_degraded=True)}
    degraded = [e for e in episodes if e.status == "degraded"]
    if as_json:
        emit_json({"as_of": now, "last_tick_at": history.last_tick_at(), "degraded": len(degraded), "outages": [
            {"server": e.server, "status": e.status, "breaker_state": e.breaker_state.value,
             "started_at": e.started_at, "ended_at": e.ended_at,
             "duration_seconds": round(e.degraded_for(now).total_seconds(), 1),
             "peak_failure_count": e.peak_failure_count, "reopened": e.reopen_count,
             "alerted": e.alerted_at is not None, "fallback": guidance.get(e.server)} for e in episodes]})
    elif not episodes:
        last = history.last_tick_at()
        click.echo(f"no MCP outage ongoing or resolved in the last {format_duration(since)}" + (
            "" if last else " (the mcp_outage_detector sensor has recorded no breaker activity yet)"))
    else:
        table = Table("server", "status", "breaker", "started", "duration", "failures", "reopened", "alerted",
                      "fallback")
        for e in episodes:
            table.add_row(e.server, e.status, e.breaker_state.value, _when(e.started_at),
                          format_duration(e.degraded_for(now)) + ("" if e.ended_at else " (ongoing)"),
                          str(e.peak_failure_count), str(e.reopen_count), "yes" if e.alerted_at else "no",
                          (guidance.get(e.server) or {}).get("summary", ""))
        print_table(table)
    if check and degraded:
        raise click.exceptions.Exit(1)


commands = [breaker, outages]
