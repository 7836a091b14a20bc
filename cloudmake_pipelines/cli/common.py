"""Helpers every command uses: settings, logging set-up, JSON output, progress bars."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from .. import logs
from . import output

if TYPE_CHECKING:
    from rich.progress import Progress
from ..settings import Settings, get_settings

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
