"""`cloudmake mcp add|list|remove|enable|disable|loadtest`: the MCP server registry and the manual load test."""

from __future__ import annotations

import json
import math
import uuid

import click
from rich.table import Table
from sqlalchemy import Engine

from ..db.engine import make_engine
from ..db.helpers import require_tables
from ..db.tables import mcp_servers
from ..errors import ConfigError
from ..mcp import TRANSPORTS, McpServer, Registry
from .common import FiniteFloat, emit_json, json_option, progress, setup
from .output import print_table


def _engine(settings, *, create: bool = True) -> Engine:
    """A migrated database; ``create=False`` (read-only commands) never creates an empty SQLite file."""
    engine = make_engine(settings.database_url, create=create)
    require_tables(engine, mcp_servers)
    return engine


def _validate_overrides(overrides, where: str = "thresholds") -> None:
    """The thresholds model is loaded only by the commands that write overrides."""
    from ..loadtest.thresholds import validate_overrides

    validate_overrides(overrides, where)


def _registry(settings, *, create: bool = True) -> Registry:
    return Registry(_engine(settings, create=create), validate_thresholds=_validate_overrides)


def _server_json(server: McpServer) -> dict:
    return {"name": server.name, "url": server.url, "transport": server.transport, "enabled": server.enabled,
            "auth_header": server.auth_header, "auth_secret_ref": server.auth_secret_ref,
            "thresholds": dict(server.thresholds), "created_at": server.created_at, "updated_at": server.updated_at}


def _parse_thresholds(pairs: tuple[str, ...]) -> dict:
    overrides = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r}: expected KEY=VALUE, e.g. alert_p95_ms=900", param_hint="--threshold")
        try:
            overrides[key] = json.loads(raw)
        except ValueError:
            overrides[key] = raw
        if isinstance(overrides[key], float) and not math.isfinite(overrides[key]):
            raise click.BadParameter(f"{pair!r}: {key} must be a finite number", param_hint="--threshold")
    _validate_overrides(overrides, "--threshold")
    return overrides


@click.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--transport", type=click.Choice(TRANSPORTS), default="streamable_http", show_default=True,
              help="streamable_http negotiates the session-less revision, else the initialize handshake.")
@click.option("--auth-header", help="Header that carries the credential, e.g. Authorization.")
@click.option("--auth-secret", "auth_secret_ref",
              help="Where its value lives: env:VARIABLE, or secret:NAME in the keyring (never the value).")
@click.option("--threshold", "thresholds", multiple=True, metavar="KEY=VALUE",
              help="Per-server override of a thresholds-file setting (repeatable), e.g. sc021_p95_ms=800.")
@click.option("--disabled", is_flag=True, help="Register without including it in the nightly run.")
@click.option("--replace", is_flag=True, help="Update the server if it is already registered.")
@json_option
def add(name, url, transport, auth_header, auth_secret_ref, thresholds, disabled, replace, as_json):
    """Register an MCP server NAME at URL (its Streamable HTTP endpoint)."""
    settings = setup(as_json)
    server = McpServer(name=name, url=url, transport=transport, auth_header=auth_header,
                       auth_secret_ref=auth_secret_ref, enabled=not disabled, thresholds=_parse_thresholds(thresholds))
    saved = _registry(settings).add(server, replace=replace)
    if as_json:
        emit_json(_server_json(saved))
    else:
        click.echo(f"registered {saved.name} ({saved.url}, {saved.transport}, "
                   f"{'enabled' if saved.enabled else 'disabled'})")


@click.command("list")
@json_option
def list_servers(as_json):
    """List registered MCP servers."""
    settings = setup(as_json)
    servers = _registry(settings, create=False).list()
    if as_json:
        emit_json([_server_json(s) for s in servers])
        return
    if not servers:
        click.echo("no MCP servers registered (add one: cloudmake mcp add NAME URL)")
        return
    table = Table("name", "url", "transport", "enabled", "auth", "overrides")
    for s in servers:
        table.add_row(s.name, s.url, s.transport, "yes" if s.enabled else "no",
                      f"{s.auth_header} from {s.auth_secret_ref}" if s.auth_header else "-",
                      json.dumps(dict(s.thresholds)) if s.thresholds else "-")
    print_table(table)


@click.command("remove")
@click.argument("name")
@json_option
def remove(name, as_json):
    """Unregister the MCP server NAME (its recorded metrics are kept)."""
    settings = setup(as_json)
    _registry(settings).remove(name)
    emit_json({"removed": name}) if as_json else click.echo(f"removed {name}")


def _set_enabled(enabled: bool):
    @click.command("enable" if enabled else "disable")
    @click.argument("name")
    @json_option
    def command(name, as_json):
        settings = setup(as_json)
        server = _registry(settings).set_enabled(name, enabled)
        emit_json(_server_json(server)) if as_json else click.echo(f"{name}: {'enabled' if enabled else 'disabled'}")

    command.help = f"{'Include' if enabled else 'Exclude'} the MCP server NAME {'in' if enabled else 'from'} the nightly load test."
    return command


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.1f}"


@click.command("loadtest")
@click.option("--server", "names", multiple=True, help="Server to test (repeatable). Default: every enabled one.")
@click.option("--thresholds", "thresholds_path", type=click.Path(dir_okay=False),
              help="Thresholds file. Default: $CLOUDMAKE_MCP_THRESHOLDS, else the packaged loadTestThresholds.json.")
@click.option("--duration", type=FiniteFloat(0.1, 3600), help="Override duration_seconds.")
@click.option("--rate", type=FiniteFloat(0.1, 5000), help="Override rate_per_second.")
@json_option
def loadtest(names, thresholds_path, duration, rate, as_json):
    """Load-test MCP servers now, record the rows and print a table. Exit 1 when SC-021 fails or an
    alert condition holds."""
    from ..alerts import Alerter
    from ..loadtest.service import measure_and_record
    from ..loadtest.thresholds import load_thresholds

    settings = setup(as_json)
    thresholds_file = load_thresholds(thresholds_path)
    engine = _engine(settings)
    registry = Registry(engine)
    targets = list(names) or [s.name for s in registry.list(enabled_only=True)]
    if not targets:
        raise ConfigError("no enabled MCP servers to test (add one: cloudmake mcp add NAME URL)")
    for name in targets:
        registry.get(name)
    overrides = {k: v for k, v in (("duration_seconds", duration), ("rate_per_second", rate)) if v is not None}
    run_id, alerter, results, failed = f"cli-{uuid.uuid4().hex[:12]}", Alerter(settings.alert_webhook_url, engine=engine), [], False
    with progress(enabled=not as_json) as bar:
        for name in targets:
            task = bar.add_task(name, total=None)
            result, alerted = measure_and_record(
                engine, name, thresholds_file, environment=settings.environment, run_id=run_id, alerter=alerter,
                overrides=overrides, on_arrival=lambda done, total, task=task: bar.update(task, completed=done, total=total))
            failed = failed or alerted or bool(result.sc021_failures())
            results.append(result)
    if as_json:
        emit_json({"run_id": run_id, "servers": [
            {"server": r.server, "protocol": r.protocol_version, "duration_ms": r.duration_ms,
             "late_starts": r.late_starts, "connect_error": r.connect_error, "notes": r.notes,
             "sc021_failures": r.sc021_failures(), "alert_reasons": r.alert_reasons(), "operations": r.operations}
            for r in results]})
    else:
        table = Table("server", "operation", "requests", "p50 ms", "p95 ms", "p99 ms", "error rate", "errors",
                      "SC-021", title=f"MCP load test {run_id}")
        for r in results:
            failing = " ".join(r.sc021_failures())
            for op in r.operations:
                verdict = "n/a" if not op["operation"].endswith("/list") else (
                    "FAIL" if op["operation"] in failing or r.connect_error else "ok")
                table.add_row(r.server, op["operation"], str(op["requests"]), _fmt(op["p50_ms"]), _fmt(op["p95_ms"]),
                              _fmt(op["p99_ms"]), f"{op['error_rate']:.1%}",
                              json.dumps(op["errors_by_kind"]) if op["errors_by_kind"] else "-", verdict)
        print_table(table)
        for r in results:
            lines = [f"{r.server}: {r.connect_error}"] if r.connect_error else [
                f"{r.server}: protocol {r.protocol_version}, {r.duration_ms / 1000:.1f} s, late starts "
                f"{r.late_starts} (max {r.max_lateness_ms:g} ms)"]
            for line in lines + [f"{r.server}: {note}" for note in r.notes + r.alert_reasons()]:
                click.echo(line)
    if failed:
        raise click.exceptions.Exit(1)


commands = [add, list_servers, remove, _set_enabled(True), _set_enabled(False), loadtest]
