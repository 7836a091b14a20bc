"""Design-token propagation (SC-002): sources, versions, apps and per-app propagation."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from ..types import BigIntId, UTCDateTime
from . import metadata

#: Where design-token versions come from: a local git clone (path) or ``github:owner/repo``, the tokens file in it.
token_sources = Table(
    "token_sources",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("location", String(500), nullable=False),
    Column("tokens_path", String(500), nullable=False),
    Column("version_field", String(200), nullable=False),
    Column("branch", String(200), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("location", "tokens_path"),
)

#: One row per token version: the commit that changed the tokens file, recorded once (committer time).
token_versions = Table(
    "token_versions",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("source_id", Integer, nullable=False),
    Column("sha", String(64), nullable=False),
    Column("version", String(200), nullable=False),
    Column("committed_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    UniqueConstraint("source_id", "sha"),
    Index(None, "committed_at"),
)

#: The apps a token version must reach, and how each tells which version it serves (credentials by reference).
token_apps = Table(
    "token_apps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("read_kind", String(16), nullable=False),
    Column("read_selector", String(200), nullable=False),
    Column("auth_header", String(100), nullable=True),
    Column("auth_secret_ref", String(200), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("read_kind IN ('json', 'css', 'header')", name="read_kind"),
)

#: One row per (token version, app), kept forever: when the app first served it, and the alert state (SC-002).
token_propagation = Table(
    "token_propagation",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("version_id", BigInteger, nullable=False),
    Column("app_name", String(100), nullable=False),
    Column("committed_at", UTCDateTime, nullable=False),
    Column("first_seen_at", UTCDateTime, nullable=True),
    Column("previous_poll_at", UTCDateTime, nullable=True),
    Column("last_polled_at", UTCDateTime, nullable=True),
    Column("reachable", Boolean, nullable=True),
    Column("last_served", String(200), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("superseded_by", String(200), nullable=True),
    Column("alerted_at", UTCDateTime, nullable=True),
    Column("resolved_at", UTCDateTime, nullable=True),
    UniqueConstraint("version_id", "app_name"),
    Index(None, "app_name", "committed_at"),
)
