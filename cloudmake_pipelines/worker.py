"""The Celery app of a dagster-celery worker: ``dagster-celery worker start -A cloudmake_pipelines.worker``.

Built from the same settings as the runs' executor (:func:`cloudmake_pipelines.executor.app_args`), so the
broker URL comes from ``CLOUDMAKE_CELERY_BROKER_URL`` and never sits in a config file. The task is
dagster-celery's own: it loads the step's job from this code location and executes the step against the
Dagster instance the run names.
"""

import sys

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from . import definitions  # noqa: F401  loaded once here, inherited by every pool process: no import per step
from .errors import ConfigError
from .executor import app_args
from .settings import get_settings

try:
    app = make_app(app_args(get_settings().execution))
except ConfigError as exc:  # `celery -A ...` would print it under a traceback of its own app loading
    print(f"error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
execute_plan = create_task(app)
