"""Master-key rotation: the four steps, dual-key overlap, the Cloudflare binding, refusal, audit, SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import jwt
import pytest
from sqlalchemy import func, select

from cloudmake_pipelines.db import make_engine
from cloudmake_pipelines.db.migrate import upgrade
from cloudmake_pipelines.db.tables import master_key_versions, secrets, signing_keys
from cloudmake_pipelines.keys import open_keyring
from cloudmake_pipelines.keys.audit import MASTER_ROTATION, timeline
from cloudmake_pipelines.keys.binding import binding_name
from cloudmake_pipelines.keys.cloudflare import CloudflareError, CloudflareWorkerSecrets
from cloudmake_pipelines.keys.jwk import JwksVerifier
from cloudmake_pipelines.keys.master import MasterKeyRotation, RotationPrecondition, RotationRefused
from cloudmake_pipelines.keys.service import KeyManagement
from cloudmake_pipelines.keys.signing import SigningKeys
from cloudmake_pipelines.settings import load_settings
from tests.support.fake_cloudflare import FakeCloudflare
from tests.support.fakes import ANY

T = datetime(2026, 11, 1, tzinfo=UTC)
PLAIN = {f"secret_{i:04d}": f"plaintext-value-{i}-{'x' * (i % 7)}" for i in range(60)}


def _settings(url, tmp_path, **extra):
    return load_settings({"DATABASE_URL": url, "CLOUDMAKE_STATE_DIR": str(tmp_path / "state"), **extra})


def _remote(fake, base):
    return CloudflareWorkerSecrets(fake.account_id, fake.script, fake.token, base_url=base, backoff_seconds=0.01)


def _assert_invariants(keyring, tokens, engine, plain=PLAIN):
    """Every secret decrypts to its plaintext; every token of a non-retired key verifies; one active key."""
    assert dict(keyring.items()) == plain
    signing = SigningKeys(keyring, environment="dev", actor="test")
    verifier = JwksVerifier(signing.jwks)
    for token in tokens:
        assert verifier.verify(token)["sub"] == "user-1"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(signing_keys)
                            .where(signing_keys.c.status == "active")).scalar_one() == 1
    assert signing.sign({"sub": "user-1"})


def _seed(keyring):
    for name, value in PLAIN.items():
        keyring.put(name, value)
    signing = SigningKeys(keyring, environment="dev", actor="test")
    signing.rotate(force=True)
    return [signing.sign({"sub": "user-1"})]


def test_four_steps_with_both_keys_decrypting_throughout_and_an_audited_timeline(engine, tmp_path):
    keyring = open_keyring(engine, _settings(str(engine.url), tmp_path))
    tokens = _seed(keyring)
    with FakeCloudflare() as fake:
        base = fake.api_url
        rotation = MasterKeyRotation(keyring, environment="production", actor="alice", remotes=[_remote(fake, base)],
                                     batch_size=7)
        with pytest.raises(RotationRefused, match="no master-key rotation is in progress"):
            rotation.reencrypt()
        first = rotation.generate()
        assert (first["from_version"], first["to_version"]) == (1, 2)
        assert fake.secrets[binding_name(2)] == keyring.store.get(2)  # published before any row uses it
        _assert_invariants(keyring, tokens, engine)
        with pytest.raises(RotationRefused, match="invalidate needs the rotation at 'binding_updated'"):
            rotation.invalidate()
        assert rotation.reencrypt()["secrets"] == len(PLAIN)
        with engine.connect() as conn:
            assert set(conn.execute(select(secrets.c.key_version)).scalars()) == {2}
            assert set(conn.execute(select(signing_keys.c.key_version)).scalars()) == {2}
        assert keyring.store.get(1)  # old key still there: dual-key overlap
        _assert_invariants(keyring, tokens, engine)
        rotation.update_binding()
        assert fake.secrets["CLOUDMAKE_MASTER_KEY"] == keyring.store.get(2)
        assert fake.secrets["CLOUDMAKE_MASTER_KEY_VERSION"] == "2"
        last = rotation.invalidate()
        assert last["retired_versions"] == [1]
        assert binding_name(1) not in fake.secrets and keyring.store.get(1) is None
        assert "skipped" not in last
    _assert_invariants(open_keyring(engine, _settings(str(engine.url), tmp_path)), tokens, engine)
    with engine.connect() as conn:
        statuses = dict(conn.execute(select(master_key_versions.c.version, master_key_versions.c.status)).all())
        rows = timeline(conn, MASTER_ROTATION, first["rotation_id"])
    assert statuses == {1: "retired", 2: "active"}
    assert [(r["detail"]["step"], r["detail"]["phase"]) for r in rows] == [
        (step, phase) for step in ("generate", "reencrypt", "update_binding", "invalidate")
        for phase in ("started", "completed")]
    assert {r["actor"] for r in rows} == {"alice"} and {r["environment"] for r in rows} == {"production"}


def test_invalidate_refuses_while_a_row_uses_the_old_key_then_a_rerun_finishes(engine, tmp_path):
    keyring = open_keyring(engine, _settings(str(engine.url), tmp_path))
    _seed(keyring)
    rotation = MasterKeyRotation(keyring, environment="dev", actor="bob")
    rotation.generate()
    rotation.reencrypt()
    rotation.update_binding()
    # an application that still had the old key wrote one secret with it
    with engine.begin() as conn:
        conn.execute(secrets.update().where(secrets.c.name == "secret_0003").values(
            key_version=1, ciphertext=keyring.seal("secrets", "secret_0003", PLAIN["secret_0003"].encode(), 1)))
    with pytest.raises(RotationRefused, match="1 rows still use an older master key than v2"):
        rotation.invalidate()
    assert keyring.store.get(1) and keyring.get("secret_0003") == PLAIN["secret_0003"]
    results = rotation.run()
    assert results[1]["secrets"] == 1 and results[3]["retired_versions"] == [1]
    assert dict(keyring.items()) == PLAIN


def test_cloudflare_errors_are_clear_retries_honour_429_and_a_bad_token_changes_nothing(sqlite_url, tmp_path):
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    keyring = open_keyring(engine, _settings(sqlite_url, tmp_path))
    _seed(keyring)
    with FakeCloudflare() as fake:
        base = fake.api_url
        fake.fail_next(ANY, 429, headers={"retry-after": "0"})
        fake.fail_next(ANY, 503)
        _remote(fake, base).put("PROBE", "probe-value-1")
        assert fake.secrets["PROBE"] == "probe-value-1" and len(fake.requests) == 3
        bad = CloudflareWorkerSecrets(fake.account_id, fake.script, "wrong-token-abcdef", base_url=base)
        rotation = MasterKeyRotation(keyring, environment="dev", actor="eve", remotes=[bad])
        # a precondition now: refused before any key is generated (exit 2)
        with pytest.raises(RotationPrecondition, match=r"HTTP 403 \(10000: Authentication error\)") as raised:
            rotation.generate()
        assert "wrong-token-abcdef" not in str(raised.value) and keyring.store.get(2) is None
        missing = CloudflareWorkerSecrets(fake.account_id, "no-such-script", fake.token, base_url=base)
        with pytest.raises(CloudflareError, match="HTTP 404 .*script_not_found"):
            missing.names()
    with engine.connect() as conn:
        assert conn.execute(select(master_key_versions.c.version)).scalars().all() == [1]
        assert set(conn.execute(select(secrets.c.key_version)).scalars()) == {1}
    assert dict(keyring.items()) == PLAIN


def _cli(args, env):
    return subprocess.Popen([sys.executable, "-m", "cloudmake_pipelines.cli", "keys", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


#: How long a kill point may take to be reached. Generous on purpose: the CLI's start-up alone (imports,
#: settings, keyring) is seconds of CPU, several times more on a loaded 2-core machine (30 s was missed at
#: load 12). Waiting longer weakens nothing: the kill still lands exactly at the awaited event.
KILL_POINT_TIMEOUT = 300.0


def _kill_when(proc, condition, awaited: str, timeout=KILL_POINT_TIMEOUT):
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"finished before the kill point ({awaited}): {proc.communicate()[1][-1500:]}"
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"kill point never reached in {timeout:.0f}s: awaited {awaited}; "
                                 f"output: {''.join(proc.communicate())[-3000:]}")
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def test_sigkill_at_every_step_and_mid_batch_then_rerun_keeps_every_invariant(db_url, tmp_path):
    upgrade(db_url)
    engine = make_engine(db_url)
    with FakeCloudflare() as fake:
        base = fake.api_url
        extra = {"CLOUDFLARE_ACCOUNT_ID": fake.account_id, "CLOUDFLARE_WORKER_SCRIPT": fake.script,
                 "CLOUDFLARE_API_TOKEN": fake.token, "CLOUDFLARE_API_BASE": base}
        settings = _settings(db_url, tmp_path, **extra)
        keyring = open_keyring(engine, settings)
        tokens = _seed(keyring)
        bulk = {f"bulk_{i:05d}": f"bulk-value-{i}" for i in range(3000)}  # one row per transaction below:
        with engine.begin() as conn:  # seconds of re-encryption, so the kill lands mid-way
            conn.execute(secrets.insert(), [
                {"name": name, "format": "aes-256-gcm", "key_version": 1, "created_at": T, "updated_at": T,
                 "ciphertext": keyring.seal("secrets", name, value.encode(), 1)} for name, value in bulk.items()])
        plain = {**PLAIN, **bulk}
        env = {**os.environ, "DATABASE_URL": db_url, "CLOUDMAKE_STATE_DIR": str(tmp_path / "state"), **extra}
        args = ["rotate-master", "--confirm", "--batch-size", "1"]

        def on_new_key():
            with engine.connect() as conn:
                return conn.execute(select(func.count()).select_from(secrets)
                                    .where(secrets.c.key_version == 2)).scalar_one() > 0

        kill_points = [
            ("generate: key file written, publishing", lambda: fake.hold(fake.secret("PUT", binding_name(2)))),
            ("reencrypt: mid-batch", None),
            ("update_binding: publishing", lambda: fake.hold(fake.secret("PUT", "CLOUDMAKE_MASTER_KEY"))),
            ("invalidate: deleting the old key", lambda: fake.hold(fake.secret("DELETE", binding_name(1)))),
        ]
        for label, arm in kill_points:
            arrived = arm() if arm else None
            proc = _cli(args, env)
            _kill_when(proc, arrived.is_set if arrived else on_new_key,
                       f"{label} (a held request reached the fake)" if arrived else f"{label} (a secret on key v2)")
            fresh = KeyManagement(engine, _settings(db_url, tmp_path, **extra), actor="test")
            _assert_invariants(fresh.keyring, tokens, engine, plain)
            with engine.connect() as conn:
                left = conn.execute(select(func.count()).select_from(secrets)
                                    .where(secrets.c.key_version == 1)).scalar_one()
            if label.startswith("reencrypt"):
                assert 0 < left < len(plain), label
        done = _cli(args + ["--json"], env)
        out, err = done.communicate(timeout=600)  # the rest of 3,000 re-encryptions, on a loaded machine too
        assert done.returncode == 0, err[-2000:]
        fresh = KeyManagement(engine, _settings(db_url, tmp_path, **extra), actor="test")
        assert dict(fresh.keyring.items()) == plain
        health = fresh.keyring_health()
        assert health["failures"] == [] and health["not_on_active"] == 0 and health["active_version"] == 2
        assert binding_name(1) not in fake.secrets and fake.secrets["CLOUDMAKE_MASTER_KEY_VERSION"] == "2"
        signing = SigningKeys(fresh.keyring, environment="dev", actor="test")
        assert jwt.decode(tokens[0], options={"verify_signature": False})["sub"] == "user-1"
        assert JwksVerifier(signing.jwks).verify(tokens[0])["sub"] == "user-1"
        with engine.connect() as conn:
            steps = [(r["detail"]["step"], r["detail"]["phase"]) for r in timeline(conn, MASTER_ROTATION)]
        assert steps[-1] == ("invalidate", "completed") and len({r for r in steps}) == 8


def test_a_second_rotation_step_is_refused_while_one_runs(engine, tmp_path):
    import threading

    keyring = open_keyring(engine, _settings(str(engine.url), tmp_path))
    with FakeCloudflare() as fake:
        base = fake.api_url
        arrived = fake.hold(fake.secret("PUT", binding_name(2)))
        first = MasterKeyRotation(keyring, environment="dev", actor="a", remotes=[_remote(fake, base)])
        results = []
        thread = threading.Thread(target=lambda: results.append(_capture(first.generate)), daemon=True)
        thread.start()
        assert arrived.wait(30)
        second = MasterKeyRotation(keyring, environment="dev", actor="b")
        with pytest.raises(RotationRefused, match="another master-key rotation step is running"):
            second.generate()
        fake.release()
        thread.join(30)
    assert not thread.is_alive() and results[0]["to_version"] == 2 and "skipped" not in results[0]
    assert second.generate()["skipped"]  # once the first finished, the lock is free again


def _capture(call):
    try:
        return call()
    except Exception as exc:
        return exc


def test_a_wrong_old_key_in_the_binding_stops_reencrypt_before_anything_changes(engine, tmp_path):
    from cloudmake_pipelines.keys import MasterKeyError
    from cloudmake_pipelines.keys.binding import LocalKeyStore, new_key_material
    from cloudmake_pipelines.keys.keyring import Keyring

    keyring = open_keyring(engine, _settings(str(engine.url), tmp_path))
    _seed(keyring)
    MasterKeyRotation(keyring, environment="dev", actor="a").generate()
    wrong = Keyring(engine, LocalKeyStore(keyring.store.key_file, {binding_name(1): new_key_material()}))
    with pytest.raises(MasterKeyError, match="master key v1 .* is not the key this database was sealed with"):
        MasterKeyRotation(wrong, environment="dev", actor="a").reencrypt()
    with engine.connect() as conn:
        statuses = dict(conn.execute(select(master_key_versions.c.version, master_key_versions.c.status)).all())
        assert set(conn.execute(select(secrets.c.key_version)).scalars()) == {1}
    assert statuses == {1: "active", 2: "next"}
    assert MasterKeyRotation(keyring, environment="dev", actor="a").run()[3]["retired_versions"] == [1]
    assert dict(keyring.items()) == PLAIN


@pytest.fixture
def keys_cli(monkeypatch, cloudmake_main):
    """``keys_cli(db_url)``: runs ``cloudmake keys ...`` on that database, in process (see ``cloudmake_main``)."""

    def on(db_url):
        monkeypatch.setenv("DATABASE_URL", db_url)
        return lambda *args: cloudmake_main("keys", *args)

    return on


def _rotation_rows(engine):
    with engine.connect() as conn:
        versions = dict(conn.execute(select(master_key_versions.c.version, master_key_versions.c.status)).all())
        from cloudmake_pipelines.keys import state

        return versions, state.current(conn, "master")


def test_a_missing_key_file_fails_before_anything_is_generated_then_the_restored_file_rotates(
        engine, tmp_path, keys_cli):
    url = engine.url.render_as_string(hide_password=False)
    keyring = open_keyring(engine, _settings(url, tmp_path))
    _seed(keyring)
    key_file = keyring.store.key_file
    backup = key_file.read_bytes()
    key_file.unlink()
    run = keys_cli(url)
    failed = run("rotate-master", "--confirm")
    assert failed.returncode == 2, failed.stderr
    assert "the master-key rotation cannot start: master key v1 is not available" in failed.stderr
    assert "Nothing was generated" in failed.stderr and "Traceback" not in failed.stderr
    assert not key_file.exists()  # no fresh v2 saved to a new key file
    assert _rotation_rows(engine) == ({1: "active"}, None)
    key_file.write_bytes(backup)
    key_file.chmod(0o600)
    rotated = run("rotate-master", "--confirm")
    assert rotated.returncode == 0, rotated.stderr
    assert _rotation_rows(engine) == ({1: "retired", 2: "active"}, None)
    assert dict(open_keyring(engine, _settings(url, tmp_path)).items()) == PLAIN


def test_an_unreachable_remote_binding_fails_before_anything_is_generated(sqlite_url, tmp_path):
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    keyring = open_keyring(engine, _settings(sqlite_url, tmp_path))
    with FakeCloudflare() as fake:
        remote = _remote(fake, fake.api_url)
    # the server is gone now: connecting is refused
    rotation = MasterKeyRotation(keyring, environment="dev", actor="a", remotes=[remote])
    with pytest.raises(RotationPrecondition, match="the remote binding is unreachable"):
        rotation.generate()
    assert keyring.store.get(2) is None and _rotation_rows(engine) == ({1: "active"}, None)


def test_an_abandoned_rotation_is_aborted_with_an_audit_row_then_runs_again_cleanly(engine, tmp_path, keys_cli):
    url = engine.url.render_as_string(hide_password=False)
    keyring = open_keyring(engine, _settings(url, tmp_path))
    tokens = _seed(keyring)
    with FakeCloudflare() as fake:
        base = fake.api_url
        abandoned = MasterKeyRotation(keyring, environment="dev", actor="a", remotes=[_remote(fake, base)]).generate()
        assert binding_name(2) in fake.secrets
        aborted = MasterKeyRotation(keyring, environment="dev", actor="b", remotes=[_remote(fake, base)]).abort()
        assert binding_name(2) not in fake.secrets  # the unused key left the Worker too
    assert aborted["dropped_version"] == 2 and aborted["rotation_id"] == abandoned["rotation_id"]
    assert keyring.store.get(2) is None and _rotation_rows(engine) == ({1: "active"}, None)
    with engine.connect() as conn:
        rows = timeline(conn, MASTER_ROTATION, abandoned["rotation_id"])
    assert [(r["detail"]["step"], r["detail"]["phase"]) for r in rows][-1] == ("abort", "completed")
    assert rows[-1]["actor"] == "b" and rows[-1]["detail"]["step_reached"] == "generated"

    run = keys_cli(url)
    nothing = run("rotate-master", "--abort")
    assert nothing.returncode == 1
    assert "no master-key rotation is in progress: there is nothing to abort" in nothing.stderr
    rotated = run("rotate-master", "--confirm", "--json")
    assert rotated.returncode == 0, rotated.stderr
    assert [(r["step"], r["to_version"]) for r in json.loads(rotated.stdout)][0] == ("generate", 2)
    _assert_invariants(open_keyring(engine, _settings(url, tmp_path)), tokens, engine)
    assert _rotation_rows(engine) == ({1: "retired", 2: "active"}, None)


def test_abort_is_refused_once_the_writing_key_switched_and_the_cli_says_to_resume(sqlite_url, tmp_path, keys_cli):
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    keyring = open_keyring(engine, _settings(sqlite_url, tmp_path))
    _seed(keyring)
    rotation = MasterKeyRotation(keyring, environment="dev", actor="a")
    rotation.generate()
    rotation.reencrypt()
    run = keys_cli(sqlite_url)
    refused = run("rotate-master", "--abort")
    assert refused.returncode == 1
    assert "cannot be aborted; resume it with `cloudmake keys rotate-master --confirm`" in refused.stderr
    assert keyring.store.get(2) and _rotation_rows(engine)[0] == {1: "previous", 2: "active"}
    assert run("rotate-master", "--abort", "--step", "generate").returncode == 2
    assert run("rotate-master", "--confirm").returncode == 0
    assert dict(keyring.items()) == PLAIN
