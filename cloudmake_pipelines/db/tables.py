"""Every table of the platform, on one MetaData: ``from cloudmake_pipelines.db.tables import mcp_servers``.

Each domain defines its tables in ``db/schema/<domain>.py``, listed in :data:`DOMAINS`, and creates them in
its own Alembic migration. A table is imported with its domain's module on first use, so a command defines
the tables it reads, not all of them: `cloudmake mcp list` defines mcp_servers and mcp_server_metrics, and does
not load SQLAlchemy's PostgreSQL dialect (the environments table's partial indexes need it) on SQLite.
``metadata`` imports every domain first: the one complete schema that Alembic's autogenerate comparison, the
drift detector and ``create_all`` see.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Domain module (``db/schema/<name>.py``) -> the tables it defines.
DOMAINS = {
    "mcp": ("mcp_servers", "mcp_server_metrics"),
    "outages": ("mcp_breaker_states", "mcp_breaker_transitions", "mcp_outage_episodes", "mcp_degradation_status"),
    "drift": ("mcp_drift_snapshots",),
    "previews": ("environments", "preview_archival_runs"),
    "audit": ("admin_audit_logs",),
    "keys": ("secrets", "master_key_versions", "signing_keys", "key_rotation_state"),
    "admin": ("users", "sessions", "admin_benchmark_results"),
    "github": ("github_sync_targets", "github_sync_state"),
    "quota": ("quota_buckets", "quota_events", "quota_hourly", "quota_rollup_state", "quota_exhaustion_stats",
              "quota_alert_state"),
    "tokens": ("token_sources", "token_versions", "token_apps", "token_propagation"),
    "a11y": ("a11y_targets", "a11y_audits", "a11y_findings"),
    "alerts": ("alert_outbox",),
}
_DOMAIN_OF = {table: domain for domain, tables in DOMAINS.items() for table in tables}

__all__ = [*_DOMAIN_OF, "metadata"]  # noqa: F822 (resolved by __getattr__)


def __getattr__(name: str) -> Any:
    if name == "metadata":
        for domain in DOMAINS:
            importlib.import_module(f".schema.{domain}", __package__)
        return importlib.import_module(".schema", __package__).metadata
    if name not in _DOMAIN_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".schema.{_DOMAIN_OF[name]}", __package__), name)
