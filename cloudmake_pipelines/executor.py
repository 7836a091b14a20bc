"""Where the load-generating tasks' steps execute: in the run's process, or on dagster-celery workers.

``CLOUDMAKE_EXECUTOR`` (the one settings model) is the switch; :func:`load_executor` is what their jobs
use. With ``celery`` each step is a task on the ``CLOUDMAKE_CELERY_QUEUE`` queue of the broker at
``CLOUDMAKE_CELERY_BROKER_URL``: any worker listening there (``dagster-celery worker start -A
cloudmake_pipelines.worker``, same settings) runs it, against the same Dagster instance and platform
database, so results, checks and alerts are the in-process ones. Everything here is dagster-celery's
executor; this module only feeds it the settings and checks the broker before the first step is sent.

Two Celery settings make a killed worker safe: ``task_acks_late`` with ``task_reject_on_worker_lost``
puts a step whose worker died back on the queue (RabbitMQ requeues an unacknowledged message when the
worker's connection drops), and another worker runs it again under the same run id. The load test's
writes replace its run's rows and its alert key names the run, so nothing is written or sent twice.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from dagster._core.execution.retries import RetryMode, get_retries_config

from .errors import CloudMakeError, ConfigError
from .settings import Execution, get_settings

#: Celery settings of the runs and the workers: a step a worker dies in goes back on the queue; a worker
#: takes one message at a time.
CELERY_SETTINGS: dict[str, Any] = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
}
#: On RabbitMQ, dagster-celery publishes a step for queue Q with the routing key "Q.execute_plan" to the
#: exchange Celery creates for Q, which binds Q by the key "Q": a direct exchange would drop the step as
#: unroutable. A fanout exchange delivers it whatever the key, and the run declares queue and binding
#: before it publishes, so a step sent while no worker listens waits in the queue. (Redis routes by queue
#: name: there Celery's default is right, and a fanout would broadcast.)
AMQP_SETTINGS: dict[str, Any] = {"task_create_missing_queue_exchange_type": "fanout"}
#: dagster-celery's op tag naming a step's queue (``dagster_celery.tags.DAGSTER_CELERY_QUEUE_TAG``), spelled
#: here so that loading the definitions imports neither dagster-celery nor kombu in process (~0.1 s).
QUEUE_TAG = "dagster-celery/queue"


class BrokerUnavailable(CloudMakeError):
    """The broker did not answer: no step was sent, the run fails with this one line."""


def app_args(execution: Execution) -> dict[str, Any]:
    """dagster-celery's app arguments from the settings: the run's executor and the workers share them."""
    if execution.celery_broker_url is None:
        raise ConfigError("CLOUDMAKE_CELERY_BROKER_URL is not set: expected an amqp:// or redis:// broker URL "
                          "(CLOUDMAKE_EXECUTOR=celery sends steps through it)")
    broker = execution.celery_broker_url.reveal()
    amqp = broker.split(":", 1)[0] in ("amqp", "amqps", "pyamqp")
    default_backend = "rpc://" if amqp else broker  # rpc:// replies through RabbitMQ; Redis stores results itself
    backend = execution.celery_backend_url.reveal() if execution.celery_backend_url else default_backend
    return {"broker": broker, "backend": backend, "include": [],
            "config_source": {**CELERY_SETTINGS, **(AMQP_SETTINGS if amqp else {})}}


def broker_address(url: str) -> str:
    """``host:port`` of a broker URL: what an error may name (never the user or password)."""
    from kombu import Connection

    conn = Connection(url)
    return f"{conn.hostname}:{conn.port or conn.default_port}"


def check_broker(url: str, timeout: float = 5.0) -> None:
    """Connect once; a :class:`BrokerUnavailable` naming ``host:port`` and the reason if that fails."""
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:  # kombu's OperationalError and socket errors; their text holds no URL
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise BrokerUnavailable(
            f"Celery broker {broker_address(url)} is unreachable ({reason}): no step was sent; start the broker "
            "or fix CLOUDMAKE_CELERY_BROKER_URL, then re-execute the run") from None


def celery_executor() -> dg.ExecutorDefinition:
    """dagster-celery's executor configured from the settings when a run starts (nothing in run config,
    so the broker's password is never stored with a run). Dagster's step retry policy still applies."""
    from dagster_celery.executor import CeleryExecutor

    class CheckedCeleryExecutor(CeleryExecutor):
        """dagster-celery's executor, which first makes sure the broker answers (else one clear line)."""

        def execute(self, plan_context, execution_plan):
            try:
                check_broker(self.broker)
            except BrokerUnavailable as exc:
                plan_context.log.error(str(exc))
                raise
            yield from super().execute(plan_context, execution_plan)

    @dg.executor(name="celery", config_schema={"retries": get_retries_config()},
                 requirements=dg.multiple_process_executor_requirements())
    def celery(init_context: dg.InitExecutorContext) -> CeleryExecutor:
        return CheckedCeleryExecutor(retries=RetryMode.from_config(init_context.executor_config["retries"]),
                                     **app_args(get_settings().execution))

    return celery


def load_executor() -> dg.ExecutorDefinition:
    """The executor of a load-generating task's job: in process unless ``CLOUDMAKE_EXECUTOR=celery``.
    A celery executor without a broker URL stops the code location's load with a :class:`ConfigError`."""
    execution = get_settings().execution
    if execution.executor != "celery":
        return dg.in_process_executor
    app_args(execution)
    return celery_executor()


def load_queue_tags() -> dict[str, str]:
    """The op tags that route a load-generating step to the load queue (ignored in process)."""
    return {QUEUE_TAG: get_settings().execution.celery_queue}
