"""Add, list, get, enable/disable and remove MCP servers in the ``mcp_servers`` table.

A server's name is also its Dagster partition key, so it is restricted to a safe alphabet. Credentials
are never stored here: ``auth_secret_ref`` names where the header value lives (``env:VARIABLE``, or
``secret:NAME`` in the encrypted keyring), and :func:`resolve_auth` reads it when a request needs it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..db.tables import mcp_servers
from ..db.types import utcnow
from ..errors import ConfigError
from ..logs import redactor
from ..settings import get_settings

#: ``streamable_http`` negotiates: the session-less 2026-07-28 revision when the server offers it, else the
#: ``initialize`` handshake. The other two pin one of them.
TRANSPORTS = ("streamable_http", "streamable_http_handshake", "streamable_http_sessionless")
#: Where an auth header's value may come from: an environment variable, or the encrypted keyring.
AUTH_SCHEMES = ("env", "secret")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
HEADER_PATTERN = re.compile(r"^[A-Za-z0-9-]{1,100}$")


class RegistryError(ConfigError):
    """A registry operation got bad input or named a server that does not exist (exit 2)."""


def check_endpoint(owner: str, what: str, url: str, error: type[RegistryError]) -> None:
    """``url`` is http(s) with a host and no credentials in it (the token and accessibility registries)."""
    import httpx

    try:
        parsed = httpx.URL(url or "")
    except httpx.InvalidURL:
        parsed = httpx.URL("")
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise error(f"{owner}: {what} {url!r}: expected an http:// or https:// URL with a host")
    if parsed.userinfo:
        raise error(f"{owner}: credentials in the URL are not allowed; use --auth env:VAR|secret:NAME")


def check_auth_ref(owner: str, ref: str | None, header: str | None, error: type[RegistryError]) -> None:
    """A credential reference is ``env:VARIABLE`` or ``secret:NAME`` and names the header it goes in."""
    if ref is None:
        return
    scheme, _, name = ref.partition(":")
    if scheme not in AUTH_SCHEMES or not name:
        raise error(f"{owner}: auth {ref!r}: expected env:VARIABLE or secret:NAME")
    if not HEADER_PATTERN.match(header or ""):
        raise error(f"{owner}: auth header {header!r}: expected an HTTP header name")


@dataclass(frozen=True)
class McpServer:
    """One registered MCP server. ``thresholds`` are per-server overrides of the load-test thresholds."""

    name: str
    url: str
    transport: str = "streamable_http"
    auth_header: str | None = None
    auth_secret_ref: str | None = None
    enabled: bool = True
    thresholds: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def validate(self) -> McpServer:
        if not NAME_PATTERN.match(self.name or ""):
            raise RegistryError(f"name {self.name!r}: expected 1-100 characters of a-z 0-9 _ . - "
                                "starting with a letter or digit")
        parts = urlsplit(self.url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RegistryError(f"url {self.url!r}: expected an http:// or https:// URL with a host")
        if parts.username or parts.password:
            raise RegistryError("url: credentials in the URL are not allowed; use --auth-header with "
                                "--auth-secret env:VARIABLE or secret:NAME")
        if self.transport not in TRANSPORTS:
            raise RegistryError(f"transport {self.transport!r}: expected one of {', '.join(TRANSPORTS)}")
        if (self.auth_header is None) != (self.auth_secret_ref is None):
            raise RegistryError("auth: give both the header name and the secret reference, or neither")
        if self.auth_header is not None and not HEADER_PATTERN.match(self.auth_header):
            raise RegistryError(f"auth_header {self.auth_header!r}: expected an HTTP header name")
        if self.auth_secret_ref is not None:
            scheme, _, ref = self.auth_secret_ref.partition(":")
            if scheme not in AUTH_SCHEMES or not ref:
                raise RegistryError(f"auth_secret_ref {self.auth_secret_ref!r}: expected env:VARIABLE or secret:NAME")
        if not isinstance(self.thresholds, Mapping):
            raise RegistryError("thresholds: expected a JSON object of threshold overrides")
        return self.check_thresholds()

    def check_thresholds(self) -> McpServer:
        """Every numeric override is finite: a NaN target makes every ``p95 > target`` false, so SC-021 and
        the alerts would always pass. Checked before storing and again on reading (rows written elsewhere)."""
        for key, value in self.thresholds.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise RegistryError(f"server {self.name!r}: threshold {key}={value} is not a finite number "
                                    f"(re-register it: cloudmake mcp add {self.name} URL --replace --threshold ...)")
        return self


def resolve_auth(server: McpServer, environ: Mapping[str, str] | None = None,
                 secrets: Callable[[str], str] | None = None) -> dict[str, str]:
    """The auth header for ``server`` ({} when it has none). ``secrets`` looks up ``secret:NAME`` in the
    keyring. The value is registered with the log redactor before anything can print it."""
    if server.auth_header is None or server.auth_secret_ref is None:
        return {}
    scheme, _, ref = server.auth_secret_ref.partition(":")
    if scheme == "secret":
        if secrets is None:
            raise ConfigError(f"server {server.name!r}: {server.auth_secret_ref} needs the keyring")
        value = secrets(ref)
    else:
        value = get_settings().variable(ref) if environ is None else environ.get(ref)
        if not value:
            raise ConfigError(f"server {server.name!r}: auth secret {server.auth_secret_ref} is not set (export {ref})")
    redactor.add(value, value.partition(" ")[2])  # also the token alone, without "Bearer "
    return {server.auth_header: value}


def _row_to_server(row: Any) -> McpServer:
    return McpServer(name=row.name, url=row.url, transport=row.transport, auth_header=row.auth_header,
                     auth_secret_ref=row.auth_secret_ref, enabled=row.enabled,
                     thresholds=dict(row.thresholds or {}), created_at=row.created_at,
                     updated_at=row.updated_at)


class Registry:
    """The MCP servers in one database. ``clock`` stamps created/updated times (tests inject one)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow,
                 validate_thresholds: Callable[[Mapping[str, Any]], None] | None = None):
        self.engine = engine
        self.clock = clock
        self._validate_thresholds = validate_thresholds

    def add(self, server: McpServer, *, replace: bool = False) -> McpServer:
        """Register ``server``; with ``replace`` an existing one of that name is updated instead of refused."""
        server.validate()
        if self._validate_thresholds is not None:
            self._validate_thresholds(server.thresholds)
        now = self.clock()
        values = {"url": server.url, "transport": server.transport, "auth_header": server.auth_header,
                  "auth_secret_ref": server.auth_secret_ref, "enabled": server.enabled,
                  "thresholds": dict(server.thresholds) or None, "updated_at": now}
        with self.engine.begin() as conn:
            exists = conn.execute(select(mcp_servers.c.id).where(mcp_servers.c.name == server.name)).first()
            if exists and not replace:
                raise RegistryError(f"server {server.name!r} is already registered (use --replace to update it)")
            try:
                if exists:
                    conn.execute(update(mcp_servers).where(mcp_servers.c.name == server.name).values(**values))
                else:
                    conn.execute(insert(mcp_servers).values(name=server.name, created_at=now, **values))
            except IntegrityError:  # a concurrent add of the same name won the race
                raise RegistryError(f"server {server.name!r} is already registered") from None
        return self.get(server.name)

    def list(self, *, enabled_only: bool = False) -> list[McpServer]:
        query = select(mcp_servers).order_by(mcp_servers.c.name)
        if enabled_only:
            query = query.where(mcp_servers.c.enabled.is_(True))
        with self.engine.connect() as conn:
            return [_row_to_server(row) for row in conn.execute(query)]

    def get(self, name: str) -> McpServer:
        with self.engine.connect() as conn:
            row = conn.execute(select(mcp_servers).where(mcp_servers.c.name == name)).first()
        if row is None:
            raise RegistryError(f"server {name!r} is not registered (see `cloudmake mcp list`)")
        return _row_to_server(row).check_thresholds()

    def set_enabled(self, name: str, enabled: bool) -> McpServer:
        with self.engine.begin() as conn:
            result = conn.execute(update(mcp_servers).where(mcp_servers.c.name == name)
                                  .values(enabled=enabled, updated_at=self.clock()))
        if result.rowcount == 0:
            raise RegistryError(f"server {name!r} is not registered (see `cloudmake mcp list`)")
        return self.get(name)

    def remove(self, name: str) -> None:
        """Unregister ``name``. Its recorded metrics stay (they are history, keyed by name)."""
        with self.engine.begin() as conn:
            result = conn.execute(delete(mcp_servers).where(mcp_servers.c.name == name))
        if result.rowcount == 0:
            raise RegistryError(f"server {name!r} is not registered (see `cloudmake mcp list`)")
