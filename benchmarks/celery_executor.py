"""dagster-celery executor: the nightly load tests of 8 MCP servers on 1 worker vs 2, and its overhead per step.

    .venv/bin/python benchmarks/celery_executor.py [--servers 8] [--seconds 5] [--rate 20]

Needs RabbitMQ at 127.0.0.1:5672 (guest) and PostgreSQL at TEST_DATABASE_URL (Dagster's storage), like
tests/test_celery_executor.py, whose cluster it uses: real ``mcp`` SDK servers on 127.0.0.1, the nightly
schedule's runs (one per server), all admitted at once (an unlimited run queue), one process each. In one run:

1. wall time of the 8 load tests of ``--seconds`` each in process (``CLOUDMAKE_EXECUTOR=in_process``, all on
   this machine), on one Celery worker (``-c 1``: one core), then on two (two machines of one core each);
   wall is from the first run's start to the last run's end in the event log;
2. overhead per step: runs one at a time with a 0.5 s load test, (run duration - step duration) with the
   Celery executor (an idle worker) minus the same in process: hand-over through the broker, the worker's
   job load and the executor's 1 s polling tick.

On a machine whose cores other work shares, two one-core workers are two processes competing for the same
cores, not two machines: the ratio is a lower bound of what a second machine gives.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402

from tests.support.celery_cluster import Cluster, celery_cluster, finish  # noqa: E402
from tests.support.mcp_servers import Behaviour  # noqa: E402

PG = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def timings(cluster: Cluster, run_ids: list[str]) -> tuple[float, list[float], list[float]]:
    """Wall (first run start to last run end), and per run: run duration, step duration (seconds)."""
    starts, ends, runs, steps = [], [], [], []
    with cluster.instance() as instance:
        for run_id in run_ids:
            stamps = {}
            for entry in instance.all_logs(run_id):
                event = entry.dagster_event
                if event is not None:
                    stamps.setdefault(event.event_type, entry.timestamp)
            run_end = stamps.get(dg.DagsterEventType.RUN_SUCCESS) or stamps[dg.DagsterEventType.RUN_FAILURE]
            starts.append(stamps[dg.DagsterEventType.RUN_START])
            ends.append(run_end)
            runs.append(run_end - stamps[dg.DagsterEventType.RUN_START])
            steps.append(stamps[dg.DagsterEventType.STEP_SUCCESS] - stamps[dg.DagsterEventType.STEP_START])
    return max(ends) - min(starts), runs, steps


def phase(cluster: Cluster, label: str, seconds: float, rate: float, parallel: int = 0, **env: str):
    runs, output = finish(cluster.launch(seconds, rate, parallel=parallel, **env), timeout=900)
    assert runs and all(r["success"] for r in runs), f"{label}: {output[-3000:]}"
    wall, run_durations, step_durations = timings(cluster, [r["run_id"] for r in runs])
    print(f"{label:<34} {len(runs)} runs  wall {wall:7.2f} s  step mean {statistics.mean(step_durations):6.2f} s")
    return wall, run_durations, step_durations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=8, choices=range(1, 33), metavar="1..32")
    parser.add_argument("--seconds", type=float, default=5.0, help="each load test's duration (default 5)")
    parser.add_argument("--rate", type=float, default=20.0, help="requests/s per operation (default 20)")
    args = parser.parse_args()
    print(f"# machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (other work shares them)")
    print(f"# {args.servers} servers x {args.seconds:g} s load test at {args.rate:g} req/s per operation")
    servers = {f"mcp{i}": Behaviour() for i in range(args.servers)}
    with tempfile.TemporaryDirectory() as tmp, celery_cluster(Path(tmp), PG, servers) as (cluster, stack):
        in_process, _, _ = phase(cluster, "in process (this machine)", args.seconds, args.rate,
                                 CLOUDMAKE_EXECUTOR="in_process")
        cluster.start_worker("wa", stack)
        cluster.wait_ready()
        one, _, _ = phase(cluster, "celery, 1 worker x 1 process", args.seconds, args.rate)
        cluster.start_worker("wb", stack)
        cluster.wait_ready()
        two, _, _ = phase(cluster, "celery, 2 workers x 1 process", args.seconds, args.rate)
        print(f"ratio: wall 1 worker / 2 workers = {one / two:.2f}x; in process / 2 workers = {in_process / two:.2f}x")
        print("\n# overhead per step: runs one at a time, 0.5 s load test, (run - step) duration")
        _, runs_ip, steps_ip = phase(cluster, "in process", 0.5, args.rate, parallel=1, CLOUDMAKE_EXECUTOR="in_process")
        _, runs_c, steps_c = phase(cluster, "celery (idle workers)", 0.5, args.rate, parallel=1)
        outside_ip = statistics.mean(r - s for r, s in zip(runs_ip, steps_ip, strict=True))
        outside_c = statistics.mean(r - s for r, s in zip(runs_c, steps_c, strict=True))
        print(f"run time outside the step: in process {outside_ip:.2f} s, celery {outside_c:.2f} s: "
              f"executor overhead {outside_c - outside_ip:+.2f} s per step")


if __name__ == "__main__":
    main()
