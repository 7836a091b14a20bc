"""`cloudmake drift`: spec drift detection (seed task 3, SC-008) for CI and by hand."""

from __future__ import annotations

from pathlib import Path

import click

from ..drift import run_check
from ..drift.check import scaffold_entities
from ..drift.comment import pull_request_from_env
from ..drift.report import RENDERERS
from ..drift.workflow import comment_on_pull_request
from ..github.client import GitHubError
from ..logs import redactor
from .common import json_option, setup


@click.group("drift")
def group() -> None:
    """Spec drift: compare the spec-kit spec (specs/NNN-feature/) with the code."""


@group.command("check")
@click.option("--target", type=click.Path(path_type=Path, file_okay=False), default=Path("."),
              show_default=True, help="The repository to check (holds specs/ and optionally drift.yaml).")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="A drift config file other than TARGET/drift.yaml.")
@click.option("--format", "output_format", type=click.Choice(sorted(RENDERERS)), default="text",
              show_default=True, help="How to print the report on stdout.")
@json_option
def check(target: Path, config_path: Path | None, output_format: str, as_json: bool) -> None:
    """Check TARGET for drift between its spec and its code.

    Exit codes: 0 no drift (accepted drift does not count), 1 drift, 2 usage or spec error (the
    message names the file and line). Inside GitHub Actions on a pull request, the result is also
    kept in one sticky PR comment (needs GITHUB_TOKEN with pull-requests: write).
    """
    output_format = "json" if as_json else output_format
    settings = setup(as_json=output_format != "text")  # json/markdown on stdout: logs go to stderr
    report = run_check(target, config_path=config_path)
    click.echo(RENDERERS[output_format](report))
    pr = pull_request_from_env()
    if pr is not None:
        token = settings.credential("GITHUB_TOKEN")
        if token is None:
            click.echo("warning: on a pull request but GITHUB_TOKEN is not set: no PR comment written", err=True)
        else:
            try:
                action = comment_on_pull_request(report, pr, token)
                click.echo(f"pull request #{pr.number}: drift comment {action}", err=True)
            except GitHubError as exc:  # the check's verdict stands; the comment is a courtesy
                click.echo(f"warning: could not write the PR comment: {redactor(str(exc))}", err=True)
    if report.has_drift:
        raise click.exceptions.Exit(1)


@group.command("scaffold")
@click.option("--target", type=click.Path(path_type=Path, file_okay=False), default=Path("."),
              show_default=True, help="The repository (holds specs/ and optionally drift.yaml).")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="A drift config file other than TARGET/drift.yaml.")
def scaffold(target: Path, config_path: Path | None) -> None:
    """Print data-model.md entity blocks for the tables the spec does not declare yet.

    Review them (and add a sentence on what each table is for) before pasting them into the spec.
    """
    setup(as_json=True)  # logs to stderr: stdout is the Markdown to paste
    blocks = scaffold_entities(target, config_path=config_path)
    click.echo("\n".join(blocks) if blocks else "every table is specified", err=not blocks)
