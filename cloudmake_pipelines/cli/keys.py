"""`cloudmake keys`: secrets at rest, master-key rotation (seed task 6), JWT signing keys (seed task 5)."""

from __future__ import annotations

import getpass

import click

from ..db.engine import make_engine
from ..db.helpers import require_tables
from ..errors import ConfigError
from ..keys import KEY_TABLES
from ..keys.master import STEPS
from ..keys.service import KeyManagement
from .common import emit_json, json_option, progress, setup

#: A fresh install has no signing keys: reading commands never create key material, so say what does.
NO_SIGNING_KEYS = ("The JWKS is empty until the first keys exist: `cloudmake keys rotate-jwt --confirm` creates the "
                   "active and the next key (or launch the Dagster job jwt_key_rotation).")


def _keys(as_json: bool, *, read_only: bool = False) -> KeyManagement:
    settings = setup(as_json)
    engine = make_engine(settings.database_url, create=not read_only)
    require_tables(engine, *KEY_TABLES)
    return KeyManagement(engine, settings, actor=f"cli:{getpass.getuser()}", bootstrap=not read_only)


def _refuse_without_confirm(confirm: bool, what: str) -> None:
    if not confirm:
        click.echo(f"{what}\nNothing was changed. Re-run with --confirm to proceed.", err=True)
        raise click.exceptions.Exit(1)


@click.group("keys")
def group() -> None:
    """Key management: the keyring for secrets at rest, master-key and JWT signing-key rotation."""


@group.command("rotate-master")
@click.option("--confirm", is_flag=True, help="Required: really rotate the master encryption key.")
@click.option("--step", type=click.Choice(STEPS), help="Run one step only (default: every step, resuming).")
@click.option("--abort", is_flag=True, help="Abandon the rotation in progress (only before re-encryption "
              "switched the writing key): drops the unused new key version.")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=1000, show_default=True,
              help="Rows re-encrypted per transaction.")
@json_option
def rotate_master(confirm: bool, step: str | None, abort: bool, batch_size: int, as_json: bool) -> None:
    """Rotate the master key: generate, re-encrypt, update env binding, invalidate the old key.

    Re-running resumes an interrupted rotation where it stopped. Both keys decrypt throughout.
    Every precondition is checked before a key is generated (exit 2 says what to fix).
    """
    if abort:
        if step:
            raise ConfigError("--abort abandons the whole rotation: it takes no --step")
        result = _keys(as_json).master_rotation().abort()
        if as_json:
            emit_json(result)
        else:
            click.echo(f"aborted rotation {result['rotation_id']}: v{result['dropped_version']} dropped, "
                       f"v{result['from_version']} stays the master key")
        for warning in result["warnings"]:
            click.echo(f"warning: {warning}", err=True)
        return
    _refuse_without_confirm(confirm, (
        "rotate-master generates a new master encryption key, re-encrypts every secret and JWT private key "
        "with it, publishes it to the env binding(s), then deletes the old key from them."))
    keys = _keys(as_json)
    with progress(enabled=not as_json) as bar:
        task = bar.add_task("re-encrypting", total=None)
        rotation = keys.master_rotation(batch_size, on_batch=lambda done, total: bar.update(task, completed=done,
                                                                                            total=total))
        results = [getattr(rotation, step)()] if step else rotation.run()
    if as_json:
        emit_json(results)
        return
    for result in results:
        detail = result.get("skipped") or ", ".join(f"{k}={result[k]}" for k in ("secrets", "signing_keys",
                                                                                 "retired_versions") if k in result)
        click.echo(f"{result['step']}: v{result['from_version']} -> v{result['to_version']} {detail}".rstrip())
        for warning in result.get("warnings", []):
            click.echo(f"warning: {warning}", err=True)


@group.command("rotate-jwt")
@click.option("--confirm", is_flag=True, help="Required: really rotate the JWT signing key now.")
@json_option
def rotate_jwt(confirm: bool, as_json: bool) -> None:
    """Rotate the JWT signing key now: next -> active, active -> 7-day grace; publish the JWKS."""
    _refuse_without_confirm(confirm, (
        "rotate-jwt makes the published next key the active signing key, moves the current key to a 7-day "
        "grace period (its tokens keep verifying) and publishes a new next key in the JWKS."))
    keys = _keys(as_json)
    result = keys.signing_keys().rotate(force=True)
    keys.publish_jwks()
    if as_json:
        emit_json(result)
    else:
        click.echo(f"rotated: {result['old_kid'] or '(none)'} -> {result['new_kid']}; next: {result['next_kid']}")
        click.echo(f"JWKS published to {keys.jwks_path}")


@group.command("jwks")
def jwks() -> None:
    """Print the JWKS document (active, next and in-grace public keys)."""
    document = _keys(True, read_only=True).signing_keys().jwks()
    emit_json(document)
    if not document["keys"]:
        click.echo(f"note: {NO_SIGNING_KEYS}", err=True)


@group.command("status")
@json_option
def status(as_json: bool) -> None:
    """Master key versions, JWT signing keys, rotation due dates and SC-011 facts."""
    keys = _keys(as_json, read_only=True)
    signing = keys.signing_keys()
    due = signing.due()
    report = {"master": keys.master_status(), "jwt": {
        "keys": [{k: key[k] for k in ("kid", "algorithm", "status", "created_at", "activated_at", "grace_until",
                                      "retired_at")} for key in signing.keys()],
        "due_at": due.due_at, "due": due.is_due, "sc_011": signing.health()}}
    if as_json:
        emit_json(report)
        return
    master = report["master"]
    if master["active_version"] is None:
        click.echo("master key: none yet (created when the first secret is stored)")
    else:
        click.echo(f"master key: v{master['active_version']} active for {master['active_age_days']} days"
                   + ("  (over a year: rotate it)" if master["reminder_due"] else ""))
    for version in master["versions"]:
        click.echo(f"  v{version['version']:<3} {version['status']:<9} secrets={version['secrets']}")
    if master["rotation_in_progress"]:
        click.echo(f"  rotation in progress at step '{master['rotation_in_progress']['step']}'")
    if not report["jwt"]["keys"]:
        click.echo(f"JWT signing keys: none yet. {NO_SIGNING_KEYS}")
        return
    click.echo(f"JWT signing keys (next rotation due {due.due_at or 'now'}):")
    for key in report["jwt"]["keys"]:
        click.echo(f"  {key['kid']}  {key['algorithm']:<5} {key['status']:<7} activated={key['activated_at']}")


@group.command("put-secret")
@click.argument("name")
def put_secret(name: str) -> None:
    """Store the value read from stdin under NAME (one trailing newline is dropped)."""
    raw = click.get_binary_stream("stdin").read()
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError as exc:  # never echo the bytes: they are the secret
        raise ConfigError(f"put-secret {name}: stdin is not UTF-8 text (invalid byte at offset {exc.start}): "
                          "secrets are stored as text; base64-encode a binary value first") from None
    value = value[:-1] if value.endswith("\n") else value
    if not value:
        raise ConfigError(f"put-secret {name}: expected the secret value on stdin, got nothing")
    _keys(False).keyring.put(name, value)
    click.echo(f"stored {name}")


@group.command("delete-secret")
@click.argument("name")
def delete_secret(name: str) -> None:
    """Delete secret NAME. Exit 1 when there is no secret NAME (nothing is changed then)."""
    if not _keys(False).keyring.delete(name):
        click.echo(f"error: no secret named {name} (cloudmake keys list-secrets shows them)", err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"deleted {name}")


@group.command("list-secrets")
@json_option
def list_secrets(as_json: bool) -> None:
    """Secret names (never values)."""
    names = _keys(as_json, read_only=True).keyring.names()
    if as_json:
        emit_json(names)
    else:
        click.echo("\n".join(names) if names else "(no secrets)")


@group.command("check")
@json_option
def check(as_json: bool) -> None:
    """Every secret decrypts, all on the active master key, none on a retired one (exit 1 otherwise)."""
    health = _keys(as_json).keyring_health()
    ok = not health["failures"] and not health["on_retired"] and not health["not_on_active"]
    if as_json:
        emit_json({**health, "ok": ok})
    else:
        click.echo(f"{health['secrets']} secrets, {len(health['failures'])} failing, "
                   f"{health['not_on_active']} not on the active key v{health['active_version']}")
        for failure in health["failures"]:
            click.echo(f"  {failure['secret']}: {failure['error']}", err=True)
    if not ok:
        raise click.exceptions.Exit(1)
