"""`cloudmake db`: the migration runner (seed task 9)."""

from __future__ import annotations

import click

from ..db import migrate
from ..errors import ConfigError
from ..settings import display_url
from .common import emit_json, json_option, setup


class _Group(click.Group):
    """`benchmark-admin` (the dataset generator, HDR histograms) is imported only when it is used or listed,
    so `cloudmake db status` stays as quick as `alembic current`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), "benchmark-admin"])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "benchmark-admin":
            from .db_admin import benchmark_admin

            return benchmark_admin
        return super().get_command(ctx, name)


@click.group("db", cls=_Group)
def group() -> None:
    """Database migrations: apply pending ones, show where the database stands."""


def _revision(ctx: click.Context, param: click.Parameter, target: str) -> str:
    try:
        migrate.required_revisions(target)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None
    return target


@group.command("upgrade")
@click.option("--target", default="heads", show_default=True, callback=_revision,
              help="Revision to upgrade to (with the revisions it depends on).")
@json_option
def upgrade(target: str, as_json: bool) -> None:
    """Apply pending migrations. Idempotent; safe to run from several places at once."""
    settings = setup(as_json)
    result = migrate.upgrade(settings.database_url, target)
    if as_json:
        emit_json({"applied": result.applied, "heads": result.status.heads, "duration_ms": result.duration_ms})
    elif not result.applied and result.status.pending:
        click.echo(f"{display_url(settings.database_url)}: {target} is already applied; "
                   f"pending beyond it: {', '.join(result.status.pending)}")
    elif not result.applied:
        click.echo(f"{display_url(settings.database_url)}: up to date at {', '.join(result.status.heads)}")
    else:
        for entry in result.applied:
            click.echo(f"applied {entry['file']} ({entry['duration_ms']} ms)")


@group.command("status")
@click.option("--check", is_flag=True, help="Exit 1 when migrations are pending.")
@json_option
def status(check: bool, as_json: bool) -> None:
    """Show the database's current revision against the latest (heads) and what is pending."""
    settings = setup(as_json)
    state = migrate.status(settings.database_url)
    if as_json:
        emit_json({"database": display_url(settings.database_url), "current": state.current,
                   "heads": state.heads, "pending": state.pending, "up_to_date": state.up_to_date})
    else:
        click.echo(f"database: {display_url(settings.database_url)}")
        click.echo(f"current:  {', '.join(state.current) or '(empty)'}")
        click.echo(f"heads:    {', '.join(state.heads)}")
        click.echo(f"pending:  {', '.join(state.pending) or 'none'}")
    if check and state.pending:
        raise click.exceptions.Exit(1)

