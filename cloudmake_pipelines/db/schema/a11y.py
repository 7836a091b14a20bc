"""Accessibility audits (SC-003): targets, audits and their findings."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text, UniqueConstraint

from ..types import BigIntId, JSONDoc, UTCDateTime
from . import metadata

#: What the accessibility audit renders: a Storybook (its story index) and/or page URLs; credentials by reference.
a11y_targets = Table(
    "a11y_targets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("storybook_url", Text, nullable=True),
    Column("page_urls", JSONDoc, nullable=False),
    Column("auth_header", String(100), nullable=True),
    Column("auth_secret_ref", String(200), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

#: One row per audit of one target, kept as history (SC-003 ≥ 98 % AA compliance over time). ``run_key`` (the
#: Dagster run; NULL from the CLI) is unique per target: a re-executed step replaces its run's audit.
a11y_audits = Table(
    "a11y_audits",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("target_name", String(100), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("pages", Integer, nullable=False),
    Column("audited", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("passed", Integer, nullable=False),
    Column("violations", Integer, nullable=False),
    Column("incomplete", Integer, nullable=False),
    Column("compliance", Float, nullable=True),
    Column("new_violations", Integer, nullable=False),
    Column("new_serious", Integer, nullable=False),
    Column("report_path", Text, nullable=True),
    Column("summary", JSONDoc, nullable=False),
    Column("run_key", String(64), nullable=True),
    UniqueConstraint("run_key", "target_name"),
    Index(None, "target_name", "started_at"),
)

#: Each violated check (rule x element) of an audit: what the next audit compares with to find new ones.
a11y_findings = Table(
    "a11y_findings",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("audit_id", BigInteger, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("page_id", Text, nullable=False),
    Column("component", Text, nullable=False),
    Column("rule", String(100), nullable=False),
    Column("impact", String(16), nullable=True),
    Column("selector", Text, nullable=False),
    Index(None, "audit_id"),
)
