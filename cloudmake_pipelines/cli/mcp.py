"""`cloudmake mcp`: the MCP server registry and load tests (mcp_registry) and outages/breakers (mcp_outages).

Each listed module exposes ``commands``, a list of click commands added to this group.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

SUBCOMMAND_MODULES = ("mcp_registry", "mcp_outages")


@click.group("mcp")
def group() -> None:
    """MCP servers: registry, load tests, circuit breakers and outages."""


for _name in SUBCOMMAND_MODULES:
    if importlib.util.find_spec(f"{__package__}.{_name}") is not None:
        for _command in importlib.import_module(f"{__package__}.{_name}").commands:
            group.add_command(_command)
