"""A small, fast MCP client over Streamable HTTP, with the read-only allowlist at its lowest layer.

Speaks both shapes the current SDK serves on one endpoint:

* the session-less 2026-07-28 revision: every request is a self-contained POST carrying
  ``MCP-Protocol-Version`` and ``Mcp-Method`` headers and the client's identity in ``params._meta``;
  capabilities come from ``server/discover``;
* the handshake revisions (2025-11-25 and earlier): ``initialize``, ``notifications/initialized``, then
  requests carrying ``Mcp-Session-Id`` (when the server issued one) and ``MCP-Protocol-Version``, and a
  ``DELETE`` of the session at the end.

Responses may be JSON or an SSE stream. A JSON-RPC error inside an HTTP 200 is an error. The legacy
HTTP+SSE transport (2024-11-05) is recognised and reported as unsupported.

Every message leaves through :meth:`McpClient._post`, which refuses any method outside
:func:`is_read_only` while ``read_only`` is on, before a byte is sent. Tool annotations play no part:
the spec calls them untrusted.

The hot path uses aiohttp rather than httpx: about 0.7 ms of client CPU per request instead of about
3 ms, measured in ``benchmarks/mcp_loadtest.py``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from typing import Any

import aiohttp

HANDSHAKE_VERSION = "2025-11-25"
SESSIONLESS_VERSION = "2026-07-28"
CLIENT_INFO = {"name": "cloudmake-loadtest", "version": "1"}
READ_ONLY_METHODS = frozenset({"initialize", "notifications/initialized", "ping", "server/discover"})
#: capability name in the server's answer -> the list operation it makes available
CAPABILITY_OPERATIONS = {"tools": "tools/list", "resources": "resources/list", "prompts": "prompts/list"}
_ACCEPT = "application/json, text/event-stream"


def is_read_only(method: str) -> bool:
    """The allowlist: the handshake, ``ping``, ``server/discover`` and ``*/list``; nothing else."""
    return method in READ_ONLY_METHODS or method.endswith("/list")


class McpError(Exception):
    """A failed MCP exchange. ``kind`` is the error class counted in metrics: timeout, connection, http,
    auth, jsonrpc, protocol, not_allowed, unsupported_transport."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class McpClient:
    """One logical MCP connection (one session in handshake mode). Use as ``async with``.

    ``transport`` is the registry's: ``streamable_http`` (prefer session-less, fall back to the
    handshake), ``streamable_http_handshake`` or ``streamable_http_sessionless``.
    """

    def __init__(self, url: str, *, transport: str = "streamable_http", headers: Mapping[str, str] | None = None,
                 read_only: bool = True, timeout_seconds: float = 5.0, max_connections: int = 64):
        self.url = url
        self.transport = transport
        self.read_only = read_only
        self.timeout_seconds = timeout_seconds
        self.protocol_version: str | None = None
        self.session_id: str | None = None
        self.capabilities: dict[str, Any] = {}
        self.server_info: dict[str, Any] = {}
        self._headers = {"Accept": _ACCEPT, "Content-Type": "application/json", **(headers or {})}
        self._ids = itertools.count(1)
        self._max_connections = max_connections
        self._http: aiohttp.ClientSession | None = None

    @property
    def sessionless(self) -> bool:
        return self.protocol_version == SESSIONLESS_VERSION

    async def __aenter__(self) -> McpClient:
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._max_connections, force_close=False),
            timeout=aiohttp.ClientTimeout(total=self.timeout_seconds))
        try:
            await self.connect()
        except BaseException:
            await self._http.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            if self.session_id is not None:
                await self._delete_session()
        finally:
            if self._http is not None:
                await self._http.close()

    # -- connection set-up -------------------------------------------------------------------------

    async def connect(self) -> None:
        """Negotiate the protocol revision and learn the server's capabilities."""
        if self.transport != "streamable_http_handshake":
            try:
                result = await self._discover()
            except McpError as exc:
                if self.transport == "streamable_http_sessionless" or exc.kind in ("auth", "timeout", "connection"):
                    raise
            else:
                if SESSIONLESS_VERSION in (result.get("supportedVersions") or []):
                    self.protocol_version = SESSIONLESS_VERSION
                    self._learn(result, (result.get("_meta") or {}).get("io.modelcontextprotocol/serverInfo"))
                    return
                if self.transport == "streamable_http_sessionless":
                    raise McpError("protocol", "server does not offer the session-less 2026-07-28 revision")
        await self._handshake()

    async def _discover(self) -> dict[str, Any]:
        self.protocol_version = SESSIONLESS_VERSION
        try:
            return await self.request("server/discover")
        finally:
            self.protocol_version = None

    async def _handshake(self) -> None:
        params = {"protocolVersion": HANDSHAKE_VERSION, "capabilities": {}, "clientInfo": CLIENT_INFO}
        try:
            result = await self.request("initialize", params)
        except McpError as exc:
            if exc.kind == "http" and await self._is_legacy_sse():
                raise McpError("unsupported_transport",
                               "server speaks the legacy HTTP+SSE transport (2024-11-05), which the load tester "
                               "does not support: register its Streamable HTTP endpoint instead") from None
            raise
        version = result.get("protocolVersion")
        if not isinstance(version, str):
            raise McpError("protocol", "initialize result has no protocolVersion")
        self.protocol_version = version
        self._learn(result, result.get("serverInfo"))
        await self.notify("notifications/initialized")

    def _learn(self, result: Mapping[str, Any], server_info: Any) -> None:
        capabilities = result.get("capabilities")
        if not isinstance(capabilities, dict):
            raise McpError("protocol", "server did not declare its capabilities")
        self.capabilities = capabilities
        self.server_info = server_info if isinstance(server_info, dict) else {}

    async def _is_legacy_sse(self) -> bool:
        """The 2024-11-05 transport answers a GET with an SSE stream whose first event is ``endpoint``."""
        assert self._http is not None
        try:
            async with self._http.get(self.url, headers={**self._headers, "Accept": "text/event-stream"},
                                      timeout=aiohttp.ClientTimeout(total=min(self.timeout_seconds, 5))) as resp:
                if resp.status != 200 or not resp.content_type.startswith("text/event-stream"):
                    return False
                async for line in resp.content:
                    text = line.decode("utf-8", "replace").strip()
                    if text.startswith("event:"):
                        return text.partition(":")[2].strip() == "endpoint"
                    if text.startswith("data:"):
                        return False
        except (TimeoutError, aiohttp.ClientError):
            return False
        return False

    async def _delete_session(self) -> None:
        assert self._http is not None
        try:
            async with self._http.delete(self.url, headers=self._session_headers(None)):
                pass  # 405 means the server does not let clients end sessions: fine
        except (TimeoutError, aiohttp.ClientError):
            pass
        self.session_id = None

    # -- operations --------------------------------------------------------------------------------

    def advertised_operations(self) -> list[str]:
        return [op for cap, op in CAPABILITY_OPERATIONS.items() if cap in self.capabilities]

    async def list_all(self, method: str, *, max_pages: int = 100) -> tuple[int, int]:
        """Run ``method`` following ``nextCursor`` to the end. Returns (items, pages)."""
        key = method.split("/")[0]
        items, cursor, seen = 0, None, set()
        for page in range(1, max_pages + 1):
            result = await self.request(method, {"cursor": cursor} if cursor else None)
            found = result.get(key)
            if not isinstance(found, list):
                raise McpError("protocol", f"{method} result has no {key!r} list")
            items += len(found)
            cursor = result.get("nextCursor")
            if not cursor:
                return items, page
            if cursor in seen:
                raise McpError("protocol", f"{method} returned the same nextCursor twice")
            seen.add(cursor)
        raise McpError("protocol", f"{method} pagination did not end within {max_pages} pages")

    async def request(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Send one JSON-RPC request; return its ``result`` or raise :class:`McpError`."""
        request_id = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if self.sessionless:
            message["params"] = {**(params or {}), "_meta": {
                "io.modelcontextprotocol/protocolVersion": SESSIONLESS_VERSION,
                "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
                "io.modelcontextprotocol/clientCapabilities": {}}}
        elif params:
            message["params"] = dict(params)
        return await self._post(message)

    async def notify(self, method: str) -> None:
        await self._post({"jsonrpc": "2.0", "method": method})

    # -- the wire ----------------------------------------------------------------------------------

    def _session_headers(self, method: str | None) -> dict[str, str]:
        headers = dict(self._headers)
        if self.protocol_version:
            headers["MCP-Protocol-Version"] = self.protocol_version
        if self.sessionless and method:
            headers["Mcp-Method"] = method
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        return headers

    async def _post(self, message: dict[str, Any]) -> Any:
        """The one place a message goes on the wire: the allowlist is enforced here."""
        method = message["method"]
        if self.read_only and not is_read_only(method):
            raise McpError("not_allowed", f"{method!r} refused: read-only mode allows only the handshake, ping "
                                          "and */list methods")
        assert self._http is not None, "use McpClient as an async context manager"
        try:
            async with self._http.post(self.url, data=json.dumps(message), headers=self._session_headers(method)) as resp:
                if method == "initialize" and "Mcp-Session-Id" in resp.headers:
                    self.session_id = resp.headers["Mcp-Session-Id"]
                if resp.status in (401, 403):
                    raise McpError("auth", f"{method}: HTTP {resp.status} (check the server's auth header)")
                if "id" not in message:
                    if resp.status >= 300:
                        raise McpError("http", f"{method}: HTTP {resp.status}")
                    return None
                if resp.content_type == "text/event-stream" and resp.status == 200:
                    return _result(method, message["id"], await _read_sse(resp, message["id"]))
                body = await resp.read()
                reply = _parse(method, body, resp.content_type) if resp.content_type == "application/json" else None
                if resp.status >= 300 and not (isinstance(reply, dict) and "error" in reply):
                    raise McpError("http", f"{method}: HTTP {resp.status}")
                if reply is None:
                    raise McpError("protocol", f"{method}: unexpected content type {resp.content_type!r}")
                return _result(method, message["id"], reply)
        except TimeoutError:
            raise McpError("timeout", f"{method}: no answer within {self.timeout_seconds} s") from None
        except aiohttp.ClientConnectionError as exc:
            raise McpError("connection", f"{method}: {type(exc).__name__}") from None
        except aiohttp.ClientPayloadError as exc:
            raise McpError("protocol", f"{method}: malformed response body ({type(exc).__name__})") from None


def _parse(method: str, body: bytes, content_type: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise McpError("protocol", f"{method}: response is not valid JSON ({content_type})") from None


def _result(method: str, request_id: int, reply: Any) -> dict[str, Any]:
    if not isinstance(reply, dict) or reply.get("jsonrpc") != "2.0":
        raise McpError("protocol", f"{method}: response is not a JSON-RPC 2.0 message")
    if reply.get("id") != request_id:
        raise McpError("protocol", f"{method}: response id {reply.get('id')!r} does not match {request_id}")
    if "error" in reply:
        error = reply["error"] if isinstance(reply["error"], dict) else {}
        raise McpError("jsonrpc", f"{method}: JSON-RPC error {error.get('code')}: {error.get('message')}")
    result = reply.get("result")
    if not isinstance(result, dict):
        raise McpError("protocol", f"{method}: response has no result object")
    return result


async def _read_sse(resp: aiohttp.ClientResponse, request_id: int) -> Any:
    """Read SSE events until the JSON-RPC response for ``request_id``; skip server notifications."""
    data: list[str] = []
    async for raw in resp.content:
        line = raw.decode("utf-8").rstrip("\r\n")
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif not line and data:
            try:
                message = json.loads("\n".join(data))
            except ValueError:
                raise McpError("protocol", "SSE event data is not valid JSON") from None
            data = []
            if isinstance(message, dict) and message.get("id") == request_id and "method" not in message:
                return message
    raise McpError("protocol", "SSE stream ended without a response")
