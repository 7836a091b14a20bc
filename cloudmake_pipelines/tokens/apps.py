"""The apps a token version must reach, and how each one tells which version it serves.

Three ways to read the version, since apps expose it differently:

* ``json``: a JSON document at the URL, the version at a dotted path (``--json-field meta.tokens.version``);
* ``css``: a stylesheet at the URL declaring a custom property (``--css-var --ds-version``), e.g.
  ``:root { --ds-version: "2.4.0"; }`` (quotes optional);
* ``header``: a response header (``--header X-DS-Version``).

Credentials are references (``env:VARIABLE`` or ``secret:NAME``), resolved per request by the MCP
registry's :func:`~..mcp.registry.resolve_auth`, never stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import tinycss2
from sqlalchemy import Engine, delete, insert, select, update

from ..db.tables import token_apps
from ..db.types import utcnow
from ..errors import ConfigError
from ..mcp.registry import HEADER_PATTERN, NAME_PATTERN, RegistryError, check_auth_ref, check_endpoint

READ_KINDS = ("json", "css", "header")
_CSS_VAR = re.compile(r"^--[A-Za-z0-9_-]{1,100}$")
_JSON_PATH = re.compile(r"^[^.\s]{1,100}(\.[^.\s]{1,100}){0,19}$")


class AppError(RegistryError):
    """A registry operation got bad input or named an app that does not exist (exit 2)."""


class NoVersion(ConfigError):
    """An app answered, but not with a version where its registration says to look."""


@dataclass(frozen=True)
class App:
    """One registered app: where to poll, how to read the version (``read_kind``/``read_selector``), and
    where its credential lives (``auth_secret_ref``, never the value)."""

    name: str
    url: str
    read_kind: str = "json"
    read_selector: str = "version"
    auth_header: str | None = None
    auth_secret_ref: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def validate(self) -> App:
        if not NAME_PATTERN.match(self.name or ""):
            raise AppError(f"app name {self.name!r}: expected 1-100 characters of a-z 0-9 _ . - "
                           "starting with a letter or digit")
        check_endpoint(f"app {self.name}", "url", self.url, AppError)
        pattern = {"json": _JSON_PATH, "css": _CSS_VAR, "header": HEADER_PATTERN}.get(self.read_kind)
        if pattern is None:
            raise AppError(f"app {self.name}: read kind {self.read_kind!r}: expected one of {', '.join(READ_KINDS)}")
        if not pattern.match(self.read_selector or ""):
            expected = {"json": "a dotted JSON path such as version or meta.tokens.version",
                        "css": "a custom property such as --ds-version", "header": "an HTTP header name"}
            raise AppError(f"app {self.name}: {self.read_selector!r}: expected {expected[self.read_kind]}")
        check_auth_ref(f"app {self.name}", self.auth_secret_ref, self.auth_header, AppError)
        return self

    @property
    def expects(self) -> str:
        """What the app should serve, in words (for errors)."""
        return {"json": f"a JSON body with a version at {self.read_selector!r}",
                "css": f"a stylesheet declaring {self.read_selector}",
                "header": f"a {self.read_selector} response header"}[self.read_kind]

    def read_version(self, response: httpx.Response) -> str:
        """The version ``response`` carries; :class:`NoVersion` names the app and what was expected."""
        found: Any = None
        if self.read_kind == "header":
            found = response.headers.get(self.read_selector)
        elif self.read_kind == "json":
            try:
                found = json.loads(response.content)
            except ValueError:
                raise NoVersion(f"app {self.name}: the answer is not JSON; expected {self.expects}") from None
            for key in self.read_selector.split("."):
                found = found.get(key) if isinstance(found, dict) else None
        else:
            found = _css_custom_property(response.text, self.read_selector)
        if isinstance(found, bool) or not isinstance(found, str | int | float) or not str(found).strip():
            raise NoVersion(f"app {self.name} ({self.url}) serves no version: expected {self.expects}")
        return str(found).strip()[:200]


def _css_custom_property(text: str, name: str) -> str | None:
    """The first top-level-rule declaration of ``name`` (quotes stripped), or None."""
    for rule in tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True):
        if rule.type != "qualified-rule":
            continue
        for node in tinycss2.parse_blocks_contents(rule.content, skip_comments=True, skip_whitespace=True):
            if node.type == "declaration" and node.name == name:
                return tinycss2.serialize(node.value).strip().strip("'\"")
    return None


def _row_to_app(row: Any) -> App:
    return App(row.name, row.url, row.read_kind, row.read_selector, row.auth_header, row.auth_secret_ref,
               row.created_at, row.updated_at)


class AppRegistry:
    """The apps in ``token_apps``."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow):
        self.engine, self.clock = engine, clock

    def add(self, app: App, *, replace: bool = False) -> App:
        app.validate()
        now = self.clock()
        values = {"url": app.url, "read_kind": app.read_kind, "read_selector": app.read_selector,
                  "auth_header": app.auth_header, "auth_secret_ref": app.auth_secret_ref, "updated_at": now}
        with self.engine.begin() as conn:
            exists = conn.execute(select(token_apps.c.id).where(token_apps.c.name == app.name)).first()
            if exists and not replace:
                raise AppError(f"app {app.name!r} is already registered (use --replace to update it)")
            if exists:
                conn.execute(update(token_apps).where(token_apps.c.name == app.name).values(**values))
            else:
                conn.execute(insert(token_apps).values(name=app.name, created_at=now, **values))
        return self.get(app.name)

    def get(self, name: str) -> App:
        with self.engine.connect() as conn:
            row = conn.execute(select(token_apps).where(token_apps.c.name == name)).first()
        if row is None:
            raise AppError(f"app {name!r} is not registered (see `cloudmake tokens apps list`)")
        return _row_to_app(row)

    def list(self) -> list[App]:
        with self.engine.connect() as conn:
            return [_row_to_app(r) for r in conn.execute(select(token_apps).order_by(token_apps.c.name))]

    def remove(self, name: str) -> None:
        """Forget the app; its propagation history stays (it is history)."""
        with self.engine.begin() as conn:
            if conn.execute(delete(token_apps).where(token_apps.c.name == name)).rowcount == 0:
                raise AppError(f"app {name!r} is not registered (see `cloudmake tokens apps list`)")
