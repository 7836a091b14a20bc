"""Past one machine: the nightly MCP load tests on dagster-celery workers, over the local RabbitMQ.

One cluster per module (tests/support/celery_cluster.py), as two machines would run it: the production
instance (PostgreSQL storage), one platform database, two ``dagster-celery worker start`` processes with
their own names on the cluster's own load queue, real ``mcp`` SDK servers on 127.0.0.1. Runs are the
nightly schedule's, one process each. Everything started here is stopped even when a test fails.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator

import dagster as dg
import pytest
from sqlalchemy import select

from cloudmake_pipelines.a11y import Target, TargetRegistry
from cloudmake_pipelines.assets.adminbench import ISOLATION_CHECK, SC004_CHECK
from cloudmake_pipelines.assets.loadtest import ALERT_CHECK, SC021_CHECK
from cloudmake_pipelines.db.tables import a11y_audits, admin_benchmark_results, alert_outbox
from cloudmake_pipelines.errors import ConfigError
from cloudmake_pipelines.executor import BrokerUnavailable, app_args, check_broker, load_executor
from cloudmake_pipelines.loadtest.store import recent_metrics
from cloudmake_pipelines.mcp import Registry
from cloudmake_pipelines.settings import get_settings, load_settings
from tests.support.celery_cluster import BROKER, ROOT, Cluster, celery_cluster, finish, step_history
from tests.support.mcp_servers import Behaviour
from tests.support.storybook import StaticStorybook, small
from tests.support.webhook import WebhookReceiver

DURATION, RATE = 3.0, 20.0  # each load test: 60 requests per operation over 3 s


def test_in_process_stays_the_default_and_celery_is_chosen_by_the_settings(monkeypatch):
    assert load_executor() is dg.in_process_executor
    monkeypatch.setenv("CLOUDMAKE_EXECUTOR", "celery")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="CLOUDMAKE_CELERY_BROKER_URL is not set"):
        load_executor()
    monkeypatch.setenv("CLOUDMAKE_CELERY_BROKER_URL", BROKER)
    get_settings.cache_clear()
    assert load_executor().name == "celery"


def test_in_process_definitions_load_without_dagster_celery_and_use_its_queue_tag():
    """The queue tag is dagster-celery's own constant, spelled in executor.py so that the in-process default
    (every code server, run worker and `dg launch`) does not import dagster-celery and kombu."""
    import subprocess
    import sys

    from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG

    from cloudmake_pipelines.executor import QUEUE_TAG

    assert QUEUE_TAG == DAGSTER_CELERY_QUEUE_TAG
    probe = ("import sys, cloudmake_pipelines.definitions; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dagster_celery', 'kombu', 'celery')))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDMAKE_")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(("broker", "exchange", "backend"), [
    (BROKER, "fanout", "rpc://"), ("redis://127.0.0.1:6379/0", None, "redis://127.0.0.1:6379/0")])
def test_steps_routed_by_queue_on_rabbitmq_and_redis(broker, exchange, backend):
    args = app_args(load_settings({"CLOUDMAKE_EXECUTOR": "celery", "CLOUDMAKE_CELERY_BROKER_URL": broker}).execution)
    assert args["config_source"].get("task_create_missing_queue_exchange_type") == exchange
    assert args["backend"] == backend
    assert args["config_source"]["task_acks_late"] and args["config_source"]["task_reject_on_worker_lost"]


def test_the_load_generating_steps_carry_the_load_queue_and_the_rest_stay_in_process():
    from cloudmake_pipelines.definitions import defs

    for job, asset in (("mcp_load_test_job", "mcp_server_metrics"), ("admin_benchmark_job", "admin_query_benchmark"),
                       ("accessibility_audit_job", "accessibility_audit")):
        assert defs.resolve_job_def(job).executor_def is dg.in_process_executor  # the default, unchanged
        for node in defs.resolve_job_def(job).nodes:  # the asset's step and its checks' steps, if apart
            assert node.tags["dagster-celery/queue"] == "cloudmake-load", (job, node.name)
        assert defs.resolve_assets_def(asset).op.tags["dagster-celery/queue"] == "cloudmake-load"
    assert defs.resolve_job_def("master_key_rotation_job").executor_def is dg.in_process_executor


@pytest.fixture(scope="module")
def cluster(pg_server_url, tmp_path_factory) -> Iterator[Cluster]:
    """Four servers (the last answers prompts/list with errors: it alerts) and two workers, wa and wb."""
    try:
        check_broker(BROKER)
    except BrokerUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc}; CI=true requires RabbitMQ")
        pytest.skip(str(exc))
    servers = {f"mcp{i}": Behaviour() for i in range(3)} | {"mcp3": Behaviour(error_methods=frozenset({"prompts/list"}))}
    with celery_cluster(tmp_path_factory.mktemp("celery"), pg_server_url, servers) as (cluster, stack):
        for worker in ("wa", "wb"):  # two machines: their own names, one process per core (-c 1 here)
            cluster.start_worker(worker, stack)
        cluster.wait_ready()
        yield cluster


def test_nightly_load_tests_fan_out_over_two_workers_with_in_process_results(cluster):
    runs, output = finish(cluster.launch(DURATION, RATE))
    assert len(runs) == 4, output[-3000:]
    assert all(r["success"] for r in runs), output[-3000:]
    host = socket.gethostname()
    spans: dict[str, tuple[str, float, float]] = {}
    with cluster.instance() as instance:
        for run in runs:
            history = step_history(instance, run["run_id"])
            kinds = [what for what, _, _ in history]
            assert kinds == ["worker", "STEP_START", "STEP_SUCCESS"], history
            spans[run["partition"]] = (history[0][2], history[1][1], history[2][1])
            checks = {e.check_name: e for e in (entry.dagster_event.event_specific_data for entry in
                      instance.all_logs(run["run_id"], of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION))}
            erroring = run["partition"] == "mcp3"
            assert checks[SC021_CHECK].passed
            assert checks[ALERT_CHECK].passed is not erroring
            rows = recent_metrics(cluster.engine, run["partition"])
            assert len(rows) == 3 and {r["run_id"] for r in rows} == {run["run_id"]}
    assert {worker for worker, _, _ in spans.values()} == {f"wa@{host}", f"wb@{host}"}
    overlapping = [(a, b) for a in spans for b in spans if a < b and spans[a][0] != spans[b][0]
                   and spans[a][1] < spans[b][2] and spans[b][1] < spans[a][2]]
    assert overlapping, f"no two steps on different workers overlapped in time: {spans}"
    with cluster.engine.connect() as conn:
        alerts = conn.execute(select(alert_outbox.c.alert_key)).scalars().all()
    run_of = {r["partition"]: r["run_id"] for r in runs}
    assert alerts == [f"mcp_load_test:mcp3:{run_of['mcp3']}"]  # one alert, for the erroring server's run


def test_inspect_active_lists_the_workers_that_answer(cluster):
    """deploy/README.md's `celery -A cloudmake_pipelines.worker inspect active` with workers up: each answers,
    exit 0 (none answering: tests/test_deploy_readme.py). Asked by name: a broadcast reaches any worker on the
    broker's vhost, also those of other tests."""
    import subprocess

    names = [f"{worker}@{socket.gethostname()}" for worker in ("wa", "wb")]
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "celery"), "-A", "cloudmake_pipelines.worker", "inspect",
                           "active", "-d", ",".join(names)], env=cluster.env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert all(f"{name}: OK" in done.stdout for name in names), done.stdout


def test_a_worker_killed_mid_step_hands_the_step_to_the_other_once(cluster):
    registry = Registry(cluster.engine)
    for name in ("mcp0", "mcp1", "mcp2"):  # one run: the erroring server's, which alerts
        registry.set_enabled(name, False)
    with cluster.instance() as instance:
        earlier = {run.run_id for run in instance.get_runs()}
    launched = cluster.launch(DURATION, RATE)
    killed = None
    try:
        with cluster.instance() as instance:
            deadline = time.monotonic() + 60
            while killed is None and time.monotonic() < deadline:
                for run in (r for r in instance.get_runs(limit=1) if r.run_id not in earlier):
                    history = step_history(instance, run.run_id)
                    if [w for w in history if w[0] == "STEP_START"] and time.time() - history[-1][1] > 1.0:
                        killed = history[0][2].split("@")[0]  # 1 s into the load test
                time.sleep(0.2)
            assert killed, "the step never started"
            os.killpg(cluster.workers[killed].pid, signal.SIGKILL)  # the whole worker machine, no goodbye
        runs, output = finish(launched)
    finally:
        for name in ("mcp0", "mcp1", "mcp2"):
            registry.set_enabled(name, True)
    assert len(runs) == 1 and runs[0]["success"], output[-3000:]
    host = socket.gethostname()
    survivor = ({"wa", "wb"} - {killed}).pop()
    with cluster.instance() as instance:
        history = step_history(instance, runs[0]["run_id"])
    assert [(w, d) for w, _, d in history if w == "worker"] == [("worker", f"{killed}@{host}"),
                                                                ("worker", f"{survivor}@{host}")]
    assert [w for w, _, _ in history][-1] == "STEP_SUCCESS"
    rows = recent_metrics(cluster.engine, "mcp3")
    assert len([r for r in rows if r["run_id"] == runs[0]["run_id"]]) == 3  # written once, by the survivor
    with cluster.engine.connect() as conn:
        keys = conn.execute(select(alert_outbox.c.alert_key)).scalars().all()
    assert keys.count(f"mcp_load_test:mcp3:{runs[0]['run_id']}") == 1


def test_a_broker_down_at_launch_fails_the_run_naming_host_and_port_never_the_password(cluster):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens there
    registry = Registry(cluster.engine)
    for name in ("mcp1", "mcp2", "mcp3"):
        registry.set_enabled(name, False)
    password = "s3cr3t-broker-pw"  # secretscan:allow
    broker = f"amqp://cm:{password}@127.0.0.1:{port}//"  # secretscan:allow
    try:
        runs, output = finish(cluster.launch(DURATION, RATE, CLOUDMAKE_CELERY_BROKER_URL=broker))
    finally:
        for name in ("mcp1", "mcp2", "mcp3"):
            registry.set_enabled(name, True)
    assert len(runs) == 1 and not runs[0]["success"], output[-3000:]
    with cluster.instance() as instance:
        run = instance.get_run_by_id(runs[0]["run_id"])
        assert run.status == dg.DagsterRunStatus.FAILURE  # recorded with its reason, not lost
        texts = [entry.message + json.dumps(str(entry.dagster_event)) for entry in instance.all_logs(run.run_id)]
    reason = f"Celery broker 127.0.0.1:{port} is unreachable"
    assert any(reason in text for text in texts), texts
    assert not any(password in text for text in texts) and password not in output
    assert recent_metrics(cluster.engine, "mcp0") == [] or all(
        r["run_id"] != run.run_id for r in recent_metrics(cluster.engine, "mcp0"))


def test_the_accessibility_audit_runs_on_a_worker_with_in_process_results(cluster, chromium, tmp_path):
    """The nightly audit's steps (the audit, its two checks) on the workers: as tests/test_a11y_dagster.py in
    process, the first audit of the small Storybook fails SC-003 (one low-contrast story), is the baseline
    (no new violations) and alerts once; the audit row and the alert's outbox key name the run."""
    with StaticStorybook(small(tmp_path / "ds")) as storybook, WebhookReceiver() as webhook:
        TargetRegistry(cluster.engine).add(Target("ds", f"{storybook.url}/"))
        run_config = {"resources": {
            "a11y": {"config": {"threshold_percent": "98", "contexts": "2", "page_timeout_seconds": "20",
                                "chromium": chromium, "report_dir": str(tmp_path / "reports")}},
            "alerts": {"config": {"webhook_url": webhook.url_for()}}}}
        runs, output = finish(cluster.launch_job("accessibility_audit_job", run_config), timeout=150)
        assert len(runs) == 1 and not runs[0]["success"], output[-3000:]  # the blocking SC-003 check failed
        run_id = runs[0]["run_id"]
        alerts = webhook.wait_for(1)
    host = socket.gethostname()
    with cluster.instance() as instance:
        steps = {e.step_key for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)}
        assert len(steps) == 3, steps  # the audit and its two checks
        for step in steps:
            history = step_history(instance, run_id, step)
            assert [w for w, _, _ in history][:2] == ["worker", "STEP_START"], (step, history)
            assert history[0][2] in (f"wa@{host}", f"wb@{host}")
        checks = {e.check_name: e for e in (entry.dagster_event.event_specific_data for entry in
                  instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION))}
        metadata = next(entry.asset_materialization.metadata for entry in instance.all_logs(
            run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION))
    assert not checks["sc_003_aa_compliance"].passed and checks["no_new_a11y_violations"].passed
    assert checks["sc_003_aa_compliance"].metadata["failing"].value.startswith("ds (9")
    assert 90 < metadata["compliance_percent"].value < 98 and metadata["ds/violations"].value == 1
    assert [(r.data["component"], r.data["violations"]) for r in metadata["worst_components"].records] == [("Card", 1)]
    assert metadata["ds/report"].value.startswith(str(tmp_path / "reports" / "ds"))
    assert [a["key"] for a in alerts] == ["a11y:ds"] and alerts[0]["details"]["components"] == ["Card"]
    with cluster.engine.connect() as conn:
        assert conn.execute(select(a11y_audits.c.run_key)).scalars().all() == [run_id]
        keys = conn.execute(select(alert_outbox.c.idempotency_key).where(alert_outbox.c.task == "accessibility_audit"))
        assert keys.scalars().all() == [f"a11y:ds:{run_id}"]


def test_the_admin_benchmark_runs_on_a_worker_under_rls(cluster, pg_engine, pg_url):
    """The on-demand SC-004 benchmark (synthetic, small) as a Celery step: a worker times the admin queries as
    the platform-admin role with row-level security in force, stores them under the run, and both blocking
    checks (p95 and tenant isolation) evaluate as in process."""
    config = {"iterations": 20, "warmup": 2, "synthetic": True, "users": 2_000, "audit_logs": 5_000,
              "sessions": 2_000, "tenants": 10, "threshold_ms": 10_000.0}
    # Row-level security needs PostgreSQL: a migrated platform database of its own (the cluster's is SQLite).
    run_config = {"ops": {"admin_query_benchmark": {"config": config}},
                  "resources": {"database": {"config": {"url": pg_url}}}}
    runs, output = finish(cluster.launch_job("admin_benchmark_job", run_config), timeout=150)
    assert len(runs) == 1 and runs[0]["success"], output[-3000:]
    run_id = runs[0]["run_id"]
    host = socket.gethostname()
    with cluster.instance() as instance:
        steps = {e.step_key for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)}
        assert steps == {"admin_query_benchmark"}, steps  # its checks are results of the one step
        history = step_history(instance, run_id, "admin_query_benchmark")
        assert [w for w, _, _ in history][:2] == ["worker", "STEP_START"] and history[0][2] in (f"wa@{host}",
                                                                                               f"wb@{host}")
        checks = {e.check_name: e.passed for e in (entry.dagster_event.event_specific_data for entry in
                  instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION))}
    assert checks == {SC004_CHECK: True, ISOLATION_CHECK: True}, checks
    with pg_engine.connect() as conn:
        rows = conn.execute(select(admin_benchmark_results.c.query, admin_benchmark_results.c.dataset).where(
            admin_benchmark_results.c.run_id == run_id)).all()
    assert len(rows) >= 3 and {dataset for _, dataset in rows} == {"synthetic"}, rows


def test_the_worker_unit_starts_the_worker_these_tests_start():
    unit = (ROOT / "deploy" / "systemd" / "cloudmake-celery-worker@.service").read_text()
    start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert "dagster-celery worker start -A cloudmake_pipelines.worker -q" in start
    assert '-- -c "$$(nproc)"' in start and "EnvironmentFile=/etc/cloudmake/pipelines.env" in unit
