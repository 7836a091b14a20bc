"""Admin queries under row-level security at production scale (seed task 10, SC-004: p95 <= 150 ms).

One command: ``.venv/bin/python benchmarks/admin_rls.py`` (options: --help). On the local PostgreSQL it
creates a scratch database, migrates it, seeds a synthetic dataset (default 100,000 users, 1,000,000 audit
logs, 500,000 sessions across 1,000 tenants) and times every admin query as the platform-admin role with
RLS forced (and a tenant admin's audit log as the tenant role), three ways in the same run:

* recommended: one policy per role, settings read through a sub-select, indexes leading with tenant_id;
* peer "OR arm": the same data and indexes, one policy for both roles, ``tenant = setting OR admin claim``;
* peer "no index": the recommended policies without the indexes that lead with the policy column.

It prints p50/p95/p99 per query and each peer's p95 with its ratio to ours, then drops the database.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloudmake_pipelines.adminbench.dataset import Scale, drop_policy_indexes, synthetic_schema  # noqa: E402
from cloudmake_pipelines.adminbench.isolation import prove_isolation  # noqa: E402
from cloudmake_pipelines.adminbench.queries import ADMIN_QUERIES  # noqa: E402
from cloudmake_pipelines.adminbench.rls import OR_ARM, PER_ROLE, protect  # noqa: E402
from cloudmake_pipelines.adminbench.runner import SC004_P95_MS, run_queries  # noqa: E402
from cloudmake_pipelines.db import make_engine  # noqa: E402
from cloudmake_pipelines.db.migrate import upgrade  # noqa: E402
from cloudmake_pipelines.db.types import utcnow  # noqa: E402

QUERIES = {query.name: query for query in ADMIN_QUERIES}
SERVER = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--audit-logs", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=500_000)
    parser.add_argument("--tenants", type=int, default=1_000)
    parser.add_argument("--iterations", type=int, default=100, help="timed pages per query and variant")
    args = parser.parse_args()
    scale = Scale(args.users, args.audit_logs, args.sessions, args.tenants)
    name = f"cm_bench_admin_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_libpq(SERVER), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        upgrade(engine)
        started = time.perf_counter()
        with synthetic_schema(engine, scale, utcnow()) as schema:
            print(f"seeded {scale.as_dict()} in {time.perf_counter() - started:.1f} s (schema {schema})")
            isolation = prove_isolation(engine, schema)
            print(f"RLS isolation proof: {'passed' if isolation.passed else isolation.failures()}")
            best = run_queries(engine, schema, iterations=args.iterations, explain=False)
            with engine.begin() as conn:
                protect(conn, schema, OR_ARM)
            or_arm = run_queries(engine, schema, iterations=args.iterations, explain=False)
            with engine.begin() as conn:
                protect(conn, schema, PER_ROLE)
                dropped = drop_policy_indexes(conn, schema)
                conn.exec_driver_sql(f'ANALYZE "{schema}".users, "{schema}".sessions, "{schema}".admin_audit_logs')
            no_index = run_queries(engine, schema, iterations=args.iterations, explain=False)
    finally:
        engine.dispose()
        with psycopg.connect(_libpq(SERVER), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"\n{args.iterations} pages (keyset, 50 rows) per query and variant, under forced RLS; "
          f"'no index' drops {', '.join(dropped)}")
    print(f"{'query':<27}{'role':<18}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}"
          f"{'OR-arm p95':>12}{'ratio':>8}{'no-index p95':>14}{'ratio':>8}")
    for ours, arm, bare in zip(best, or_arm, no_index, strict=True):
        print(f"{ours.name:<27}{QUERIES[ours.name].role:<18}{ours.p50_ms:>8.2f}{ours.p95_ms:>8.2f}{ours.p99_ms:>8.2f}"
              f"{arm.p95_ms:>12.2f}{arm.p95_ms / ours.p95_ms:>7.1f}x{bare.p95_ms:>14.2f}{bare.p95_ms / ours.p95_ms:>7.1f}x")
    worst = max(best, key=lambda q: q.p95_ms)
    print(f"\nSC-004 (p95 <= {SC004_P95_MS:g} ms): {'met' if worst.p95_ms <= SC004_P95_MS else 'MISSED'}; "
          f"worst {worst.name} p95 {worst.p95_ms:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
