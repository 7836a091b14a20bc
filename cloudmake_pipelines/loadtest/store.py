"""Persist a load test's rows into ``mcp_server_metrics``: one row per (server, operation) per run.

Writing is idempotent per run: a retried run replaces its own rows in one transaction, so a run killed
at any point and re-run leaves exactly one set of rows, never a half-written one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, delete, insert, select

from ..db.tables import mcp_server_metrics
from .runner import ServerResult


def rows_for(result: ServerResult, run_id: str) -> list[dict[str, Any]]:
    return [{"server_name": result.server, "operation": op["operation"], "p50_ms": op["p50_ms"],
             "p95_ms": op["p95_ms"], "p99_ms": op["p99_ms"], "error_rate": op["error_rate"],
             "request_count": op["requests"], "errors_by_kind": op["errors_by_kind"],
             "started_at": result.started_at, "duration_ms": result.duration_ms,
             "environment": result.environment, "run_id": run_id} for op in result.operations]


def save_result(engine: Engine, result: ServerResult, run_id: str) -> int:
    """Insert the result's rows for ``run_id`` (replacing any from an earlier attempt). Returns the count."""
    rows = rows_for(result, run_id)
    table = mcp_server_metrics
    with engine.begin() as conn:
        conn.execute(delete(table).where(table.c.server_name == result.server, table.c.run_id == run_id))
        if rows:
            conn.execute(insert(table), rows)
    return len(rows)


def recent_metrics(engine: Engine, server: str, limit: int = 50) -> list[dict[str, Any]]:
    """The latest rows for ``server``, newest first."""
    table = mcp_server_metrics
    query = (select(table).where(table.c.server_name == server)
             .order_by(table.c.started_at.desc(), table.c.operation).limit(limit))
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]
