"""Preview environment archival (seed task 4): plain Python, no Dagster.

Previews past their TTL (default 72 h from creation) are archived in one set-based statement on the
database's clock, their resources (Neon branches) are freed through providers with per-environment
retry state, and ``preview_env_active_total`` is counted from the database and pushed to a Pushgateway.
"""

from ..lazy import lazy_exports

# name -> submodule; imported on first use (see lazy.py).
_EXPORTS = {
    "DEFAULT_TTL": ".archive", "PreviewRow": ".archive", "active_previews": ".archive",
    "archived_previews": ".archive", "ArchivedEnvironment": ".cleanup", "CleanupFailed": ".cleanup",
    "CleanupProvider": ".cleanup", "CleanupSummary": ".cleanup", "Outcome": ".cleanup",
    "ProviderUnavailable": ".cleanup", "Clock": ".clock", "DatabaseClock": ".clock", "ManualClock": ".clock",
    "NEON_API_URL": ".neon", "NeonBranchProvider": ".neon", "NeonClient": ".neon", "neon_provider": ".neon",
    "SCHEDULE_INTERVAL": ".runner", "ArchivalReport": ".runner", "Archiver": ".runner", "DryRunReport": ".runner",
    "build_archiver": ".runner", "last_run": ".runner", "require_schema": ".runner",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "DEFAULT_TTL", "NEON_API_URL", "SCHEDULE_INTERVAL", "ArchivalReport", "ArchivedEnvironment", "Archiver",
    "CleanupFailed", "CleanupProvider", "CleanupSummary", "Clock", "DatabaseClock", "DryRunReport",
    "ManualClock", "NeonBranchProvider", "NeonClient", "Outcome", "PreviewRow", "ProviderUnavailable",
    "active_previews", "archived_previews", "build_archiver", "last_run", "neon_provider", "require_schema",
]
