"""`cloudmake previews`: preview environment archival (seed task 4), the same code as the Dagster asset."""

from __future__ import annotations

import click

from ..db.engine import make_engine
from ..previews.archive import active_previews, archived_previews
from ..previews.runner import SCHEDULE_INTERVAL, build_archiver, require_schema
from .common import BoundedInt, emit_json, json_option, setup

_SHOWN = 50


@click.group("previews")
def group() -> None:
    """Preview environments: archive those past their TTL (default 72 h), free their Neon branches, list them."""


@group.command("archive")
@click.option("--force", is_flag=True,
              help=f"Archive now even if an archival run finished in the last {SCHEDULE_INTERVAL.seconds // 3600} h "
                   "(the schedule's interval); without it such a run is skipped.")
@click.option("--dry-run", is_flag=True, help="List what would be archived; change nothing.")
@click.option("--neon-api-url", envvar="NEON_API_URL", default=None, metavar="URL",
              help="Neon API base URL [env NEON_API_URL; default https://console.neon.tech/api/v2].")
@click.option("--pushgateway-url", envvar="PROMETHEUS_PUSHGATEWAY_URL", default=None, metavar="URL",
              help="Push preview_env_active_total here [env PROMETHEUS_PUSHGATEWAY_URL; unset: no push].")
@click.option("--cleanup-limit", type=BoundedInt(0, 100_000), default=200, show_default=True,
              help="At most this many environments' resources are freed per run; the rest wait for the next.")
@json_option
def archive(force: bool, dry_run: bool, neon_api_url: str | None, pushgateway_url: str | None, cleanup_limit: int,
            as_json: bool) -> None:
    """Archive preview environments past their TTL and free their resources.

    Exit 1 when a resource cleanup failed (it is retried on the next run) or an expired preview remains.
    """
    settings = setup(as_json)
    archiver = build_archiver(make_engine(settings.database_url), settings, neon_api_url=neon_api_url,
                              pushgateway_url=pushgateway_url, cleanup_limit=cleanup_limit)
    if dry_run:
        preview = archiver.dry_run()
        if as_json:
            emit_json(preview.as_dict())
            return
        click.echo(f"dry run at {preview.as_of.isoformat()} (database time): "
                   f"{len(preview.would_archive)} preview environment(s) would be archived; nothing changed")
        for row in preview.would_archive[:_SHOWN]:
            click.echo(f"  {row.id}  {row.name}  expired {row.expires_at.isoformat()}"
                       + (f"  neon branch {row.neon_branch_id}" if row.neon_branch_id else ""))
        if len(preview.would_archive) > _SHOWN:
            click.echo(f"  ... and {len(preview.would_archive) - _SHOWN} more (use --json for all)")
        click.echo(f"active previews: {preview.active}; cleanups waiting for a retry: {preview.cleanup_backlog}")
        return
    report = archiver.run(source="cli --force" if force else "cli",
                          skip_if_ran_within=None if force else SCHEDULE_INTERVAL)
    if as_json:
        emit_json(report.as_dict())
    elif report.skipped:
        click.echo(f"skipped: {report.skipped}")
        click.echo(f"preview_env_active_total: {report.active}; cleanup backlog: {report.cleanup_backlog}")
    else:
        counts = report.cleanup.counts()
        click.echo(f"archived {len(report.archived)} preview environment(s)"
                   + (": " + ", ".join(report.archived[:_SHOWN]) if report.archived else " (none past its TTL)")
                   + (f" ... and {len(report.archived) - _SHOWN} more" if len(report.archived) > _SHOWN else ""))
        click.echo(f"cleanup: {counts['freed']} freed, {counts['already_gone']} already gone, "
                   f"{counts['failed']} failed, {counts['retried']} retried"
                   + ("; more waiting for the next run" if report.cleanup.stopped_early else ""))
        for environment_id, reason in report.cleanup.failed.items():
            click.echo(f"  cleanup failed for {environment_id}: {reason} (retried next run)")
        click.echo(f"preview_env_active_total: {report.active}; cleanup backlog: {report.cleanup_backlog}"
                   + ({True: "; metrics pushed", False: "; metrics push FAILED"}.get(report.metrics_pushed, "")))
    if report.cleanup.failed or report.expired_remaining:
        raise click.exceptions.Exit(1)


@group.command("list")
@click.option("--archived", is_flag=True, help="List archived previews with their cleanup state instead.")
@click.option("--limit", type=BoundedInt(1, 100_000), default=100, show_default=True, help="At most this many rows.")
@json_option
def list_(archived: bool, limit: int, as_json: bool) -> None:
    """List active preview environments, soonest to expire first (or archived ones, latest first)."""
    settings = setup(as_json)
    engine = make_engine(settings.database_url, create=False)
    require_schema(engine)
    with engine.connect() as conn:
        rows = archived_previews(conn, limit=limit) if archived else active_previews(conn, limit=limit)
    if as_json:
        emit_json([row.as_dict() for row in rows])
        return
    if not rows:
        click.echo("no archived preview environments" if archived else "no active preview environments")
    for row in rows:
        if archived:
            error = f"  ({row.cleanup_error})" if row.cleanup_error else ""
            click.echo(f"{row.id}  {row.name}  archived {row.archived_at.isoformat()}  cleanup {row.cleanup_status}"
                       f" after {row.cleanup_attempts} attempt(s){error}")
        else:
            click.echo(f"{row.id}  {row.name}  expires {row.expires_at.isoformat()}"
                       + (f"  neon branch {row.neon_branch_id}" if row.neon_branch_id else ""))
