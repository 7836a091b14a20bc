"""Where a command's output goes: the result on stdout, log lines on stderr, tables that fit the terminal.

Logs are Pino JSON lines when stderr is not a terminal (CI, pipes, log shippers) and a pino-pretty-like line
for a person at a terminal; ``cloudmake --log-format json|pretty`` overrides the choice.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from .. import logs

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

LOG_FORMATS = ("auto", "json", "pretty")
_log_format = "auto"
#: Piped output is not wrapped: a consumer (grep, a CI log) gets whole rows.
PIPED_WIDTH = 100_000


def set_log_format(name: str) -> None:
    global _log_format
    _log_format = name


def configure_logs() -> None:
    """Route ``cloudmake`` logs to stderr, JSON or pretty (see the module docstring)."""
    pretty = _log_format == "pretty" or (_log_format == "auto" and sys.stderr.isatty())
    logs.configure(sys.stderr, formatter=logs.PrettyFormatter() if pretty else logs.PinoFormatter())


def console() -> Console:
    """A stdout console as wide as the terminal; unbounded when stdout is a pipe or file."""
    from rich.console import Console

    terminal = Console()
    return terminal if terminal.is_terminal else Console(width=PIPED_WIDTH)


def print_table(table: Table) -> None:
    """Print ``table`` fitted to the terminal: long cells (URLs, check lists) fold onto more lines instead of
    being cut to an ellipsis."""
    for column in table.columns:
        column.overflow = "fold"
    console().print(table)
