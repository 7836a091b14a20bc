"""Preview environment archival (seed task 4): plain Python, no Dagster.

Previews past their TTL (default 72 h from creation) are archived in one set-based statement on the
database's clock, their resources (Neon branches) are freed through providers with per-environment
retry state, and ``preview_env_active_total`` is counted from the database and pushed to a Pushgateway.
"""

from .archive import DEFAULT_TTL, PreviewRow, active_previews, archived_previews
from .cleanup import (
    ArchivedEnvironment,
    CleanupFailed,
    CleanupProvider,
    CleanupSummary,
    Outcome,
    ProviderUnavailable,
)
from .clock import Clock, DatabaseClock, ManualClock
from .neon import NEON_API_URL, NeonBranchProvider, NeonClient, neon_provider
from .runner import (
    SCHEDULE_INTERVAL,
    ArchivalReport,
    Archiver,
    DryRunReport,
    build_archiver,
    last_run,
    require_schema,
)

__all__ = [
    "DEFAULT_TTL", "NEON_API_URL", "SCHEDULE_INTERVAL", "ArchivalReport", "ArchivedEnvironment", "Archiver",
    "CleanupFailed", "CleanupProvider", "CleanupSummary", "Clock", "DatabaseClock", "DryRunReport",
    "ManualClock", "NeonBranchProvider", "NeonClient", "Outcome", "PreviewRow", "ProviderUnavailable",
    "active_previews", "archived_previews", "build_archiver", "last_run", "neon_provider", "require_schema",
]
