"""A server's recent load tests as a pandas DataFrame: one row per run, one p95 column per operation.

Why pandas: the run x operation pivot is one call, and the asset shows the frame as a table, so the trend
of the last nights is visible in one place — including runs started from the CLI (``cloudmake mcp
loadtest``), which leave rows but no Dagster materialization to plot. pandas is imported on first use: it
costs about half a second, which loading the code location should not pay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Engine, select

from ..db.tables import mcp_server_metrics

if TYPE_CHECKING:
    import pandas as pd

#: How many of the latest runs the history shows (two weeks of nightly runs).
RUNS = 14


def p95_history(engine: Engine, server: str, runs: int = RUNS) -> pd.DataFrame:
    """p95 in ms, newest run first, indexed by the run's start; an operation that never answered in a
    run is NaN (its error rate says why). Empty when the server has no rows."""
    import pandas as pd

    t = mcp_server_metrics
    latest = (select(t.c.started_at).where(t.c.server_name == server).distinct()
              .order_by(t.c.started_at.desc()).limit(runs).subquery())
    query = select(t.c.started_at, t.c.operation, t.c.p95_ms).where(
        t.c.server_name == server, t.c.started_at.in_(select(latest.c.started_at)))
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).mappings().all(), columns=["started_at", "operation", "p95_ms"])
    frame["p95_ms"] = frame["p95_ms"].astype("float64")
    table = frame.pivot_table(index="started_at", columns="operation", values="p95_ms", aggfunc="max", dropna=False)
    return table.sort_index(ascending=False).rename_axis(columns=None)
