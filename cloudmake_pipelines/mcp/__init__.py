"""The MCP server registry: which servers the platform watches, how to reach them, their overrides.

Plain Python over the ``mcp_servers`` table. The load tester, the outage detector and the CLI read it.
"""

from .registry import AUTH_SCHEMES, TRANSPORTS, McpServer, Registry, RegistryError, resolve_auth

__all__ = ["AUTH_SCHEMES", "TRANSPORTS", "McpServer", "Registry", "RegistryError", "resolve_auth"]
