"""The keyring: AES-256-GCM bound to its row, versioned master keys, pgcrypto on PostgreSQL, env bindings."""

import os
import stat

import pytest
from sqlalchemy import select, update

from cloudmake_pipelines.db.tables import master_key_versions, secrets
from cloudmake_pipelines.keys import DecryptionFailed, MasterKeyError, SecretNotFound, open_keyring
from cloudmake_pipelines.keys.binding import LocalKeyStore, binding_name, new_key_material
from cloudmake_pipelines.keys.config import KeysConfig
from cloudmake_pipelines.keys.keyring import Keyring
from cloudmake_pipelines.logs import redactor
from cloudmake_pipelines.settings import load_settings


def _settings(url, tmp_path, **environ):
    return load_settings({"DATABASE_URL": url, "CLOUDMAKE_STATE_DIR": str(tmp_path / "state"), **environ})


def test_put_get_names_items_delete(engine, tmp_path):
    keyring = open_keyring(engine, _settings(str(engine.url), tmp_path))
    keyring.put("b_token", "value-of-b-123")  # secretscan:allow (test fixture)
    keyring.put("a_token", "value-of-a-456")  # secretscan:allow (test fixture)
    keyring.put("b_token", "value-of-b-789")  # replace secretscan:allow
    assert keyring.get("b_token") == "value-of-b-789"
    assert keyring.names() == ["a_token", "b_token"]
    assert list(keyring.items()) == [("a_token", "value-of-a-456"), ("b_token", "value-of-b-789")]  # secretscan:allow (test fixture)
    assert redactor("leak value-of-a-456") == "leak [REDACTED]"
    with engine.connect() as conn:
        stored = conn.execute(select(secrets.c.ciphertext, secrets.c.key_version, secrets.c.format)).all()
    assert all(b"value-of" not in bytes(row.ciphertext) for row in stored)
    assert {(row.key_version, row.format) for row in stored} == {(1, "aes-256-gcm")}
    keyring.delete("a_token")
    keyring.delete("a_token")
    with pytest.raises(SecretNotFound, match="'a_token' is not in the keyring") as raised:
        keyring.get("a_token")
    assert isinstance(raised.value, KeyError)


def test_ciphertext_copied_to_another_row_does_not_decrypt(engine, tmp_path):
    keyring = open_keyring(engine, _settings(str(engine.url), tmp_path))
    keyring.put("first", "first-secret-value")
    keyring.put("second", "second-secret-value")
    with engine.begin() as conn:
        blob = conn.execute(select(secrets.c.ciphertext).where(secrets.c.name == "first")).scalar_one()
        conn.execute(update(secrets).where(secrets.c.name == "second").values(ciphertext=blob))
    with pytest.raises(DecryptionFailed, match="'second' does not decrypt"):
        keyring.get("second")
    assert keyring.get("first") == "first-secret-value"


def test_key_file_is_0600_and_a_wrong_or_missing_key_is_a_clear_error_that_changes_nothing(engine, tmp_path):
    settings = _settings(str(engine.url), tmp_path)
    keyring = open_keyring(engine, settings)
    keyring.put("token", "original-value-1")
    key_file = KeysConfig.from_settings(settings).key_file
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with engine.connect() as conn:
        before = conn.execute(select(secrets)).all()
    wrong = Keyring(engine, LocalKeyStore(key_file, {binding_name(1): new_key_material()}))
    with pytest.raises(MasterKeyError, match="v1 .* is not the key this database was sealed with"):
        wrong.get("token")
    with pytest.raises(MasterKeyError):
        wrong.put("token", "new-value-123")
    missing = Keyring(engine, LocalKeyStore(tmp_path / "nowhere.json", {}))
    with pytest.raises(MasterKeyError, match=r"master key v1 is not available: set \$CLOUDMAKE_MASTER_KEY_V1"):
        missing.put("other", "other-value-1")
    with engine.connect() as conn:
        assert conn.execute(select(secrets)).all() == before
    os.chmod(key_file, 0o644)
    with pytest.raises(Exception, match="mode 0644: expected 0600"):
        Keyring(engine, LocalKeyStore(key_file, {})).get("token")


def test_env_var_binding_wins_over_the_key_file(engine, tmp_path):
    settings = _settings(str(engine.url), tmp_path)
    keyring = open_keyring(engine, settings)
    keyring.put("token", "env-binding-value")
    key_file = KeysConfig.from_settings(settings).key_file
    material = LocalKeyStore(key_file, {}).get(1)
    key_file.unlink()
    from_env = Keyring(engine, LocalKeyStore(key_file, {binding_name(1): material}))
    assert from_env.get("token") == "env-binding-value"


@pytest.mark.postgres
def test_pgcrypto_format_on_postgres_reads_back_in_sql(pg_engine, tmp_path):
    settings = _settings(str(pg_engine.url), tmp_path, CLOUDMAKE_SECRETS_FORMAT="pgcrypto")
    config = KeysConfig.from_settings(settings)
    keyring = open_keyring(pg_engine, settings, config=config)
    keyring.put("pg_secret", "pgcrypto-value-42")
    assert keyring.get("pg_secret") == "pgcrypto-value-42"
    passphrase = keyring.store.get(1)
    with pg_engine.connect() as conn:
        row = conn.execute(select(secrets.c.format, secrets.c.key_version)).one()
        # what an application reading with pgcrypto does: the key is a bind parameter
        plain = conn.exec_driver_sql("SELECT pgp_sym_decrypt(ciphertext, %(k)s) FROM secrets",
                                     {"k": passphrase}).scalar_one()
    assert tuple(row) == ("pgcrypto", 1) and plain == "pgcrypto-value-42"
    with pg_engine.begin() as conn:
        conn.execute(update(master_key_versions).values(fingerprint="0" * 64))
    wrong = Keyring(pg_engine, LocalKeyStore(tmp_path / "x.json", {binding_name(1): new_key_material()}),
                    secrets_format="pgcrypto")
    with pytest.raises(MasterKeyError) as raised:
        wrong.get("pg_secret")
    assert passphrase not in str(raised.value)


def test_pgcrypto_is_refused_on_sqlite(sqlite_url, tmp_path):
    with pytest.raises(Exception, match="pgcrypto needs PostgreSQL"):
        KeysConfig.from_settings(_settings(sqlite_url, tmp_path, CLOUDMAKE_SECRETS_FORMAT="pgcrypto"))


@pytest.mark.postgres
def test_master_rotation_reencrypts_pgcrypto_rows_in_sql(pg_engine, tmp_path):
    from cloudmake_pipelines.keys.master import MasterKeyRotation

    settings = _settings(str(pg_engine.url), tmp_path, CLOUDMAKE_SECRETS_FORMAT="pgcrypto")
    keyring = open_keyring(pg_engine, settings, config=KeysConfig.from_settings(settings))
    for i in range(5):
        keyring.put(f"pg_{i}", f"pgcrypto-value-{i}")
    results = MasterKeyRotation(keyring, environment="dev", actor="t", batch_size=2).run()
    assert results[1]["secrets"] == 5 and results[3]["retired_versions"] == [1]
    assert dict(keyring.items()) == {f"pg_{i}": f"pgcrypto-value-{i}" for i in range(5)}
    with pg_engine.connect() as conn:
        plain = conn.exec_driver_sql("SELECT pgp_sym_decrypt(ciphertext, %(k)s) FROM secrets ORDER BY name",
                                     {"k": keyring.store.get(2)}).scalars().all()
        versions = set(conn.execute(select(secrets.c.key_version)).scalars())
    assert plain == [f"pgcrypto-value-{i}" for i in range(5)] and versions == {2}
