"""`cloudmake github`: the secrets-sync targets and the manual trigger of the sync (seed task 8, SC-005)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from sqlalchemy import Engine

from ..db.engine import make_engine
from ..db.helpers import require_tables
from ..errors import ConfigError
from ..github.targets import SCOPES, VISIBILITIES, Target, TargetStore, parse_spec
from .common import BoundedInt, emit_json, json_option, progress, setup

if TYPE_CHECKING:
    from ..github.sync import SyncReport

SPEC_HELP = "SCOPE:repo:OWNER/REPO, actions:env:OWNER/REPO:ENVIRONMENT or SCOPE:org:ORG " \
            f"(SCOPE: {', '.join(SCOPES)})"


def _engine(as_json: bool) -> Engine:
    engine = make_engine(setup(as_json).database_url)
    require_tables(engine, "github_sync_targets", "github_sync_state")
    return engine


def _target_dict(target: Target) -> dict:
    return {"target": target.key, "scope": target.scope, "level": target.level, "visibility": target.visibility,
            "selected_repository_ids": list(target.selected_repository_ids), "include": list(target.include),
            "exclude": list(target.exclude), "delete_orphans": target.delete_orphans}


def _repository_ids(org: str, names: tuple[str, ...]) -> tuple[int, ...]:
    """Resolve ``--repository NAME`` within ``org`` to GitHub's numeric ids (one GET each)."""
    if not names:
        return ()
    from ..github.client import GitHubClient
    from ..github.service import SyncConfig

    settings = setup()
    config = SyncConfig.from_settings(settings)
    if config.token is None:
        raise ConfigError("--repository needs GITHUB_TOKEN to look up repository ids (or pass --repository-id)")
    with GitHubClient(config.token, config.api_url) as client:
        return tuple(int(client.get(f"/repos/{org}/{name}")["id"]) for name in names)


@click.group("github")
def group() -> None:
    """GitHub secrets sync: targets, and the sync itself (nightly at 01:00 UTC in Dagster)."""


@group.group("targets")
def targets() -> None:
    """Where secrets go: repository, environment or organization targets of each scope."""


@targets.command("add", help=f"Add (or replace) the target SPEC: {SPEC_HELP}.")
@click.argument("spec")
@click.option("--include", "include", multiple=True, help="Glob of secret names this target gets (default '*').")
@click.option("--exclude", "exclude", multiple=True, help="Glob of secret names never synced to this target.")
@click.option("--visibility", type=click.Choice(VISIBILITIES), help="Organization targets: who may use them.")
@click.option("--repository-id", "repository_ids", type=BoundedInt(1, 2**63 - 1), multiple=True,
              help="Visibility 'selected': a repository id that may use the secrets (repeatable).")
@click.option("--repository", "repositories", multiple=True,
              help="Visibility 'selected': a repository name in the organization, resolved to its id.")
@click.option("--delete-orphans", is_flag=True, help="Delete secrets this sync created once they leave the source.")
@json_option
def add(spec: str, include: tuple[str, ...], exclude: tuple[str, ...], visibility: str | None,
        repository_ids: tuple[int, ...], repositories: tuple[str, ...], delete_orphans: bool, as_json: bool) -> None:
    engine = _engine(as_json)
    ids = repository_ids
    if repositories:
        parts = spec.split(":")
        if len(parts) != 3 or parts[1] != "org":
            raise ConfigError("--repository applies to organization targets (SCOPE:org:ORG) only")
        ids += _repository_ids(parts[2], repositories)
    target = parse_spec(spec, visibility=visibility, selected_repository_ids=ids, include=include or ("*",),
                        exclude=exclude, delete_orphans=delete_orphans)
    TargetStore(engine).add(target)
    if as_json:
        emit_json(_target_dict(target))
    else:
        click.echo(f"added {target.key}")


@targets.command("list")
@json_option
def list_targets(as_json: bool) -> None:
    """List the targets."""
    found = TargetStore(_engine(as_json)).list()
    if as_json:
        emit_json([_target_dict(t) for t in found])
        return
    if not found:
        click.echo("no targets: add one with `cloudmake github targets add SPEC`")
    for t in found:
        parts = [t.key, f"include={','.join(t.include)}"]
        parts += [f"exclude={','.join(t.exclude)}"] if t.exclude else []
        parts += [f"visibility={t.visibility}"] if t.visibility else []
        parts += [f"repository-ids={','.join(map(str, t.selected_repository_ids))}"] if t.selected_repository_ids else []
        parts += ["delete-orphans"] if t.delete_orphans else []
        click.echo("  ".join(parts))


@targets.command("remove")
@click.argument("spec")
@json_option
def remove(spec: str, as_json: bool) -> None:
    """Forget target SPEC and its sync state (its secrets stay on GitHub)."""
    if not TargetStore(_engine(as_json)).remove(spec):
        raise ConfigError(f"unknown target {spec!r}; see `cloudmake github targets list`")
    if as_json:
        emit_json({"removed": spec})
    else:
        click.echo(f"removed {spec}")


def _print(report: SyncReport) -> None:
    for o in report.outcomes:
        if o.action not in ("unchanged", "excluded"):
            click.echo(f"{o.action:<9} {o.target}  {o.name}" + (f"  ({o.reason})" if o.reason else ""))
    counts = report.counts()
    done = "planned" if report.dry_run else "synced"
    click.echo(f"{report.targets} target(s): {counts['planned' if report.dry_run else 'synced']} {done}, "
               f"{counts['skipped']} unchanged, {counts['conflict']} conflict, {counts['orphan']} orphan, "
               f"{counts['deferred']} deferred, {counts['failed']} failed, {counts['rejected']} rejected, "
               f"{counts['excluded']} excluded; {report.requests_sent} requests in {report.duration_ms:.0f} ms")
    if report.result == "deferred":
        first = report.of("deferred")[0]
        click.echo(f"stalled: {counts['deferred']} write(s) deferred ({first.reason}); the next run continues")


@group.command("sync")
@click.option("--dry-run", is_flag=True, help="Compute the plan (GitHub is read, never written).")
@click.option("--force", is_flag=True, help="Overwrite conflicts: secrets changed on GitHub or not written by us.")
@click.option("--target", "target_keys", multiple=True, help="Sync only this target (repeatable).")
@json_option
def sync(dry_run: bool, force: bool, target_keys: tuple[str, ...], as_json: bool) -> None:
    """Sync secrets from the keyring to GitHub now.

    Exit 1 on conflicts or failures, and when GitHub's rate limit or the write quota deferred writes
    (``"result": "deferred"`` in --json: the sync stalled; the next run continues where it stopped).
    """
    from ..github.service import SyncService  # httpx, PyNaCl: only for the commands that talk to GitHub

    engine = _engine(as_json)
    with SyncService(engine) as service, progress(enabled=not as_json) as bar:
        tasks: dict[str, int] = {}

        def advance(target: str, done: int, total: int) -> None:
            if target not in tasks:
                tasks[target] = bar.add_task(target, total=total)
            bar.update(tasks[target], completed=done, total=total)

        report = service.run(list(target_keys), dry_run=dry_run, force=force, progress=advance)
    if as_json:
        emit_json(report.to_dict())
    else:
        _print(report)
        if not report.targets:
            click.echo("no targets: add one with `cloudmake github targets add SPEC`")
    if report.result != "ok":
        raise click.exceptions.Exit(1)


@group.command("check")
@click.option("--target", "target_keys", multiple=True, help="Check only this target (repeatable).")
@json_option
def check(target_keys: tuple[str, ...], as_json: bool) -> None:
    """SC-005: validate GitHub's side (exit 1 when anything is missing, stale, conflicting or deferred)."""
    from ..github.service import SyncService

    with SyncService(_engine(as_json)) as service:
        report = service.verify(list(target_keys))
    if as_json:
        emit_json({"passed": not report.out_of_sync, **report.to_dict()})
    else:
        _print(report)
        click.echo("SC-005 " + ("passed" if not report.out_of_sync else f"FAILED: {len(report.out_of_sync)} finding(s)"))
    if report.out_of_sync:
        raise click.exceptions.Exit(1)
