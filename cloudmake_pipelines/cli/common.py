"""Helpers every command uses: settings, logging set-up, JSON output, progress bars."""

from __future__ import annotations

import json
import math
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from .. import logs
from . import output

if TYPE_CHECKING:
    from rich.progress import Progress
from ..settings import Settings, get_settings

#: The largest value a 32-bit INTEGER column (counts stored in the database) can hold.
INT32_MAX = 2**31 - 1


class FiniteFloat(click.FloatRange):
    """A float within [min, max] that is finite: NaN passes every ``<``/``>`` check of a plain FloatRange
    (and would, say, switch a threshold off), and 1e400 parses as infinity."""

    name = "number"

    def __init__(self, min: float, max: float, *, min_open: bool = False, max_open: bool = False):
        super().__init__(min, max, min_open=min_open, max_open=max_open)

    def convert(self, value, param, ctx) -> float:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number (expected {self._describe_range()})", param, ctx)
        return super().convert(number, param, ctx)


class BoundedInt(click.IntRange):
    """An integer within [min, max], both required: Python parses 99999999999999999999 happily, the
    database (or timedelta) does not."""

    name = "integer"

    def __init__(self, min: int, max: int):
        super().__init__(min, max)


class Duration(click.ParamType):
    """A duration such as 90s, 30m, 24h or 7d, within [min, max] (checked before building a timedelta,
    which overflows past 999999999 days)."""

    name = "duration"
    UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def __init__(self, min: timedelta = timedelta(0), max: timedelta = timedelta(days=3650)):
        self.min, self.max = min, max

    def convert(self, value, param, ctx) -> timedelta:
        if isinstance(value, timedelta):
            return value
        match = re.fullmatch(r"(\d+)([smhd])", str(value).strip())
        if not match:
            self.fail(f"{value!r}: expected a number and a unit, e.g. 90s, 30m, 24h, 7d", param, ctx)
        seconds = int(match[1]) * self.UNITS[match[2]]
        if not self.min.total_seconds() <= seconds <= self.max.total_seconds():
            self.fail(f"{value!r} is not between {self._short(self.min)} and {self._short(self.max)}", param, ctx)
        return timedelta(seconds=seconds)

    @classmethod
    def _short(cls, delta: timedelta) -> str:
        seconds = int(delta.total_seconds())
        unit = next(u for u in "dhms" if seconds % cls.UNITS[u] == 0)
        return f"{seconds // cls.UNITS[unit]}{unit}"


json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")


def setup(as_json: bool = False) -> Settings:
    """Validate settings and route logs to stderr (stdout carries only the result; see output.py)."""
    output.configure_logs()
    return get_settings()


def emit_json(value: Any) -> None:
    click.echo(logs.redactor(json.dumps(value, indent=2, default=str)))


def progress(*, enabled: bool = True) -> Progress:
    """A progress bar on stderr; silent when stderr is not a terminal or output is JSON."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, disable=not enabled or not console.is_terminal,
                    transient=True)
