"""The load-test history as a DataFrame (pandas), and as the asset's table metadata."""

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from cloudmake_pipelines.assets import frame_table
from cloudmake_pipelines.db.tables import mcp_server_metrics
from cloudmake_pipelines.loadtest.history import p95_history

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


def _row(server, night, operation, p95):
    return {"server_name": server, "operation": operation, "p50_ms": p95, "p95_ms": p95, "p99_ms": p95,
            "error_rate": 0.0 if p95 is not None else 1.0, "request_count": 10, "errors_by_kind": {},
            "started_at": T0 + timedelta(days=night), "duration_ms": 1000.0, "environment": "dev",
            "run_id": f"run-{night}"}


def test_history_is_one_row_per_run_newest_first_limited_to_the_latest_runs(engine):
    rows = [_row("docs", night, op, 100.0 + night) for night in range(4) for op in ("tools/list", "prompts/list")]
    rows[-1]["p95_ms"] = None  # prompts/list never answered in the last run
    rows.append(_row("other", 3, "tools/list", 999.0))
    with engine.begin() as conn:
        conn.execute(insert(mcp_server_metrics), rows)
    frame = p95_history(engine, "docs", runs=3)
    assert list(frame.columns) == ["prompts/list", "tools/list"]
    assert [ts.day for ts in frame.index] == [4, 3, 2]  # nights 3, 2, 1; night 0 is beyond the 3 latest runs
    assert frame["tools/list"].tolist() == [103.0, 102.0, 101.0]
    assert math.isnan(frame["prompts/list"].iloc[0]) and frame["prompts/list"].iloc[1] == 102.0
    table = frame_table(frame)
    assert [c.name for c in table.schema.columns] == ["started_at", "prompts/list", "tools/list"]
    assert table.records[0].data["prompts/list"] is None and table.records[0].data["tools/list"] == 103.0
    assert p95_history(engine, "nobody").empty
