"""Every table of the platform, on one MetaData.

Domain packages add their tables here too (each with its own Alembic migration), so that Alembic's
autogenerate comparison and the drift detector see one complete schema.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
    true,
)

from .types import BigIntId, JSONDoc, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: The MCP servers this platform watches: load-tested nightly, their breakers polled for outages.
mcp_servers = Table(
    "mcp_servers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("transport", String(32), nullable=False, server_default="streamable_http"),
    Column("auth_header", String(100), nullable=True),
    Column("auth_secret_ref", String(200), nullable=True),
    Column("enabled", Boolean, nullable=False, server_default=true()),
    Column("thresholds", JSONDoc, nullable=True),
    Column("created_at", UTCDateTime, nullable=False, server_default=func.now()),
    Column("updated_at", UTCDateTime, nullable=False, server_default=func.now()),
)

#: One row per (server, list operation) per load-test run (seed task 1, SC-021).
mcp_server_metrics = Table(
    "mcp_server_metrics",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("server_name", String(100), nullable=False),
    Column("operation", String(64), nullable=False),
    Column("p50_ms", Float, nullable=True),
    Column("p95_ms", Float, nullable=True),
    Column("p99_ms", Float, nullable=True),
    Column("error_rate", Float, nullable=False),
    Column("request_count", Integer, nullable=False),
    Column("errors_by_kind", JSONDoc, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("environment", String(16), nullable=False),
    Column("run_id", String(64), nullable=True),
    Index(None, "server_name", "started_at"),
)

#: One row per drift-detection run (seed task 3, SC-008).
mcp_drift_snapshots = Table(
    "mcp_drift_snapshots",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("target", String(200), nullable=False),
    Column("taken_at", UTCDateTime, nullable=False),
    Column("has_drift", Boolean, nullable=False),
    Column("counts", JSONDoc, nullable=False),
    Column("items", JSONDoc, nullable=False),
    Column("spec_digest", String(64), nullable=False),
    Column("code_revision", String(64), nullable=True),
    Column("duration_ms", Float, nullable=False),
    Index(None, "target", "taken_at"),
)

#: Deployment environments; previews are archived after their TTL (seed task 4). The ``neon_*`` and
#: ``cleanup_*`` columns (migration 0006_previews) hold the preview's Neon branch and the state of freeing
#: it after archival (cleanup_status: pending | failed | freed | already_gone | no_resources); a lease
#: keeps two overlapping runs from cleaning up the same environment at once, and a killed run's lease
#: simply expires.
environments = Table(
    "environments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False, server_default=func.now()),
    Column("ttl_expires_at", UTCDateTime, nullable=True),
    Column("archived_at", UTCDateTime, nullable=True),
    Column("neon_project_id", String(64), nullable=True),
    Column("neon_branch_id", String(64), nullable=True),
    Column("cleanup_status", String(16), nullable=True),
    Column("cleanup_attempts", Integer, nullable=False, server_default="0"),
    Column("cleanup_error", Text, nullable=True),
    Column("cleanup_lease_until", UTCDateTime, nullable=True),
    Column("cleanup_updated_at", UTCDateTime, nullable=True),
)
#: Active previews only, by expiry: the archival statement and its no-op re-run read just this index.
#: It replaces the foundation's (kind, ttl_expires_at) index, which 0006_previews drops: with both,
#: PostgreSQL's estimates (blind to "active previews expire in the future") made it pick that one and read
#: every active preview on a no-op run (31 ms instead of 0.1 ms at 1,000,000 rows).
Index("ix_environments_ttl_expires_at_created_at", environments.c.ttl_expires_at, environments.c.created_at,
      postgresql_where=environments.c.kind == "preview", sqlite_where=environments.c.kind == "preview")
#: Only environments whose resources still wait to be freed: the cleanup backlog.
Index("ix_environments_cleanup_status", environments.c.cleanup_status,
      postgresql_where=environments.c.cleanup_status.in_(["pending", "failed"]),
      sqlite_where=environments.c.cleanup_status.in_(["pending", "failed"]))

#: The audit trail of privileged operations (key rotations, syncs, ...), one JSON detail per row.
admin_audit_logs = Table(
    "admin_audit_logs",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("occurred_at", UTCDateTime, nullable=False, server_default=func.now()),
    Column("operation_type", String(64), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("environment", String(16), nullable=False),
    Column("detail", JSONDoc, nullable=False),
    # Platform-level rows (key rotations, syncs) have no tenant; under RLS (migration 0010_admin_rls) a
    # tenant's rows are visible to that tenant only.
    Column("tenant_id", String(64), nullable=True),
    Index(None, "operation_type", "occurred_at"),
    Index(None, "tenant_id", "occurred_at", "id"),
)

__all__ = [
    "metadata",
    "mcp_servers",
    "mcp_server_metrics",
    "mcp_drift_snapshots",
    "environments",
    "admin_audit_logs",
]

# --- Key management (issue 7, seed tasks 5 and 6) ---------------------------------------------------

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

__all__ += ["secrets", "master_key_versions", "signing_keys", "key_rotation_state"]

# --- Admin schema under row-level security (issue 10, seed task 10, SC-004) ---------------------------
# The RLS policies, roles and grants live in the 0010_admin_rls migration (cloudmake_pipelines.adminbench.rls):
# metadata holds no policies. Every tenant-scoped index leads with tenant_id, the column the policy filters.

#: The people of each tenant (RLS: a tenant sees its own users; a platform admin sees all).
users = Table(
    "users",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("email", String(320), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("role", String(32), nullable=False, server_default="member"),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("created_at", UTCDateTime, nullable=False, server_default=func.now()),
    Column("last_login_at", UTCDateTime, nullable=True),
    UniqueConstraint("tenant_id", "id"),
    UniqueConstraint("tenant_id", "email"),
    Index(None, "tenant_id", "created_at", "id"),
)

#: Login sessions; (tenant_id, user_id) references users so a session cannot point into another tenant.
sessions = Table(
    "sessions",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("user_id", BigIntId, nullable=False),
    Column("auth_method", String(16), nullable=False),
    Column("ip_address", String(45), nullable=True),
    Column("user_agent", String(300), nullable=True),
    Column("created_at", UTCDateTime, nullable=False, server_default=func.now()),
    Column("last_seen_at", UTCDateTime, nullable=False, server_default=func.now()),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"),
    Index(None, "tenant_id", "user_id", "created_at"),
    Index(None, "tenant_id", "last_seen_at", "id"),
)

#: One row per admin query per benchmark run (seed task 10): p50/p95/p99 against the SC-004 target.
admin_benchmark_results = Table(
    "admin_benchmark_results",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("run_key", String(36), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("query", String(64), nullable=False),
    Column("iterations", Integer, nullable=False),
    Column("p50_ms", Float, nullable=False),
    Column("p95_ms", Float, nullable=False),
    Column("p99_ms", Float, nullable=False),
    Column("max_ms", Float, nullable=False),
    Column("threshold_ms", Float, nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("dataset", String(16), nullable=False),
    Column("scale", JSONDoc, nullable=True),
    Column("environment", String(16), nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("slowest_plan", Text, nullable=True),
    Index(None, "query", "started_at"),
)

__all__ += ["users", "sessions", "admin_benchmark_results"]

# --- GitHub secrets sync (issue 9, seed task 8) and the quota service --------------------------------


#: Where secrets go: one row per GitHub target (scope + repository, environment or organization level).
github_sync_targets = Table(
    "github_sync_targets",
    metadata,
    Column("key", String(400), primary_key=True),
    Column("scope", String(16), nullable=False),
    Column("level", String(16), nullable=False),
    Column("owner", String(100), nullable=False),
    Column("repo", String(100), nullable=True),
    Column("environment", String(255), nullable=True),
    Column("visibility", String(16), nullable=True),
    Column("selected_repository_ids", JSONDoc, nullable=True),
    Column("include", JSONDoc, nullable=False),
    Column("exclude", JSONDoc, nullable=False),
    Column("delete_orphans", Boolean, nullable=False, server_default=false()),
    Column("created_at", UTCDateTime, nullable=False, server_default=func.now()),
)

#: What this sync last wrote per (target, secret): an HMAC of value + visibility + selected repositories
#: (never a plain hash), GitHub's updated_at after that write, and a pending marker set before each write.
github_sync_state = Table(
    "github_sync_state",
    metadata,
    Column("target_key", String(400), nullable=False),
    Column("secret_name", String(255), nullable=False),
    Column("digest", String(64), nullable=True),
    Column("written_at", UTCDateTime, nullable=True),
    Column("remote_updated_at", UTCDateTime, nullable=True),
    Column("created_by_us", Boolean, nullable=False),
    Column("pending_digest", String(64), nullable=True),
    Column("pending_at", UTCDateTime, nullable=True),
    # The last write's attempt window in GitHub's time (``Date`` headers; 0011_github_write_windows):
    # kept until a listing settles whether ``updated_at`` is ours. replied NULL: no answer seen yet.
    Column("attempt_sent_at", UTCDateTime, nullable=True),
    Column("attempt_replied_at", UTCDateTime, nullable=True),
    PrimaryKeyConstraint("target_key", "secret_name"),
)

#: Token buckets of the quota service, shared by every run and process (e.g. 5,000 GitHub writes/hour).
quota_buckets = Table(
    "quota_buckets",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("capacity", Float, nullable=False),
    Column("refill_per_second", Float, nullable=False),
    Column("tokens", Float, nullable=False),
    Column("refilled_at", UTCDateTime, nullable=False),
    Column("granted_total", BigInteger, nullable=False, server_default="0"),
    Column("denied_total", BigInteger, nullable=False, server_default="0"),
)

__all__ += ["github_sync_targets", "github_sync_state", "quota_buckets"]

# --- Preview environment archival (issue 6, seed task 4) --------------------------------------------

#: One row per finished (non-dry) archival run: what it archived and freed, and the database time it used.
preview_archival_runs = Table(
    "preview_archival_runs",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("source", String(32), nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("as_of", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("archived", Integer, nullable=False),
    Column("freed", Integer, nullable=False),
    Column("already_gone", Integer, nullable=False),
    Column("cleanup_failed", Integer, nullable=False),
    Column("retried", Integer, nullable=False),
    Column("active_after", Integer, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Index(None, "finished_at"),
)

__all__ += ["preview_archival_runs"]

# --- MCP outage detection (seed task 2): circuit breakers, their transition log, outage episodes ---------
_BREAKER_STATES = "('closed', 'open', 'half_open')"

#: The circuit-breaker state of each MCP server (by registry name), written by whoever owns the breakers.
mcp_breaker_states = Table(
    "mcp_breaker_states",
    metadata,
    Column("server_name", String(100), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("failure_count", Integer, nullable=False),
    Column("left_closed_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint(f"state IN {_BREAKER_STATES}", name="state"),
)

#: Append-only log of breaker state changes; ``id`` orders them and is the outage sensor's cursor.
mcp_breaker_transitions = Table(
    "mcp_breaker_transitions",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("server_name", String(100), nullable=False),
    Column("from_state", String(16), nullable=False),
    Column("to_state", String(16), nullable=False),
    Column("failure_count", Integer, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("reason", Text, nullable=True),
    Column("source", String(64), nullable=False),
    CheckConstraint(f"to_state IN {_BREAKER_STATES}", name="to_state"),
)

#: One row per outage episode (a server out of CLOSED, flapping folded in); unique per server and start.
mcp_outage_episodes = Table(
    "mcp_outage_episodes",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("server_name", String(100), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
    Column("breaker_state", String(16), nullable=False),
    Column("peak_failure_count", Integer, nullable=False),
    Column("transition_count", Integer, nullable=False),
    Column("reopen_count", Integer, nullable=False),
    Column("resolved_at", UTCDateTime, nullable=True),
    Column("alerted_at", UTCDateTime, nullable=True),
    Column("resolved_notified_at", UTCDateTime, nullable=True),
    UniqueConstraint("server_name", "started_at"),
    Index(None, "resolved_at"),
)

#: Degradation status per server as of the last detector tick, with fallback guidance: what the API shows.
mcp_degradation_status = Table(
    "mcp_degradation_status",
    metadata,
    Column("server_name", String(100), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("breaker_state", String(16), nullable=False),
    Column("failure_count", Integer, nullable=False),
    Column("degraded_since", UTCDateTime, nullable=True),
    Column("fallback", JSONDoc, nullable=True),
    Column("last_transition_id", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

__all__ += ["mcp_breaker_states", "mcp_breaker_transitions", "mcp_outage_episodes", "mcp_degradation_status"]

# --- Rate-limit quota monitoring (issue 20, seed "Future Enhancements") -----------------------------------

#: Append-only: one row per denied (or deferred) request of a quota bucket. ``event_key`` is unique per
#: source record (a Redis stream entry id, a service-generated id), so a re-delivered record stores once.
#: ``hour`` is ``occurred_at`` floored to the hour; ``recorded_at`` (when stored) finds the hours that late
#: events touched: the hourly roll-up reads those hours by index, never the whole table.
quota_events = Table(
    "quota_events",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("event_key", String(300), nullable=False, unique=True),
    Column("source", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("bucket", String(200), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("hour", UTCDateTime, nullable=False),
    Column("requested", BigInteger, nullable=False),
    Column("denied", BigInteger, nullable=False),
    Column("limit_per_hour", Float, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Index(None, "hour"),
    Index(None, "recorded_at"),
    Index(None, "bucket", "occurred_at"),
)

#: Per (hour, bucket): exhaustions, denied units and the limit, rolled up from ``quota_events``. The hourly
#: asset re-rolls only the hours that events recorded since its last roll-up fall in, then reads 7 days of
#: this, never old events.
quota_hourly = Table(
    "quota_hourly",
    metadata,
    Column("hour", UTCDateTime, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("bucket", String(200), nullable=False),
    Column("exhaustions", BigInteger, nullable=False),
    Column("denied", BigInteger, nullable=False),
    Column("limit_per_hour", Float, nullable=False),
    PrimaryKeyConstraint("hour", "kind", "bucket"),
)

#: When the roll-up last ran (one row): events recorded since then (minus a margin) are rolled up next.
quota_rollup_state = Table(
    "quota_rollup_state",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("rolled_up_at", UTCDateTime, nullable=False),
)

#: The hourly asset's result per bucket (those exhausted in the last 7 days), kept as history to plot.
quota_exhaustion_stats = Table(
    "quota_exhaustion_stats",
    metadata,
    Column("as_of", UTCDateTime, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("bucket", String(200), nullable=False),
    Column("exhaustions_1h", BigInteger, nullable=False),
    Column("exhaustions_24h", BigInteger, nullable=False),
    Column("exhaustions_7d", BigInteger, nullable=False),
    Column("windows_exhausted", Integer, nullable=False),
    Column("windows", Integer, nullable=False),
    Column("peak_demand", Float, nullable=False),
    Column("limit_per_hour", Float, nullable=False),
    Column("trend", BigInteger, nullable=False),
    Column("frequent", Boolean, nullable=False),
    PrimaryKeyConstraint("as_of", "kind", "bucket"),
    Index(None, "kind", "bucket", "as_of"),
)

#: Alerting state per bucket: at most one alert a day while frequently exhausted, one "resolved" after.
quota_alert_state = Table(
    "quota_alert_state",
    metadata,
    Column("kind", String(16), nullable=False),
    Column("bucket", String(200), nullable=False),
    Column("firing", Boolean, nullable=False),
    Column("alerted_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("kind", "bucket"),
)

__all__ += ["quota_events", "quota_hourly", "quota_rollup_state", "quota_exhaustion_stats", "quota_alert_state"]

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

__all__ += ["token_sources", "token_versions", "token_apps", "token_propagation"]

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

__all__ += ["a11y_targets", "a11y_audits", "a11y_findings"]

#: Every alert, persisted before its webhook POST (issue 15 item 2): delivered at least once, retried across
#: ticks until the webhook accepts it. ``idempotency_key`` (alert key + what makes this notification unique) is
#: unique, so recording the same notification twice is a no-op, and goes in the payload for receivers.
alert_outbox = Table(
    "alert_outbox",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("idempotency_key", Text, nullable=False, unique=True),  # keys hold paths (drift targets): no cap
    Column("task", String(100), nullable=False),
    Column("alert_key", Text, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("payload", JSONDoc, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=True),
    Column("last_attempt_at", UTCDateTime, nullable=True),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("delivered_at", UTCDateTime, nullable=True),
    Index(None, "delivered_at", "next_attempt_at"),
)

__all__ += ["alert_outbox"]
