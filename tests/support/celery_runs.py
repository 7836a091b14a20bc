"""Launch the nightly load-test runs of the MCP servers the way the daemon's run workers would.

``python -m tests.support.celery_runs DURATION RATE [PARALLEL]`` (environment: DAGSTER_HOME, DATABASE_URL and the
CLOUDMAKE_* executor settings) evaluates the ``mcp_load_test_nightly`` schedule, then executes each of its
run requests (one ``mcp_load_test_job`` run per enabled server's partition), PARALLEL at a time (default
all at once, as an unlimited run queue would admit them), each in its own
process as the daemon's run launcher would start it, but forked from this one instead of started afresh
(seconds of imports each on a loaded machine). Prints one JSON line per run: partition, run id, success.

``python -m tests.support.celery_runs --job JOB RUN_CONFIG_JSON`` executes one run of JOB (unpartitioned,
e.g. ``accessibility_audit_job``) with that run config, and prints its line (partition null).
"""

from __future__ import annotations

import json
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository

from cloudmake_pipelines.assets.loadtest import mcp_load_test_nightly
from cloudmake_pipelines.resources import DatabaseResource


def run(partition: str | None, tags: dict[str, str], run_config: dict, job_name: str = "mcp_load_test_job") -> dict:
    job = ReconstructableRepository.for_module("cloudmake_pipelines.definitions", "defs").get_reconstructable_job(
        job_name)
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(job, instance, run_config=run_config,
                                tags={**tags, **({"dagster/partition": partition} if partition else {})})
        return {"partition": partition, "run_id": result.run_id, "success": result.success}


def main(duration: float, rate: float, parallel: int = 0) -> int:
    run_config = {"ops": {"mcp_server_metrics": {"config": {"duration_seconds": duration, "rate_per_second": rate}}}}
    with dg.DagsterInstance.get() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=datetime.now(UTC),
                                            resources={"database": DatabaseResource.from_env()})
        requests = mcp_load_test_nightly(context)
    assert isinstance(requests, list), requests
    with ProcessPoolExecutor(parallel or len(requests), mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(run, r.partition_key, dict(r.tags), run_config) for r in requests]
        for future in futures:
            print(json.dumps(future.result()), flush=True)
    return 0


if __name__ == "__main__" and sys.argv[1] == "--job":
    print(json.dumps(run(None, {}, json.loads(sys.argv[3]), sys.argv[2])), flush=True)
elif __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 0))
