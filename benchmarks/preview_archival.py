"""Preview archival at scale on PostgreSQL: 1,000,000 environments, 100,000 of them expired previews.

Measures, in one run, on a database of its own (created here, dropped at the end):

* the archival run (``Archiver.run``: one set-based UPDATE on NOW(), then the counts) archiving 100,000;
* the no-op second run (nothing expired): median of 5, right after archival (the archived rows are still
  dead entries of the partial index) and after VACUUM (what autovacuum does within about a minute: 0006
  sets its threshold to 1% of the table; autovacuum is off during the measurement to keep it repeatable);
* peers measured in the same run: a row-by-row loop (one UPDATE per environment) on a 10,000 sample,
  and the same runs with the foundation's (kind, ttl_expires_at) index instead of the partial expiry
  index (what 0001 had; 0006 replaces it), and with no index on ``environments`` but the primary key.

The data: expired previews (half with a past TTL, half with no TTL and created > 72 h ago), active
previews (``--active``, default 100,000; half with a future TTL, half created < 72 h ago with no TTL)
and archived history making up the rest of the 1,000,000.

    .venv/bin/python benchmarks/preview_archival.py [--total 1000000] [--expired 100000] [--active 100000]

Needs PostgreSQL at BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloudmake_pipelines.db import make_engine  # noqa: E402
from cloudmake_pipelines.db.migrate import upgrade  # noqa: E402
from cloudmake_pipelines.previews import Archiver, DatabaseClock, neon_provider  # noqa: E402
from cloudmake_pipelines.previews.archive import archive_expired  # noqa: E402
from cloudmake_pipelines.previews.cleanup import holds_any  # noqa: E402

SERVER_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
EXPIRY_INDEX = "ix_environments_ttl_expires_at_created_at"
KIND_INDEX = "ix_environments_kind_ttl_expires_at"
NO_OP_REPEATS = 5


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def scratch_database():
    name = f"cm_bench_previews_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_libpq(SERVER_URL), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(SERVER_URL), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def load(engine, total: int, expired: int, active: int) -> None:
    history = total - expired - active
    half_e, half_a = expired // 2, active // 2
    with engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO environments (id, name, kind, created_at, ttl_expires_at, archived_at, cleanup_status)
            SELECT 'exp-' || g, 'preview ' || g, 'preview',
                   CASE WHEN g <= :half_e THEN now() - interval '2 hours' ELSE now() - interval '73 hours'
                        - (g % 5000) * interval '1 minute' END,
                   CASE WHEN g <= :half_e THEN now() - (g % 10000 + 1) * interval '1 minute' END,
                   NULL::timestamptz, NULL::text
            FROM generate_series(1, :expired) g
            UNION ALL
            SELECT 'act-' || g, 'preview ' || g, 'preview',
                   now() - (g % 4000) * interval '1 minute',
                   CASE WHEN g <= :half_a THEN now() + (g % 10000 + 1) * interval '1 minute' END, NULL, NULL
            FROM generate_series(1, :active) g
            UNION ALL
            SELECT 'old-' || g, 'preview ' || g, 'archived', now() - interval '200 days',
                   now() - interval '197 days', now() - interval '196 days', 'freed'
            FROM generate_series(1, :history) g
        """), {"half_e": half_e, "half_a": half_a, "expired": expired, "active": active, "history": history})
    vacuum(engine)


def vacuum(engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE environments"))


def restore(engine) -> None:
    """Put the expired previews back as they were (active, no cleanup state); forget recorded runs."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE environments SET kind = 'preview', archived_at = NULL, cleanup_status = NULL, "
                          "cleanup_updated_at = NULL WHERE id LIKE 'exp-%' AND kind = 'archived'"))
        conn.execute(text("DELETE FROM preview_archival_runs"))
    vacuum(engine)


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return (time.perf_counter() - started) * 1000, result


def archive_statement(engine) -> list[str]:
    """Only the archival transaction (the UPDATE on NOW()), without the run's counts and bookkeeping."""
    with engine.begin() as conn:
        return archive_expired(conn, DatabaseClock(), holds_any([neon_provider(None)]))


def median_ms(fn) -> float:
    return statistics.median(timed(fn)[0] for _ in range(NO_OP_REPEATS))


def measure_runs(engine, label: str, expected: int) -> dict[str, float]:
    archiver = Archiver(engine, [neon_provider(None)])
    archive_ms, report = timed(archiver.run)
    assert len(report.archived) == expected and report.expired_remaining == 0, (label, len(report.archived))
    figures = {"archive_ms": archive_ms, "noop_ms": median_ms(archiver.run),
               "noop_statement_ms": median_ms(lambda: archive_statement(engine))}
    vacuum(engine)
    figures |= {"noop_vacuumed_ms": median_ms(archiver.run),
                "noop_statement_vacuumed_ms": median_ms(lambda: archive_statement(engine))}
    print(f"{label:<36} archival run ({expected:,} archived): {archive_ms:9.1f} ms\n"
          f"{'':<36} no-op run: {figures['noop_ms']:8.2f} ms (its UPDATE alone {figures['noop_statement_ms']:7.2f} ms); "
          f"after VACUUM {figures['noop_vacuumed_ms']:8.2f} ms ({figures['noop_statement_vacuumed_ms']:7.2f} ms)",
          flush=True)
    return figures


def explain_noop(engine) -> str:
    """The plan of the archival statement when nothing is expired (inside a rolled-back transaction)."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "EXPLAIN (ANALYZE, COSTS OFF) UPDATE environments SET kind = 'archived', archived_at = now() "
            "WHERE kind = 'preview' AND (ttl_expires_at < now() OR (ttl_expires_at IS NULL "
            "AND created_at < now() - interval '72 hours'))")).scalars().all()
        conn.rollback()
    return "\n".join(f"    {row}" for row in rows)


def row_by_row(engine, sample: int) -> float:
    """The peer: select the expired ids, then one UPDATE per environment (one transaction, favourable)."""
    started = time.perf_counter()
    with engine.begin() as conn:
        ids = conn.execute(text(
            "SELECT id FROM environments WHERE kind = 'preview' AND (ttl_expires_at < now() OR "
            "(ttl_expires_at IS NULL AND created_at < now() - interval '72 hours')) ORDER BY id LIMIT :n"),
            {"n": sample}).scalars().all()
        for environment_id in ids:
            conn.execute(text("UPDATE environments SET kind = 'archived', archived_at = now() "
                              "WHERE id = :id AND kind = 'preview'"), {"id": environment_id})
    elapsed = (time.perf_counter() - started) * 1000
    assert len(ids) == sample
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--total", type=int, default=1_000_000)
    parser.add_argument("--expired", type=int, default=100_000)
    parser.add_argument("--active", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=10_000, help="row-by-row peer sample size")
    args = parser.parse_args()
    with scratch_database() as url:
        upgrade(url)
        engine = make_engine(url)
        with engine.begin() as conn:  # measure "right after archival" before, and "after VACUUM" as after, autovacuum
            conn.execute(text("ALTER TABLE environments SET (autovacuum_enabled = false)"))
        load_ms, _ = timed(lambda: load(engine, args.total, args.expired, args.active))
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
        print(f"PostgreSQL {version}: {args.total:,} environments ({args.expired:,} expired previews, "
              f"{args.active:,} active, {args.total - args.expired - args.active:,} archived history), "
              f"loaded in {load_ms / 1000:.1f} s\n", flush=True)

        loop_ms = row_by_row(engine, args.sample)
        per_row_loop = loop_ms / args.sample
        print(f"{'row-by-row loop (peer)':<34} {args.sample:,} rows: {loop_ms:9.1f} ms = {per_row_loop * 1000:.0f} µs/row "
              f"-> {per_row_loop * args.expired / 1000:.1f} s for {args.expired:,} (extrapolated)", flush=True)
        restore(engine)

        indexed = measure_runs(engine, "set-based, partial expiry index", args.expired)
        plan = explain_noop(engine)
        restore(engine)
        with engine.begin() as conn:  # the peer: the same statement with 0001's index instead of 0006's
            conn.execute(text(f"DROP INDEX {EXPIRY_INDEX}"))
            conn.execute(text(f"CREATE INDEX {KIND_INDEX} ON environments (kind, ttl_expires_at)"))
        vacuum(engine)
        kind_only = measure_runs(engine, "same, (kind, ttl) index instead", args.expired)
        restore(engine)
        with engine.begin() as conn:
            conn.execute(text(f"DROP INDEX {KIND_INDEX}"))
        vacuum(engine)
        no_index = measure_runs(engine, "same, no index (sequential scan)", args.expired)
        engine.dispose()

    per_row_set = indexed["archive_ms"] / args.expired
    print("\nno-op plan with the partial index:\n" + plan)
    print("\nratios (higher = the archival code is faster):")
    print(f"  row-by-row loop vs set-based, per environment:          {per_row_loop / per_row_set:8.1f}x")
    for name, peer in (("(kind, ttl) index", kind_only), ("no index", no_index)):
        for what, key in (("no-op run", "noop_ms"), ("no-op UPDATE", "noop_statement_ms")):
            vacuumed = key.replace("_ms", "_vacuumed_ms")
            print(f"  {what}, {name} vs partial index:".ljust(58)
                  + f"{peer[key] / indexed[key]:8.1f}x   (after VACUUM {peer[vacuumed] / indexed[vacuumed]:.1f}x)")
    print(f"  archival run, no index vs partial index:                {no_index['archive_ms'] / indexed['archive_ms']:8.1f}x")
    print(f"  no-op run vs the archival run (partial index):          {indexed['archive_ms'] / indexed['noop_ms']:8.1f}x")


if __name__ == "__main__":
    main()
