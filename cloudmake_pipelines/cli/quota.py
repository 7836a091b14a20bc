"""`cloudmake quota`: rate-limit quota monitoring (issue 20), the same domain code as the hourly asset."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from ..db.engine import make_engine
from .common import BoundedInt, Duration, emit_json, json_option, setup

_KINDS = click.Choice(["user", "project", "platform"])


@click.group("quota")
def group() -> None:
    """Quota buckets: which are frequently exhausted (a scaling signal), their events, retention."""


def _engine(settings):
    from ..quota.monitor import require_schema

    engine = make_engine(settings.database_url)
    require_schema(engine)
    return engine


@group.command("report")
@click.option("--kind", type=_KINDS, default=None, help="Only buckets of this kind.")
@click.option("--top", type=BoundedInt(1, 100_000), default=20, show_default=True, help="Show at most this many.")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Thresholds file [env CLOUDMAKE_QUOTA_CONFIG; default 6 of 24 hourly windows].")
@json_option
def report(kind: str | None, top: int, config_file: Path | None, as_json: bool) -> None:
    """Per-bucket exhaustions (1 h / 24 h / 7 d), windows exhausted, peak vs limit, trend, suggested limit.

    Computed now from the stored events (nothing is alerted or stored). Exit 1 when a bucket is
    frequently exhausted (N of the last M hourly windows).
    """
    from ..db.types import utcnow
    from ..quota.events import floor_hour
    from ..quota.report import load_config, ranked, run

    settings = setup(as_json)
    config = load_config(config_file or settings.quota.config_file)
    now = utcnow()
    stats = ranked(run(_engine(settings), now, config, store=False, kind=kind))
    frequent = [s for s in stats if s.frequent]
    if as_json:
        emit_json({"as_of": floor_hour(now).isoformat(), "buckets": len(stats), "frequent": len(frequent),
                   "top": [s.as_dict() for s in stats[:top]]})
    else:
        from rich.table import Table

        from .output import print_table

        table = Table(title=f"quota buckets exhausted in the 7 days to {floor_hour(now):%Y-%m-%d %H:00} UTC")
        for column in ("kind", "bucket", "windows", "1h", "24h", "7d", "limit/h", "peak/h", "suggested", "trend",
                       "frequent"):
            table.add_column(column, overflow="fold")
        for s in stats[:top]:
            table.add_row(s.kind, s.bucket, f"{s.windows_exhausted}/{s.windows}", str(s.exhaustions_1h),
                          str(s.exhaustions_24h), str(s.exhaustions_7d), f"{s.limit_per_hour:g}",
                          f"{s.peak_demand:g}", str(s.suggested_limit), f"{s.trend:+d}", "YES" if s.frequent else "")
        print_table(table)
        click.echo(f"{len(frequent)} of {len(stats)} bucket(s) frequently exhausted"
                   + (f" (showing {top})" if len(stats) > top else ""))
    if frequent:
        raise click.exceptions.Exit(1)


@group.command("events")
@click.option("--bucket", required=True, help="Bucket id, e.g. github:writes or a user id.")
@click.option("--limit", type=BoundedInt(1, 100_000), default=100, show_default=True, help="Newest this many.")
@json_option
def events(bucket: str, limit: int, as_json: bool) -> None:
    """The newest exhaustion events of one bucket."""
    from ..quota.events import recent

    settings = setup(as_json)
    rows = recent(_engine(settings), bucket, limit)
    if as_json:
        emit_json([{k: v for k, v in r.items() if k != "id"} for r in rows])
        return
    for r in rows:
        click.echo(f"{r['occurred_at'].isoformat()}  {r['kind']}  {r['bucket']}  denied {r['denied']} of "
                   f"{r['requested']}  limit {r['limit_per_hour']:g}/h  ({r['source']})")
    if not rows:
        click.echo(f"no exhaustion events for bucket {bucket!r}")


@group.command("consume")
@json_option
def consume(as_json: bool) -> None:
    """Drain the Redis exhaustion stream (CLOUDMAKE_QUOTA_REDIS_URL) into the events table now."""
    from ..errors import ConfigError
    from ..quota.monitor import consume_stream

    settings = setup(as_json)
    if settings.quota.redis_url is None:
        raise ConfigError("CLOUDMAKE_QUOTA_REDIS_URL is not set: expected the Redis URL of the exhaustion stream")
    result = consume_stream(_engine(settings), settings)
    if as_json:
        emit_json(vars(result))
    else:
        click.echo(f"read {result.read} entries ({result.claimed} claimed from a stopped consumer): "
                   f"{result.stored} stored, {result.duplicates} already stored, {result.rejected} rejected")


@group.command("prune")
@click.option("--older-than", type=Duration(min=timedelta(days=8), max=timedelta(days=3650)), default=None,
              help="Delete events, roll-ups and statistics older than this [default: the config's retention_days, 30d].")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Thresholds file [env CLOUDMAKE_QUOTA_CONFIG].")
@json_option
def prune(older_than: timedelta | None, config_file: Path | None, as_json: bool) -> None:
    """Retention: events are append-only; this is the one way they go (at least 8 days: the statistics read 7)."""
    from ..db.types import utcnow
    from ..quota.events import prune as prune_rows
    from ..quota.report import load_config

    settings = setup(as_json)
    older_than = older_than or timedelta(days=load_config(config_file or settings.quota.config_file).retention_days)
    counts = prune_rows(_engine(settings), older_than, utcnow())
    if as_json:
        emit_json(counts)
    else:
        click.echo(f"deleted {counts['events']} events, {counts['hourly']} hourly roll-ups, {counts['stats']} "
                   "statistics rows")
