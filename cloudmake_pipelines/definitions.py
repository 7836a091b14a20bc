"""The one Definitions object of the code location. It collects; the modules it imports define.

Every module under ``assets/``, ``sensors/`` and ``jobs/`` exposes a ``defs``; they are merged here
with the shared resources.
"""

import importlib
import pkgutil
from types import ModuleType

import dagster as dg

from . import assets, jobs, sensors
from .resources import shared_resources


def _module_defs(package: ModuleType) -> list[dg.Definitions]:
    found = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if isinstance(getattr(module, "defs", None), dg.Definitions):
            found.append(module.defs)
    return found


defs = dg.Definitions.merge(
    *_module_defs(assets),
    *_module_defs(sensors),
    *_module_defs(jobs),
    dg.Definitions(resources=shared_resources()),
)
