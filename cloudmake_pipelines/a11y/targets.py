"""What is audited: a design system's Storybook (every story its ``index.json`` lists) and/or page URLs.

Credentials are references (``env:VARIABLE`` or ``secret:NAME``), resolved per audit by the MCP registry's
:func:`~..mcp.registry.resolve_auth` and sent only to the target's own origins, never stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Engine, delete, insert, select, update

from ..db.tables import a11y_targets
from ..db.types import utcnow
from ..mcp.registry import NAME_PATTERN, RegistryError, check_auth_ref, check_endpoint

MAX_PAGES = 1000  # page URLs per target (a Storybook lists its own stories)


class TargetError(RegistryError):
    """A registry operation got bad input or named a target that does not exist (exit 2)."""


@dataclass(frozen=True)
class Target:
    """One registered target: a Storybook base URL (where ``index.json`` and ``iframe.html`` are) and/or
    pages, and where its credential lives (``auth_secret_ref``, never the value)."""

    name: str
    storybook_url: str | None = None
    page_urls: tuple[str, ...] = field(default_factory=tuple)
    auth_header: str | None = None
    auth_secret_ref: str | None = None
    created_at: datetime | None = None

    def validate(self) -> Target:
        if not NAME_PATTERN.match(self.name or ""):
            raise TargetError(f"target name {self.name!r}: expected 1-100 characters of a-z 0-9 _ . - "
                              "starting with a letter or digit")
        if not self.storybook_url and not self.page_urls:
            raise TargetError(f"target {self.name}: expected a Storybook URL (--storybook) or page URLs (--page)")
        if self.storybook_url:
            check_endpoint(f"target {self.name}", "storybook", self.storybook_url, TargetError)
        if len(self.page_urls) > MAX_PAGES:
            raise TargetError(f"target {self.name}: {len(self.page_urls)} pages; expected at most {MAX_PAGES}")
        for url in self.page_urls:
            check_endpoint(f"target {self.name}", "page", url, TargetError)
        check_auth_ref(f"target {self.name}", self.auth_secret_ref, self.auth_header, TargetError)
        return self

    @property
    def storybook_base(self) -> str | None:
        """The Storybook's base URL, ending in ``/`` (``…/index.html`` and ``…/iframe.html`` dropped)."""
        if not self.storybook_url:
            return None
        base = self.storybook_url.split("?", 1)[0].split("#", 1)[0]
        for page in ("index.html", "iframe.html"):
            if base.endswith("/" + page):
                base = base[: -len(page)]
        return base if base.endswith("/") else base + "/"

    @property
    def origins(self) -> frozenset[str]:
        """Where the credential may go: the origins of the Storybook and the pages."""
        urls = [u for u in (self.storybook_url, *self.page_urls) if u]
        return frozenset(_origin(u) for u in urls)


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode()}"


def _row_to_target(row: Any) -> Target:
    return Target(row.name, row.storybook_url, tuple(row.page_urls or ()), row.auth_header, row.auth_secret_ref,
                  row.created_at)


class TargetRegistry:
    """The targets in ``a11y_targets``."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow):
        self.engine, self.clock = engine, clock

    def add(self, target: Target, *, replace: bool = False) -> Target:
        target.validate()
        now = self.clock()
        values = {"storybook_url": target.storybook_url, "page_urls": list(target.page_urls),
                  "auth_header": target.auth_header, "auth_secret_ref": target.auth_secret_ref, "updated_at": now}
        with self.engine.begin() as conn:
            exists = conn.execute(select(a11y_targets.c.id).where(a11y_targets.c.name == target.name)).first()
            if exists and not replace:
                raise TargetError(f"target {target.name!r} is already registered (use --replace to update it)")
            if exists:
                conn.execute(update(a11y_targets).where(a11y_targets.c.name == target.name).values(**values))
            else:
                conn.execute(insert(a11y_targets).values(name=target.name, created_at=now, **values))
        return self.get(target.name)

    def get(self, name: str) -> Target:
        with self.engine.connect() as conn:
            row = conn.execute(select(a11y_targets).where(a11y_targets.c.name == name)).first()
        if row is None:
            raise TargetError(f"target {name!r} is not registered (see `cloudmake a11y targets list`)")
        return _row_to_target(row)

    def list(self) -> list[Target]:
        with self.engine.connect() as conn:
            return [_row_to_target(r) for r in conn.execute(select(a11y_targets).order_by(a11y_targets.c.name))]

    def remove(self, name: str) -> None:
        """Forget the target; its audits stay (they are history)."""
        with self.engine.begin() as conn:
            if conn.execute(delete(a11y_targets).where(a11y_targets.c.name == name)).rowcount == 0:
                raise TargetError(f"target {name!r} is not registered (see `cloudmake a11y targets list`)")
