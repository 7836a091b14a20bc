"""`cloudmake`: every task's manual trigger, running the same domain code as Dagster.

Exit codes: 0 ok, 1 findings or a failed check, 2 usage or configuration error. Results go to stdout;
log lines go to stderr (Pino JSON, or a readable form at a terminal: ``--log-format``).

Sub-command groups are imported lazily (``COMMANDS``), so `cloudmake secrets scan` in a pre-commit hook
does not pay for importing Dagster or the MCP SDK.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings

import click

from ..errors import CloudMakeError
from ..lazy import loading
from ..logs import redactor
from . import output

#: command name -> ("module:attribute" under cloudmake_pipelines.cli, one-line help for `cloudmake --help`)
COMMANDS = {
    "db": ("db:group", "Migrations (seed task 9) and the admin query benchmark (task 10)."),
    "mcp": ("mcp:group", "MCP servers: registry, load tests (task 1), breakers and outages (task 2)."),
    "drift": ("drift:group", "Spec drift detection (task 3, SC-008)."),
    "previews": ("previews:group", "Preview environment archival (task 4)."),
    "keys": ("keys:group", "JWT signing-key and master-key rotation, keyring secrets (tasks 5, 6)."),
    "secrets": ("secrets:group", "Secret scanning for pre-commit and CI (task 7)."),
    "github": ("github:group", "GitHub secrets sync (task 8)."),
    "tokens": ("tokens:group", "Design-token propagation from commit to apps (SC-002 ≤ 5 min)."),
    "a11y": ("a11y:group", "Accessibility audits of design systems (SC-003 ≥ 98 % AA compliance)."),
    "quota": ("quota:group", "Rate-limit quota monitoring: frequently exhausted buckets, events, retention."),
    "alerts": ("alerts:group", "The alert outbox: pending alerts, retry delivery now."),
    "status": ("status:command", "Every scheduled task: cadence, on/off, last and next run, checks."),
    "demo": ("demo:group", "A demo MCP server and sample previews for a first run (dev only)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._spec_exists(name))

    @staticmethod
    def _spec_exists(name: str) -> bool:
        return importlib.util.find_spec(f"{__name__}.{COMMANDS[name][0].split(':')[0]}") is not None

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS or not self._spec_exists(name):
            return None
        module_name, attribute = COMMANDS[name][0].split(":")
        with loading():
            return getattr(importlib.import_module(f"{__name__}.{module_name}"), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List commands from COMMANDS without importing them (keeps `cloudmake --help` instant)."""
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cloudmake-pipelines")
@click.option("--log-format", type=click.Choice(output.LOG_FORMATS), default="auto", show_default=True,
              help="Log lines on stderr: Pino JSON, or readable (auto: readable at a terminal, JSON otherwise).")
def cli(log_format: str) -> None:
    """CloudMake Pipelines: manual triggers for CloudMake's scheduled operations.

    Exit codes: 0 ok, 1 findings or failed check, 2 usage or configuration error.
    """
    output.set_log_format(log_format)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps domain errors to exit codes, never printing a secret."""
    # Dagster's beta/preview notices concern our definitions, not the operator running a command.
    warnings.filterwarnings("ignore", message=r".*is currently in (beta|preview)")
    try:
        code = cli.main(args=argv, prog_name="cloudmake", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except CloudMakeError as exc:
        click.echo(f"error: {redactor(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
