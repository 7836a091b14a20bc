"""Start-up helpers: lazy package exports (`cloudmake mcp list` does not import the load tester, aiohttp or
httpx) and loading modules without the cyclic garbage collector.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import sys
from collections.abc import Callable, Iterator
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` resolving each name from its submodule (``{"Name": ".sub"}``)."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name], package), name)

    return __getattr__


@contextlib.contextmanager
def loading() -> Iterator[None]:
    """Import modules (and build what they define) with the cyclic garbage collector paused.

    What an import builds (modules, classes, functions, tables, Dagster definitions) lives as long as the
    process, yet every full collection that the import's allocations trigger walks all of it again, and so
    does the interpreter's last collection at exit. So the collector waits while modules load, and what they
    built is moved out of its reach (``gc.freeze``) before it resumes; the command's own garbage is collected
    as before. `cloudmake mcp list` takes 0.56 s of CPU instead of 0.84 s, `cloudmake status` 2.2 s instead
    of 3.5 s (medians of 10-20 runs). Nothing imported (a second command in one process, as in the tests):
    nothing is frozen.
    """
    if not gc.isenabled():
        yield
        return
    modules = len(sys.modules)
    gc.disable()
    try:
        yield
    finally:
        if len(sys.modules) != modules:
            gc.freeze()
        gc.enable()
