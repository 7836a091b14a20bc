"""Seed task 9 in Dagster: the migration runner as a job, launchable from the UI and `dagster job execute`."""

import dagster as dg

from ..assets import labels
from ..db import migrate
from ..resources import DatabaseResource


@dg.op(description="Apply pending Alembic migrations (idempotent, lock-protected).")
def apply_migrations(context: dg.OpExecutionContext, database: DatabaseResource) -> dg.Output:
    result = migrate.upgrade(database.get_engine())
    for entry in result.applied:
        context.log.info(f"applied {entry['file']} in {entry['duration_ms']} ms")
    return dg.Output(
        [entry["revision"] for entry in result.applied],
        metadata={
            "applied": len(result.applied),
            "files": ", ".join(entry["file"] for entry in result.applied) or "none",
            "heads": ", ".join(result.status.heads),
            "duration_ms": result.duration_ms,
        },
    )


@dg.job(description="Apply pending database migrations (on demand and before deployments).",
        tags=labels("migrations", 9), executor_def=dg.in_process_executor)
def migrations_job():
    apply_migrations()


defs = dg.Definitions(jobs=[migrations_job])
