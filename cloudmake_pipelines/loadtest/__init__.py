"""MCP server load testing (seed task 1): an open-loop engine speaking real MCP, HDR statistics,
the thresholds file, and persistence into ``mcp_server_metrics``. Plain Python: no Dagster here."""

from .engine import Plan, run_open_loop
from .protocol import McpClient, McpError, is_read_only
from .runner import ServerResult, load_test_server
from .store import recent_metrics, save_result
from .thresholds import Thresholds, ThresholdsFile, load_thresholds, validate_overrides

__all__ = ["McpClient", "McpError", "Plan", "ServerResult", "Thresholds", "ThresholdsFile", "is_read_only",
           "load_test_server", "load_thresholds", "recent_metrics", "run_open_loop", "save_result",
           "validate_overrides"]
