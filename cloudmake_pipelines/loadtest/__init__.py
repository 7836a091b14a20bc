"""MCP server load testing (seed task 1): an open-loop engine speaking real MCP, HDR statistics,
the thresholds file, and persistence into ``mcp_server_metrics``. Plain Python: no Dagster here."""

from ..lazy import lazy_exports

# name -> submodule; imported on first use (see lazy.py).
_EXPORTS = {
    "Plan": ".engine", "run_open_loop": ".engine", "McpClient": ".protocol", "McpError": ".protocol",
    "is_read_only": ".protocol", "ServerResult": ".runner", "load_test_server": ".runner", "recent_metrics": ".store",
    "save_result": ".store", "Thresholds": ".thresholds", "ThresholdsFile": ".thresholds",
    "load_thresholds": ".thresholds", "validate_overrides": ".thresholds",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["McpClient", "McpError", "Plan", "ServerResult", "Thresholds", "ThresholdsFile", "is_read_only",
           "load_test_server", "load_thresholds", "recent_metrics", "run_open_loop", "save_result",
           "validate_overrides"]
