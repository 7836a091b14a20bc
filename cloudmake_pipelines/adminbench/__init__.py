"""Seed task 10: admin queries under PostgreSQL row-level security, benchmarked against SC-004.

Plain Python (no Dagster): ``rls`` (roles, policies, grants), ``queries`` (the admin console's queries),
``dataset`` (a synthetic dataset in a throw-away schema), ``isolation`` (proof that RLS isolates),
``runner`` (p50/p95/p99 per query, the slowest iteration's plan, results stored).
"""
