"""Helpers every command uses: settings, logging set-up, JSON output, progress bars."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .. import logs
from ..settings import Settings, get_settings

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")


def setup(as_json: bool = False) -> Settings:
    """Validate settings and route Pino logs (stderr when stdout carries JSON)."""
    logs.configure(sys.stderr if as_json else sys.stdout)
    return get_settings()


def emit_json(value: Any) -> None:
    click.echo(logs.redactor(json.dumps(value, indent=2, default=str)))


def progress(*, enabled: bool = True) -> Progress:
    """A progress bar on stderr; silent when stderr is not a terminal or output is JSON."""
    console = Console(stderr=True)
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, disable=not enabled or not console.is_terminal,
                    transient=True)
