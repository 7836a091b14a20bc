"""One module per task, named like its domain package: its assets, checks, schedules and asset jobs.

Each module exposes ``defs``; :mod:`cloudmake_pipelines.definitions` lists them. The helpers here are the one
way every task is wired: a job carries the ``task`` tag (dagster.yaml's run-queue limits key on it) and runs in
process; a seed task and its success criterion are tags, not prose; a :class:`CloudMakeError` becomes a
``dg.Failure`` with its message.
"""

from __future__ import annotations

import functools
import logging
import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import dagster as dg

from ..errors import CloudMakeError
from ..executor import load_executor, load_queue_tags
from ..logs import PinoFormatter

if TYPE_CHECKING:
    import pandas as pd

P = ParamSpec("P")
R = TypeVar("R")


def labels(task: str, seed_task: int, sc: str | None = None) -> dict[str, str]:
    """The tags of an asset or job: the run-queue ``task``, the source document's task number, its SC if any.

    Tags (not description prose) so the UI can filter on them and the inventory snapshot pins them.
    """
    return {"task": task, "seed_task": str(seed_task), **({"sc": sc} if sc else {})}


@dg.logger(
    config_schema={"log_level": dg.Field(
        dg.Enum("PinoLogLevel", [dg.EnumValue(level) for level in ("DEBUG", "INFO", "WARNING", "ERROR")]),
        default_value="DEBUG", description="DEBUG (the default) prints every run and step event, as the UI shows "
                                           "them; INFO and above leaves Dagster's DEBUG events out.")},
    description="Every run's log lines, once each, as Pino JSON lines on stderr (stdout carries results).")
def pino_console(init_context: dg.InitLoggerContext) -> logging.Logger:
    """Dagster's ``console`` logger, replaced: the run's events and the ``cloudmake`` loggers' records, as Pino lines.

    A fresh, unregistered :class:`logging.Logger` per run (Dagster's own console logger does the same), so two
    runs in one process never share handlers.
    """
    run_logger = logging.Logger("cloudmake.run", level=init_context.logger_config["log_level"])
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PinoFormatter())
    run_logger.addHandler(handler)
    return run_logger


#: The run config that names :func:`pino_console`. Dagster instantiates only the loggers a run's config
#: names, and otherwise its colored console logger (``create_log_manager``); ``Definitions(loggers=...)`` alone
#: is inactive (dagster-io/dagster#20084), and a job's ``config=`` default would bake the resources' configured
#: values into its schema, so ``execute_in_process(resources=...)`` would silently use the original ones. So
#: the runs the daemon launches carry it (:func:`run_request`, :func:`scheduled_asset_job`); a run launched by
#: hand (Launchpad, an asset's *Materialize*, ``dg launch``) logs through Dagster's colored console logger
#: unless its config names ``console``. Either way, each line once.
RUN_LOGGING: dict = {"loggers": {"console": {}}}
LOGGERS = {"console": pino_console}


def fails_clearly(fn: Callable[P, R]) -> Callable[P, R]:
    """A :class:`CloudMakeError` escaping ``fn`` (an asset, check or op body) becomes a ``dg.Failure``.

    The error's message already says what to do; as a Failure the UI shows it as the step's reason,
    without a traceback through our code. Anything else is a bug and keeps its traceback.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except CloudMakeError as exc:
            raise dg.Failure(str(exc), metadata={"error": type(exc).__name__}) from None

    return wrapper


def frame_table(frame: pd.DataFrame, digits: int = 1) -> dg.TableMetadataValue:
    """A DataFrame of numbers as a Dagster table (its index as the first, text column; NaN as empty)."""
    index = frame.index.name or "index"
    schema = dg.TableSchema(columns=[dg.TableColumn(index, "string"),
                                     *(dg.TableColumn(str(c), "float") for c in frame.columns)])
    records = [dg.TableRecord({index: str(key), **{str(c): None if math.isnan(v) else round(float(v), digits)
                                                   for c, v in zip(frame.columns, row, strict=True)}})
               for key, row in zip(frame.index, frame.itertuples(index=False), strict=True)]
    return dg.MetadataValue.table(records=records, schema=schema)


def task_job(name: str, assets: list, *, tags: dict[str, str], description: str,
             generates_load: bool = False) -> dg.UnresolvedAssetJobDefinition:
    """The job that materializes ``assets`` (with their checks): in process, with the task's :func:`labels`.

    In process because each step is seconds of subprocess start-up for milliseconds of work. A task whose
    steps generate load (seconds to minutes of one core each) says ``generates_load``: its job follows
    ``CLOUDMAKE_EXECUTOR`` (:mod:`cloudmake_pipelines.executor`), so with ``celery`` its steps run on the
    load queue's workers; its assets carry :func:`load_step_tags`. Partitions follow from the assets.
    """
    executor = load_executor() if generates_load else dg.in_process_executor
    return dg.define_asset_job(name, selection=dg.AssetSelection.assets(*assets), executor_def=executor,
                               tags=tags, description=description)


def run_request(**kwargs) -> dg.RunRequest:
    """A schedule's :class:`dg.RunRequest`, its run logging as Pino lines (:data:`RUN_LOGGING`)."""
    return dg.RunRequest(run_config=RUN_LOGGING, **kwargs)


def load_step_tags() -> dict[str, str]:
    """The op tags of a load-generating asset: with the Celery executor, its step goes to the load queue."""
    return load_queue_tags()


def scheduled_asset_job(job_name: str, assets: list, *, schedule_name: str, cron: str, tags: dict[str, str],
                        description: str, generates_load: bool = False,
                        ) -> tuple[dg.UnresolvedAssetJobDefinition, dg.ScheduleDefinition]:
    """:func:`task_job` (``generates_load`` passed on) and its UTC schedule, on by default."""
    job = task_job(job_name, assets, tags=tags, description=description, generates_load=generates_load)
    schedule = dg.ScheduleDefinition(name=schedule_name, job=job, cron_schedule=cron, execution_timezone="UTC",
                                     run_config=RUN_LOGGING,
                                     default_status=dg.DefaultScheduleStatus.RUNNING, description=description)
    return job, schedule
