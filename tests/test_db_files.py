"""The embedded database at rest: state directory 0700, database file and its WAL/SHM 0600 (os.stat)."""

import logging
import os
import stat

from sqlalchemy import text

from cloudmake_pipelines.db import make_engine
from cloudmake_pipelines.db.migrate import upgrade
from cloudmake_pipelines.db.types import utcnow
from cloudmake_pipelines.keys import audit


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_state_directory_and_database_are_private(tmp_path):
    os.umask(0o022)  # the usual umask: without the fix the directory is 0755 and the files 0644
    state = tmp_path / "state"
    db = state / "cloudmake.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("SELECT 1"))
        assert mode(db.with_name("cloudmake.db-wal")) == 0o600
        assert mode(db.with_name("cloudmake.db-shm")) == 0o600
    engine.dispose()
    assert mode(state) == 0o700
    assert mode(db) == 0o600


def test_loose_modes_are_tightened_with_a_warning(tmp_path, caplog):
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    db = state / "cloudmake.db"
    make_engine(f"sqlite:///{db}").dispose()
    db.chmod(0o644)
    db.with_name("cloudmake.db-wal").write_bytes(b"")
    db.with_name("cloudmake.db-wal").chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="cloudmake.db"):
        make_engine(f"sqlite:///{db}").dispose()
    assert (mode(state), mode(db), mode(db.with_name("cloudmake.db-wal"))) == (0o700, 0o600, 0o600)
    warned = [r.getMessage() for r in caplog.records]
    assert "the state directory was readable by other users: tightened" in warned
    assert "the database file was readable by other users: tightened" in warned


def test_an_existing_directory_of_another_database_name_is_left_alone(tmp_path):
    tmp_path.chmod(0o755)
    make_engine(f"sqlite:///{tmp_path / 'other.db'}").dispose()
    assert mode(tmp_path) == 0o755 and mode(tmp_path / "other.db") == 0o600


def test_audit_detail_and_actor_are_redacted(engine):
    token = "ghp_" + "Z9y8X7w6V5" * 4
    with engine.begin() as conn:
        audit.record(conn, "test_op", actor=f"cli:{token}", environment="dev", at=utcnow(),
                     reason=f"pasted {token}")
        row = conn.execute(text("SELECT actor FROM admin_audit_logs")).one()
        detail = audit.timeline(conn, "test_op")[0]["detail"]
    assert row.actor == "cli:[REDACTED]" and detail == {"reason": "pasted [REDACTED]"}
