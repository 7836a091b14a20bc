"""Key management (issue 7, seed tasks 5 and 6): secrets at rest, master-key versions, JWT signing keys."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, LargeBinary, String, Table, func

from ..types import BigIntId, JSONDoc, UTCDateTime
from . import metadata

#: Secrets at rest: ciphertext only. Each row records the master-key version and the format that sealed
#: it (aes-256-gcm with the row's name as associated data, or pgcrypto's pgp_sym_encrypt on PostgreSQL).
secrets = Table(
    "secrets",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("format", String(16), nullable=False),
    Column("key_version", Integer, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False, server_default=func.now()),
    Column("updated_at", UTCDateTime, nullable=False, server_default=func.now()),
    Index(None, "key_version", "id"),
)

#: Master encryption key versions: metadata only (status, an HMAC fingerprint), never key material.
master_key_versions = Table(
    "master_key_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("status", String(16), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("activated_at", UTCDateTime, nullable=True),
    Column("retired_at", UTCDateTime, nullable=True),
)

#: JWT signing keys (next / active / grace / retired); the private key is sealed by the keyring.
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("algorithm", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("public_jwk", JSONDoc, nullable=False),
    Column("private_key", LargeBinary, nullable=False),
    Column("key_version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("activated_at", UTCDateTime, nullable=True),
    Column("grace_until", UTCDateTime, nullable=True),
    Column("retired_at", UTCDateTime, nullable=True),
    Index(None, "status"),
)

#: The current (or last) rotation of each kind ("master", "jwt"): the step reached, for crash-safe re-runs.
key_rotation_state = Table(
    "key_rotation_state",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("rotation_id", String(36), nullable=False),
    Column("step", String(32), nullable=False),
    Column("from_ref", String(64), nullable=True),
    Column("to_ref", String(64), nullable=True),
    Column("actor", String(200), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
)
