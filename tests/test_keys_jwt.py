"""JWT signing keys: next/active/grace/retired, JWKS checked with joserfc, the due evaluation, audit, SIGKILL."""

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from joserfc import jwt as jose_jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet
from sqlalchemy import func, select

from cloudmake_pipelines.db import make_engine
from cloudmake_pipelines.db.migrate import upgrade
from cloudmake_pipelines.db.tables import signing_keys
from cloudmake_pipelines.keys import open_keyring
from cloudmake_pipelines.keys.audit import JWT_ROTATION, timeline
from cloudmake_pipelines.keys.jwk import JwksVerifier
from cloudmake_pipelines.keys.service import KeyManagement
from cloudmake_pipelines.keys.signing import SigningKeys
from cloudmake_pipelines.settings import load_settings

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def _signing(engine, tmp_path, clock, algorithm="ES256"):
    settings = load_settings({"DATABASE_URL": str(engine.url), "CLOUDMAKE_STATE_DIR": str(tmp_path / "state")})
    keyring = open_keyring(engine, settings, clock=clock)
    return SigningKeys(keyring, environment="production", actor="scheduler", algorithm=algorithm)


def _joserfc_verifies(jwks, token, algorithm):
    try:
        jose_jwt.decode(token, KeySet.import_key_set(jwks), algorithms=[algorithm])
        return True
    except (BadSignatureError, ValueError):
        return False


def test_rotation_lifecycle_grace_then_retired(engine, tmp_path):
    clock = Clock(T0)
    signing = _signing(engine, tmp_path, clock)
    first = signing.rotate()  # nothing yet: due at once
    assert first["rotated"] and first["old_kid"] is None
    jwks = signing.jwks()
    assert [k["kid"] for k in jwks["keys"]] == [first["new_kid"], first["next_kid"]]  # next published already
    old_token = signing.sign({"sub": "u1"})
    assert jwt.get_unverified_header(old_token)["kid"] == first["new_kid"]

    clock.now = T0 + timedelta(days=89, hours=23)
    assert signing.rotate() == {"rotated": False, "retired": [], "active_kid": first["new_kid"],
                                "due_at": (T0 + timedelta(days=90)).isoformat()}
    clock.now = T0 + timedelta(days=90, hours=3)
    due = signing.due()
    assert due.is_due and due.run_key == "jwt-rotation-2026-04-01"
    second = signing.rotate()
    assert (second["old_kid"], second["new_kid"]) == (first["new_kid"], first["next_kid"])
    new_token = signing.sign({"sub": "u2"})
    verifier = JwksVerifier(signing.jwks, cache_seconds=0)
    assert verifier.verify(old_token)["sub"] == "u1" and verifier.verify(new_token)["sub"] == "u2"
    statuses = {k["kid"]: k["status"] for k in signing.keys()}
    assert statuses == {first["new_kid"]: "grace", second["new_kid"]: "active", second["next_kid"]: "next"}

    clock.now = T0 + timedelta(days=97, hours=2, seconds=59)  # grace ends 7 days after the rotation
    assert verifier.verify(old_token)["sub"] == "u1"
    clock.now = T0 + timedelta(days=97, hours=3, seconds=1)
    with pytest.raises(jwt.InvalidTokenError, match="no published key has kid"):
        verifier.verify(old_token)
    assert signing.expired_grace() == [first["new_kid"]]
    assert signing.rotate()["retired"] == [first["new_kid"]]
    assert verifier.verify(new_token)["sub"] == "u2"
    health = signing.health()
    assert health["active_keys"] == 1 and health["within_window"] and health["expired_grace"] == []
    with engine.connect() as conn:
        rows = timeline(conn, JWT_ROTATION)
        active = conn.execute(select(func.count()).select_from(signing_keys)
                              .where(signing_keys.c.status == "active")).scalar_one()
    assert active == 1
    completed = [r for r in rows if r["detail"]["phase"] == "completed"]
    assert completed[-1]["detail"]["old_kid"] == first["new_kid"]
    assert completed[-1]["detail"]["new_kid"] == second["new_kid"]
    assert completed[-1]["environment"] == "production" and completed[-1]["actor"] == "scheduler"
    assert completed[-1]["detail"]["started_at"] and completed[-1]["detail"]["ended_at"]
    assert rows[-1]["detail"] == {"phase": "retired", "retired_kids": [first["new_kid"]]}
    clock.now = T0 + timedelta(days=90 + 90 + 1, hours=3, seconds=1)
    assert not signing.health()["within_window"]


def test_a_second_concurrent_rotation_is_refused_and_changes_nothing(engine, tmp_path):
    from cloudmake_pipelines.db.locks import exclusive
    from cloudmake_pipelines.keys.master import RotationRefused

    signing = _signing(engine, tmp_path, Clock(T0))
    signing.rotate()
    before = signing.keys()
    with exclusive(engine, "jwt-rotation"):  # another process's rotation, mid-way
        with pytest.raises(RotationRefused, match="another JWT signing-key rotation is running"):
            signing.rotate(force=True)
    assert signing.keys() == before
    assert signing.rotate(force=True)["rotated"]  # the lock is free again


@pytest.mark.parametrize("algorithm", ["ES256", "RS256", "EdDSA"])
def test_jwks_verifies_with_joserfc_an_independent_jose_implementation(sqlite_url, tmp_path, algorithm):
    upgrade(sqlite_url)
    signing = _signing(make_engine(sqlite_url), tmp_path, Clock(T0), algorithm)
    signing.rotate(force=True)
    token = signing.sign({"sub": "u1", "iat": 1})
    jwks = signing.jwks()
    assert {k["alg"] for k in jwks["keys"]} == {algorithm} and all("d" not in k for k in jwks["keys"])
    assert _joserfc_verifies(jwks, token, algorithm)
    for jwk in jwks["keys"]:  # kid is the RFC 7638 thumbprint, as joserfc computes it
        assert KeySet.import_key_set({"keys": [jwk]}).keys[0].thumbprint() == jwk["kid"]
    token_claims = jose_jwt.decode(token, KeySet.import_key_set(jwks), algorithms=[algorithm]).claims
    assert token_claims["sub"] == "u1"
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert not _joserfc_verifies(jwks, tampered, algorithm)
    with pytest.raises(jwt.InvalidTokenError):
        JwksVerifier(signing.jwks).verify(tampered)


def test_verifier_refetches_once_for_an_unknown_kid_like_pyjwkclient(sqlite_url, tmp_path):
    upgrade(sqlite_url)
    signing = _signing(make_engine(sqlite_url), tmp_path, Clock(T0))
    signing.rotate(force=True)
    fetches = []
    verifier = JwksVerifier(lambda: fetches.append(1) or signing.jwks(), cache_seconds=3600)
    verifier.verify(signing.sign({"sub": "a"}))
    signing.rotate(force=True)  # the next key (already fetched) now signs: no refetch needed
    verifier.verify(signing.sign({"sub": "b"}))
    assert len(fetches) == 1
    signing.rotate(force=True)  # now a key that was not in the first fetch signs: one refetch
    verifier.verify(signing.sign({"sub": "c"}))
    assert len(fetches) == 2
    with pytest.raises(jwt.InvalidTokenError, match="no 'kid' header"):
        verifier.verify(jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256"))


def test_sigkill_of_jwt_rotation_at_random_points_keeps_one_active_key_and_valid_tokens(sqlite_url, tmp_path):
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    env = {**os.environ, "DATABASE_URL": sqlite_url, "CLOUDMAKE_STATE_DIR": str(tmp_path / "state"),
           "CLOUDMAKE_JWT_ALGORITHM": "RS256"}
    keys = KeyManagement(engine, load_settings(env), actor="test")
    keys.signing_keys().rotate(force=True)
    tokens = [keys.signing_keys().sign({"sub": "before"})]
    command = [sys.executable, "-m", "cloudmake_pipelines.cli", "keys", "rotate-jwt", "--confirm"]
    rng = random.Random(7)
    for _ in range(4):
        with engine.connect() as conn:
            before = len(timeline(conn, JWT_ROTATION))
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:  # the rotation's first audit row
            with engine.connect() as conn:
                if len(timeline(conn, JWT_ROTATION)) > before:
                    break
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.3))  # RSA key generation and three transactions follow
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        signing = keys.signing_keys()
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(signing_keys)
                                .where(signing_keys.c.status == "active")).scalar_one() == 1
        verifier = JwksVerifier(signing.jwks)
        for token in tokens:  # none of these keys is past its grace yet
            assert verifier.verify(token)
        tokens.append(signing.sign({"sub": "between"}))
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(signing_keys)
                            .where(signing_keys.c.status == "next")).scalar_one() == 1
    verifier = JwksVerifier(keys.signing_keys().jwks)
    assert all(verifier.verify(token) for token in tokens)
    assert keys.signing_keys().health()["active_keys"] == 1
