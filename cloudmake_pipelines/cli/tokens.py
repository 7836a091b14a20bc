"""`cloudmake tokens apps|versions|poll|propagation`: design-token propagation (SC-002 ≤ 5 min)."""

from __future__ import annotations

import click
from rich.table import Table
from sqlalchemy import Engine

from ..alerts import Alerter
from ..db.engine import make_engine
from ..db.helpers import require_tables
from ..db.tables import token_apps, token_propagation, token_sources, token_versions
from ..errors import CheckFailed, ConfigError
from ..tokens import App, AppRegistry, Cursor, TokenSource, VersionStore
from ..tokens.monitor import Monitor, open_monitor
from .common import emit_json, json_option, setup
from .output import print_table


def _engine(settings, *, create: bool = True) -> Engine:
    engine = make_engine(settings.database_url, create=create)
    require_tables(engine, token_sources, token_versions, token_apps, token_propagation)
    return engine


def _monitor(settings, *, create: bool = True) -> Monitor:
    engine = _engine(settings, create=create)
    return open_monitor(engine, settings, Alerter(settings.alert_webhook_url, engine=engine))


def _when(value) -> str:
    return value.isoformat().replace("+00:00", "Z") if value else "-"


@click.group("tokens")
def group() -> None:
    """Design-token propagation: versions from git, the apps that must serve them, SC-002 (≤ 5 min)."""


@group.group("apps")
def apps() -> None:
    """The apps a token version must reach, and how each tells the version it serves."""


def _app_json(app: App) -> dict:
    return {"name": app.name, "url": app.url, "read": app.read_kind, "selector": app.read_selector,
            "auth_header": app.auth_header, "auth": app.auth_secret_ref, "created_at": app.created_at}


@apps.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--json-field", metavar="PATH", help="The version is this dotted field of a JSON body (default: version).")
@click.option("--css-var", metavar="NAME", help="The version is this custom property of a stylesheet, e.g. --ds-version.")
@click.option("--header", metavar="NAME", help="The version is this response header, e.g. X-DS-Version.")
@click.option("--auth", "auth_ref", metavar="env:VAR|secret:NAME", help="Where the credential lives (never the value).")
@click.option("--auth-header", default="Authorization", show_default=True, help="Header that carries the credential.")
@click.option("--replace", is_flag=True, help="Update the app if it is already registered.")
@click.option("--check/--no-check", default=True, show_default=True,
              help="Poll the app once and refuse it when it serves no version.")
@json_option
def add_app(name, url, json_field, css_var, header, auth_ref, auth_header, replace, check, as_json):
    """Register the app NAME at URL (the page, stylesheet or endpoint that shows its token version)."""
    settings = setup(as_json)
    given = [(k, v) for k, v in (("json", json_field), ("css", css_var), ("header", header)) if v]
    if len(given) > 1:
        raise click.UsageError("give one of --json-field, --css-var, --header")
    kind, selector = given[0] if given else ("json", "version")
    app = App(name, url, kind, selector, auth_header if auth_ref else None, auth_ref).validate()
    monitor = _monitor(settings)
    if check:
        try:
            observation = monitor.poller.poll(app, None)
        finally:
            monitor.poller.close()
        if observation.version is None:
            raise ConfigError(f"{observation.error} (register anyway with --no-check)")
        click.echo(f"{name} serves {observation.version}", err=True)
    saved = AppRegistry(monitor.engine).add(app, replace=replace)
    emit_json(_app_json(saved)) if as_json else click.echo(f"registered {saved.name} ({saved.url}, {saved.read_kind} "
                                                           f"{saved.read_selector})")


@apps.command("list")
@json_option
def list_apps(as_json):
    """List the registered apps."""
    settings = setup(as_json)
    found = AppRegistry(_engine(settings, create=False)).list()
    if as_json:
        emit_json([_app_json(a) for a in found])
        return
    if not found:
        click.echo("no apps registered (add one: cloudmake tokens apps add NAME URL)")
        return
    table = Table("name", "url", "version from", "auth")
    for a in found:
        table.add_row(a.name, a.url, f"{a.read_kind} {a.read_selector}",
                      f"{a.auth_header} from {a.auth_secret_ref}" if a.auth_secret_ref else "-")
    print_table(table)


@apps.command("remove")
@click.argument("name")
@json_option
def remove_app(name, as_json):
    """Unregister the app NAME (its propagation history is kept)."""
    settings = setup(as_json)
    AppRegistry(_engine(settings)).remove(name)
    emit_json({"removed": name}) if as_json else click.echo(f"removed {name}")


@group.group("versions")
def versions() -> None:
    """Where token versions come from (a git clone or a GitHub repository), and the versions recorded."""


@versions.command("add-source")
@click.argument("location", metavar="PATH|github:OWNER/REPO")
@click.option("--tokens-path", default="tokens.json", show_default=True,
              help="The tokens file in the repository (DTCG JSON, or the tokens package's package.json).")
@click.option("--version-field", default=None, help="Dotted JSON field holding the version "
              "(default: $version, or version for a package.json).")
@click.option("--branch", default=None, help="The deployed branch (default: HEAD / the default branch).")
@json_option
def add_source(location, tokens_path, version_field, branch, as_json):
    """Read token versions from LOCATION: its newest tokens file must parse and carry a version."""
    settings = setup(as_json)
    field = version_field or ("version" if tokens_path.rsplit("/", 1)[-1] == "package.json" else "$version")
    source = _monitor(settings).versions.add_source(TokenSource(location, tokens_path, field, branch))
    result = {"location": source.location, "tokens_path": source.tokens_path, "version_field": source.version_field,
              "branch": source.branch}
    emit_json(result) if as_json else click.echo(f"added source {source.location} ({source.tokens_path}, "
                                                 f"{source.version_field})")


@versions.command("list")
@json_option
def list_versions(as_json):
    """Record new versions from every source, then list the recorded ones (commit = committer time)."""
    settings = setup(as_json)
    store: VersionStore = _monitor(settings).versions
    store.scan(on_error=lambda exc: click.echo(f"warning: {exc}", err=True))
    found = store.versions()
    if as_json:
        emit_json([{"version": v.version, "sha": v.sha, "committed_at": v.committed_at} for v in found])
        return
    for v in found:
        click.echo(f"{v.version}\t{v.sha[:12]}\t{_when(v.committed_at)}")


@group.command("poll")
@json_option
def poll(as_json):
    """One measuring tick now (as the sensor's, without its cursor): record versions, poll apps, alert."""
    settings = setup(as_json)
    monitor = _monitor(settings)
    try:
        result = monitor.tick(Cursor())
    finally:
        monitor.poller.close()
    emit_json({"summary": result.summary, "problems": result.problems}) if as_json else click.echo(result.summary)


@group.command("propagation")
@click.option("--version", "version", default=None, help="The token version (default: the latest).")
@json_option
def propagation(version, as_json):
    """Per app: version, committed, first seen, propagation (± polling uncertainty), status. Exit 1 when
    SC-002 fails (an app late, overdue, or unknown past the objective)."""
    settings = setup(as_json)
    monitor = _monitor(settings, create=False)
    rows = monitor.table(version)
    if version is not None and not rows:
        raise ConfigError(f"--version {version!r}: no propagation recorded for that version "
                          "(see `cloudmake tokens versions list`)")
    failing = monitor.failing(rows)
    if as_json:
        emit_json({"version": rows[0].version if rows else None, "sc_002_passed": not failing,
                   "rows": [r.as_dict() for r in rows]})
    elif not rows:
        click.echo("no token version recorded yet (add a source: cloudmake tokens versions add-source PATH)")
    else:
        table = Table("app", "version", "committed", "seen", "propagation", "status")
        for r in rows:
            spread = f" (−{r.uncertainty_s:.0f}s)" if r.uncertainty_s is not None else ""
            took = f"{r.propagation_s:.0f}s{spread}" if r.propagation_s is not None else "-"
            table.add_row(r.app, r.version, _when(r.committed_at), _when(r.first_seen_at), took, r.status)
        print_table(table)
    if failing:
        raise CheckFailed(f"SC-002 failed for {len(failing)} app(s): "
                          + ", ".join(f"{r.app} ({r.status})" for r in failing))
