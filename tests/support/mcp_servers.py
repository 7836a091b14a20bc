"""Real MCP servers for tests and benchmarks, built with the official ``mcp`` SDK, on 127.0.0.1.

``serve_mcp(mode, behaviour)`` starts one and yields a :class:`RunningServer`: its ``url``, every JSON-RPC
method that reached it, and ``endpoint``, the common request log and HTTP fault injection of
tests/support/fakes.py. Modes:

* ``stateful_json`` / ``stateful_sse``: the SDK's session-keeping Streamable HTTP app answering with JSON
  or with SSE streams (both also answer the session-less 2026-07-28 revision, as the SDK does);
* ``stateless``: ``stateless_http=True``;
* ``legacy_sse``: the old HTTP+SSE transport (2024-11-05), at ``/sse``.

:class:`Behaviour` injects what a test needs: a latency function of time (so stalls can be
time-correlated, as a GC pause or a lock convoy is), hangs, JSON-RPC errors, a required bearer token,
many items for pagination, and ``handshake_only`` to act like a server that predates 2026-07-28.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import anyio
import mcp_types as types
from mcp.server import Server
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from starlette.responses import JSONResponse

from .fakes import FakeServer, Recorded

MODES = ("stateful_json", "stateful_sse", "stateless", "legacy_sse")


def constant(seconds: float) -> Callable[[float], float]:
    return lambda _t: seconds


def periodic_stall(period: float, stall: float, base: float = 0.0) -> Callable[[float], float]:
    """The server freezes for ``stall`` seconds at the start of every ``period``: a request arriving during
    the freeze waits until it ends. Time-correlated, as GC pauses and lock convoys are."""

    def latency(t: float) -> float:
        phase = t % period
        return base + (stall - phase if phase < stall else 0.0)

    return latency


def periodic_stall_percentile(period: float, stall: float, base: float, q: float) -> float:
    """The exact q-quantile (0 < q < 1) of :func:`periodic_stall`'s latency under uniform arrivals."""
    tail = 1.0 - q
    share = stall / period
    return base if tail >= share else base + stall - tail * period


@dataclass
class Behaviour:
    latency: Callable[[float], float] = field(default_factory=lambda: constant(0.0))
    tools: int = 3
    resources: int = 2
    prompts: int = 1
    page_size: int | None = None
    error_methods: frozenset[str] = frozenset()
    hang_methods: frozenset[str] = frozenset()
    bearer_token: str | None = None
    handshake_only: bool = False


@dataclass
class RunningServer:
    url: str
    behaviour: Behaviour
    endpoint: FakeServer  # every HTTP request (``endpoint.requests``) and the common fault injection

    @property
    def methods(self) -> list[str]:
        """Every JSON-RPC method that reached the server, in order."""
        return [m["method"] for m in map(_jsonrpc, self.endpoint.requests) if m]

    @property
    def verbs(self) -> list[str]:
        """Every HTTP method, in order."""
        return [r.method for r in self.endpoint.requests]

    @property
    def service_seconds(self) -> list[float]:
        """Per JSON-RPC request (not notification), arrival to last byte of the answer, as the server saw it."""
        return [r.finished - r.at for r in list(self.endpoint.requests)
                if r.finished is not None and "id" in (_jsonrpc(r) or {})]


def _page(kind: str, total: int, size: int | None, cursor: str | None) -> tuple[range, str | None]:
    start = int(cursor) if cursor else 0
    if cursor is not None and not (cursor.isdigit() and start < max(total, 1)):
        raise MCPError(types.INVALID_PARAMS, f"invalid {kind} cursor")
    end = total if size is None else min(total, start + size)
    return range(start, end), (str(end) if end < total else None)


def _build_server(behaviour: Behaviour, release: threading.Event, started: float) -> Server:
    async def shape(method: str) -> None:
        if method in behaviour.hang_methods:
            deadline = time.monotonic() + 60
            while not release.is_set() and time.monotonic() < deadline:
                await anyio.sleep(0.02)
        delay = behaviour.latency(time.monotonic() - started)
        if delay > 0:
            await anyio.sleep(delay)
        if method in behaviour.error_methods:
            raise MCPError(types.INTERNAL_ERROR, f"{method} failed (injected)")

    def cursor_of(params: types.PaginatedRequestParams | None) -> str | None:
        return params.cursor if params else None

    async def list_tools(ctx, params):
        await shape("tools/list")
        items, nxt = _page("tools", behaviour.tools, behaviour.page_size, cursor_of(params))
        return types.ListToolsResult(tools=[types.Tool(name=f"tool_{i}", description=f"tool {i}",
                                                       input_schema={"type": "object"}) for i in items],
                                     next_cursor=nxt)

    async def call_tool(ctx, params):
        return types.CallToolResult(content=[types.TextContent(type="text", text="called")])

    async def list_resources(ctx, params):
        await shape("resources/list")
        items, nxt = _page("resources", behaviour.resources, behaviour.page_size, cursor_of(params))
        return types.ListResourcesResult(resources=[types.Resource(name=f"r{i}", uri=f"file:///r{i}.txt")
                                                    for i in items], next_cursor=nxt)

    async def list_prompts(ctx, params):
        await shape("prompts/list")
        items, nxt = _page("prompts", behaviour.prompts, behaviour.page_size, cursor_of(params))
        return types.ListPromptsResult(prompts=[types.Prompt(name=f"p{i}") for i in items], next_cursor=nxt)

    handlers = {"on_list_tools": list_tools, "on_call_tool": call_tool}
    if behaviour.resources:
        handlers["on_list_resources"] = list_resources
    if behaviour.prompts:
        handlers["on_list_prompts"] = list_prompts
    return Server("cloudmake-test-server", version="1.0", **handlers)


class _Endpoint(FakeServer):
    """The SDK app behind the common request log and faults, with the HTTP-level behaviour a test asks for."""

    def __init__(self, app, behaviour: Behaviour):
        super().__init__(app)
        self.behaviour = behaviour

    def admit(self, request: Recorded) -> JSONResponse | None:
        if self.behaviour.bearer_token and request.bearer != self.behaviour.bearer_token:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        if self.behaviour.handshake_only and request.headers.get("mcp-protocol-version") == "2026-07-28":
            return JSONResponse({"jsonrpc": "2.0", "id": None, "error": {
                "code": -32600, "message": "Bad Request: Missing session ID"}}, status_code=400)
        return None


def _jsonrpc(request: Recorded) -> dict | None:
    try:
        message = request.json()
    except ValueError:
        return None
    return message if isinstance(message, dict) and "method" in message else None


@contextlib.contextmanager
def serve_mcp(mode: str = "stateful_json", behaviour: Behaviour | None = None) -> Iterator[RunningServer]:
    """Start an SDK MCP server in ``mode``; yields its endpoint URL and the methods it received."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {MODES}")
    behaviour = behaviour or Behaviour()
    release = threading.Event()
    if mode == "legacy_sse":
        app, path = MCPServer("cloudmake-legacy").sse_app(), "/sse"
    else:
        server = _build_server(behaviour, release, time.monotonic())
        app = server.streamable_http_app(json_response=mode != "stateful_sse", stateless_http=mode == "stateless")
        path = "/mcp"
    with _Endpoint(app, behaviour) as endpoint:
        try:
            yield RunningServer(endpoint.url + path, behaviour, endpoint)
        finally:
            release.set()
