"""`cloudmake demo`: the quick start's demo (ENVIRONMENT=dev only)."""

from __future__ import annotations

import click

from .. import demo
from ..db.engine import make_engine
from .common import emit_json, json_option, setup


@click.group("demo")
def group() -> None:
    """A local demo MCP server and sample previews for a first run (dev only)."""


@group.command("serve")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
def serve(port: int) -> None:
    """Serve the demo MCP server on 127.0.0.1 (Streamable HTTP at /mcp) until interrupted."""
    demo.require_dev(setup().environment)
    demo.serve(port=port)


@group.command("seed")
@click.option("--url", default="http://127.0.0.1:8765/mcp", show_default=True, help="The demo server's URL.")
@json_option
def seed(url: str, as_json: bool) -> None:
    """Register the demo MCP server and add sample preview environments (idempotent)."""
    settings = setup(as_json)
    demo.require_dev(settings.environment)
    counts = demo.seed(make_engine(settings.database_url), url)
    if as_json:
        emit_json(counts)
    else:
        click.echo(f"registered {demo.DEMO_SERVER} at {url}; added {counts['previews_added']} preview environments")
