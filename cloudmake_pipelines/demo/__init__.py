"""A first run that shows something (dev only): a local MCP server to load-test and a few previews.

`scripts/dev` starts :func:`serve` alongside Dagster and calls :func:`seed`, so a newcomer can
materialize ``mcp_server_metrics`` for ``demo-mcp``, archive the expired previews and run the drift
check on this repository within minutes. Never in staging or production: :func:`require_dev` refuses.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, insert, select

from ..db.tables import environments
from ..db.types import utcnow
from ..errors import ConfigError
from ..mcp import McpServer, Registry

DEMO_SERVER = "demo-mcp"
#: (id, name, age, ttl from creation or None for the 72 h default): three expired, two active.
DEMO_PREVIEWS = [
    ("demo-pr-101", "PR #101 checkout redesign", timedelta(hours=80), None),
    ("demo-pr-102", "PR #102 billing webhooks", timedelta(hours=30), timedelta(hours=24)),
    ("demo-pr-103", "PR #103 dark mode", timedelta(days=5), timedelta(hours=72)),
    ("demo-pr-104", "PR #104 audit log filters", timedelta(hours=2), None),
    ("demo-pr-105", "PR #105 MCP tool search", timedelta(hours=10), timedelta(hours=48)),
]


def require_dev(environment: str) -> None:
    if environment != "dev":
        raise ConfigError(f"the demo runs only with ENVIRONMENT=dev (it is {environment!r})")


def build_app():
    """The demo MCP server (official SDK): a few tools, resources and prompts, Streamable HTTP at /mcp."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("cloudmake-demo", instructions="A demo MCP server for CloudMake Pipelines' load tests.")

    @server.tool(description="Echo a message back.")
    def echo(message: str) -> str:
        return message

    @server.tool(description="List the regions CloudMake deploys to.")
    def list_regions() -> list[str]:
        return ["eu-central-1", "us-east-1", "ap-southeast-1"]

    @server.resource("demo://status", description="The demo server's status.")
    def status() -> str:
        return "ok"

    @server.prompt(description="Summarize a deployment.")
    def summarize(environment: str) -> str:
        return f"Summarize the latest deployment of {environment}."

    return server.streamable_http_app(json_response=True)


def serve(host: str = "127.0.0.1", port: int = 8765) -> None:
    import uvicorn

    uvicorn.run(build_app(), host=host, port=port, log_level="warning")


def seed(engine: Engine, server_url: str) -> dict[str, int]:
    """Register the demo server and add the demo previews; idempotent (existing rows are kept)."""
    Registry(engine).add(McpServer(DEMO_SERVER, server_url), replace=True)
    now = utcnow()
    added = 0
    with engine.begin() as conn:
        existing = set(conn.scalars(select(environments.c.id).where(environments.c.id.like("demo-pr-%"))))
        for env_id, name, age, ttl in DEMO_PREVIEWS:
            if env_id in existing:
                continue
            created = now - age
            conn.execute(insert(environments).values(
                id=env_id, name=name, kind="preview", created_at=created,
                ttl_expires_at=created + ttl if ttl else None))
            added += 1
    return {"servers": 1, "previews_added": added}
