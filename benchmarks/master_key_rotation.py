"""Master-key rotation of 100,000 secrets on PostgreSQL, with a reader decrypting secrets the whole time.

    .venv/bin/python benchmarks/master_key_rotation.py [--rows 100000] [--peer-seconds 20]

Measured in one run, on a fresh database at TEST_DATABASE_URL (default postgres@127.0.0.1:5432):
* ours: the rotation as shipped (batches of 1,000 rows per transaction, bulk UPDATE), v1 -> v2;
* peer: the naive way, one row per transaction (the same code with batch size 1), v2 -> v3, stopped
  after --peer-seconds and extrapolated from the rows it did; the rotation is then resumed in batches
  (so the run also shows a rotation interrupted mid-way and finished);
* a reader process decrypting random batches of 100 secrets throughout, counting its failures.
Prints rows/s for each and the ratio, and the reader's decrypts and failures (the goal is zero).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from sqlalchemy import insert, select
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloudmake_pipelines.db import make_engine  # noqa: E402
from cloudmake_pipelines.db.migrate import upgrade  # noqa: E402
from cloudmake_pipelines.db.tables import secrets  # noqa: E402
from cloudmake_pipelines.db.types import utcnow  # noqa: E402
from cloudmake_pipelines.keys.binding import LocalKeyStore  # noqa: E402
from cloudmake_pipelines.keys.keyring import Keyring, open_keyring  # noqa: E402
from cloudmake_pipelines.keys.master import MasterKeyRotation  # noqa: E402
from cloudmake_pipelines.keys.service import KeyManagement  # noqa: E402
from cloudmake_pipelines.settings import load_settings  # noqa: E402

SERVER = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


class PeerStopped(Exception):
    pass


def reader(url: str, key_file: str, rows: int, stop, ready, counts) -> None:
    """Decrypt random batches of 100 secrets until ``stop``; count successes and failures."""
    engine = make_engine(url)
    keyring = Keyring(engine, LocalKeyStore(Path(key_file)))
    rng = random.Random(1)
    ok = failed = 0
    errors: list[str] = []
    while not stop.is_set():
        names = [f"secret_{rng.randrange(rows):06d}" for _ in range(100)]
        try:
            with engine.connect() as conn:
                batch = conn.execute(select(secrets.c.name, secrets.c.format, secrets.c.key_version,
                                            secrets.c.ciphertext).where(secrets.c.name.in_(names))).all()
                for row in batch:
                    try:
                        if keyring.decrypt_row(conn, row) != f"value-{row.name}":
                            raise ValueError(f"{row.name} decrypted to the wrong value")
                        ok += 1
                    except Exception as exc:  # a failure is what we measure: record it and go on
                        failed += 1
                        errors.append(f"{type(exc).__name__}: {exc}"[:200])
        except Exception as exc:
            failed += 1
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
        ready.set()
    counts.update(ok=ok, failed=failed, errors=errors[:5])
    engine.dispose()


def with_reader(url, key_file, rows, action):
    ctx = mp.get_context("spawn")
    manager = ctx.Manager()
    stop, ready, counts = ctx.Event(), ctx.Event(), manager.dict()
    proc = ctx.Process(target=reader, args=(url, key_file, rows, stop, ready, counts))
    proc.start()
    if not ready.wait(120):  # the reader is up and decrypting before the rotation starts
        raise RuntimeError("the reader process did not start decrypting within 120 s")
    try:
        result = action()
    finally:
        stop.set()
        proc.join(60)
    return result, dict(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--peer-seconds", type=float, default=20.0)
    args = parser.parse_args()

    name = f"cm_bench_{uuid.uuid4().hex[:10]}"
    libpq = make_url(SERVER).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    state = tempfile.mkdtemp(prefix="cm_bench_keys_")
    try:
        upgrade(url)
        engine = make_engine(url)
        settings = load_settings({"DATABASE_URL": url, "CLOUDMAKE_STATE_DIR": state})
        keyring = open_keyring(engine, settings)
        started = time.perf_counter()
        now = utcnow()
        for chunk in range(0, args.rows, 5000):
            batch = [{"name": f"secret_{i:06d}", "format": "aes-256-gcm", "key_version": 1,
                      "ciphertext": keyring.seal("secrets", f"secret_{i:06d}", f"value-secret_{i:06d}".encode(), 1),
                      "created_at": now, "updated_at": now} for i in range(chunk, min(chunk + 5000, args.rows))]
            with engine.begin() as conn:
                conn.execute(insert(secrets), batch)
        print(f"seeded {args.rows:,} secrets in {time.perf_counter() - started:.1f} s (not measured)")
        key_file = str(KeyManagement(engine, settings, actor="bench").config.key_file)

        def ours():
            rotation = MasterKeyRotation(keyring, environment="dev", actor="bench", batch_size=1000)
            rotation.generate()
            t0 = time.perf_counter()
            moved = rotation.reencrypt()["secrets"]
            elapsed = time.perf_counter() - t0
            rotation.update_binding()
            rotation.invalidate()
            return moved, elapsed

        (moved, elapsed), ours_reader = with_reader(url, key_file, args.rows, ours)
        ours_rate = moved / elapsed
        print(f"ours  (1,000 rows/transaction): {moved:,} rows in {elapsed:.1f} s = {ours_rate:,.0f} rows/s; "
              f"reader: {ours_reader['ok']:,} decrypts, {ours_reader['failed']} failures {ours_reader['errors']}")

        def peer():
            deadline = time.perf_counter() + args.peer_seconds
            done = [0]

            def stop_after(moved_so_far, _total):
                done[0] = moved_so_far
                if time.perf_counter() > deadline:
                    raise PeerStopped

            rotation = MasterKeyRotation(keyring, environment="dev", actor="bench", batch_size=1,
                                         on_batch=stop_after)
            rotation.generate()
            t0 = time.perf_counter()
            try:
                rotation.reencrypt()
            except PeerStopped:
                pass
            elapsed = time.perf_counter() - t0
            resumed = MasterKeyRotation(keyring, environment="dev", actor="bench", batch_size=1000)
            rest = resumed.reencrypt()["secrets"]
            resumed.update_binding()
            resumed.invalidate()
            return done[0], elapsed, rest

        (peer_rows, peer_elapsed, rest), peer_reader = with_reader(url, key_file, args.rows, peer)
        peer_rate = peer_rows / peer_elapsed
        print(f"peer  (1 row/transaction):      {peer_rows:,} rows in {peer_elapsed:.1f} s = {peer_rate:,.0f} rows/s "
              f"(stopped, then resumed in batches: {rest:,} more rows); reader: {peer_reader['ok']:,} decrypts, "
              f"{peer_reader['failed']} failures {peer_reader['errors']}")
        print(f"ratio ours/peer: {ours_rate / peer_rate:.1f}x")
        health = KeyManagement(engine, settings, actor="bench").keyring_health()
        print(f"after both rotations: {health['secrets']:,} secrets, {len(health['failures'])} failing, "
              f"all on v{health['active_version']}: {health['not_on_active'] == 0}")
        engine.dispose()
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
