"""Where the detector reads breakers from: the database, or the gateway's HTTP endpoint.

Both give the same two things: the transitions after an id (plus older ids still awaited), and a
snapshot of current states (used once, when the detector starts without a cursor). An unreachable
source raises :class:`SourceUnavailable`, which the sensor turns into a skipped tick.

The HTTP contract (served by :func:`.http_api.breaker_api`)::

    GET {url}/breakers                   -> {"last_transition_id": int, "breakers": [BreakerStatus...]}
    GET {url}/breakers/transitions?after=ID&also=ID,ID&limit=N
                                         -> {"transitions": [Transition...]}   (ordered by id)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Protocol

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from ..errors import CloudMakeError
from ..http import TRANSIENT_STATUSES, HttpClient, RetryPolicy, TransientStatus, Unreachable
from ..logs import redactor
from ..settings import Secret
from .model import STATUSES, TRANSITIONS, Transition
from .store import BreakerStore, Snapshot


class SourceUnavailable(CloudMakeError):
    """The breaker source (or the database) did not answer; nothing was read or written."""


class BreakerEndpointError(CloudMakeError):
    """The HTTP endpoint answered, but not as the contract says (wrong URL, auth, or body)."""


class BreakerSource(Protocol):
    description: str

    def transitions(self, after: int, also: Iterable[int] = (), limit: int = 5000) -> list[Transition]: ...

    def snapshot(self) -> Snapshot: ...

    def close(self) -> None: ...


def is_connection_error(exc: DBAPIError) -> bool:
    """A database that cannot be reached, as opposed to a bad query (SQLite reports both as OperationalError)."""
    message = str(exc.orig or "")
    return exc.connection_invalidated or (
        type(exc.orig).__name__ in ("OperationalError", "InterfaceError")
        and not message.startswith("no such") and "syntax error" not in message)


@contextlib.contextmanager
def database_reachable() -> Iterator[None]:
    """Turn "cannot reach the database" into :class:`SourceUnavailable`; other errors pass through."""
    try:
        yield
    except DBAPIError as exc:
        if not is_connection_error(exc):
            raise
        text = str(exc.orig or exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        raise SourceUnavailable(f"database unreachable: {redactor(first)}") from None


class DatabaseSource:
    def __init__(self, engine: Engine):
        self.store = BreakerStore(engine)
        self.description = "database"

    def transitions(self, after: int, also: Iterable[int] = (), limit: int = 5000) -> list[Transition]:
        with database_reachable():
            return self.store.transitions(after, also, limit)

    def snapshot(self) -> Snapshot:
        with database_reachable():
            return self.store.snapshot()

    def close(self) -> None:
        """The engine is shared (and pooled) by its owner: nothing to release here."""


class HttpSource:
    """The gateway's breaker endpoint. Retries (500 included: the endpoint is ours, a 500 is a database
    hiccup) stay within 30 s, well inside the 60 s Dagster gives a sensor tick."""

    def __init__(self, url: str, token: Secret | None = None, *, timeout_seconds: float = 10.0,
                 attempts: int = 3, backoff_seconds: float = 0.5):
        self.url = url.rstrip("/")
        self.description = redactor(f"HTTP endpoint {self.url}")  # never a user:password@ in messages
        headers = {"Authorization": f"Bearer {token.reveal()}"} if token else {}
        policy = RetryPolicy(attempts=attempts, backoff=backoff_seconds, max_backoff=5.0, deadline=30.0,
                             statuses=TRANSIENT_STATUSES | {500})
        self._http = HttpClient(self.url, service="breaker endpoint", setting="CLOUDMAKE_MCP_BREAKER_URL",
                                headers=headers, timeout=timeout_seconds, retry=policy)

    def close(self) -> None:
        self._http.close()

    def _fetch(self, path: str, params: dict | None = None) -> dict:
        try:
            response = self._http.get(path, params=params)
        except TransientStatus as exc:
            raise SourceUnavailable(f"{self.description} answered HTTP {exc.status}") from None
        except Unreachable as exc:
            raise SourceUnavailable(f"{self.description} unreachable ({exc.reason})") from None
        if not response.is_success:
            raise BreakerEndpointError(f"{self.description}{path} answered HTTP {response.status_code}: check "
                                       "CLOUDMAKE_MCP_BREAKER_URL and CLOUDMAKE_MCP_BREAKER_TOKEN")
        try:
            body = response.json()
        except ValueError:
            raise BreakerEndpointError(f"{self.description}{path} did not answer JSON") from None
        if not isinstance(body, dict):
            raise BreakerEndpointError(f"{self.description}{path}: expected a JSON object")
        return body

    def transitions(self, after: int, also: Iterable[int] = (), limit: int = 5000) -> list[Transition]:
        params = {"after": after, "limit": limit}
        also = list(also)
        if also:
            params["also"] = ",".join(map(str, also))
        body = self._fetch("/breakers/transitions", params)
        return _validated(TRANSITIONS, body, "transitions", self.description)

    def snapshot(self) -> Snapshot:
        body = self._fetch("/breakers")
        breakers = _validated(STATUSES, body, "breakers", self.description)
        last = body.get("last_transition_id")
        if not isinstance(last, int) or last < 0:
            raise BreakerEndpointError(f"{self.description}/breakers: last_transition_id: expected an integer >= 0")
        return Snapshot(last, breakers)


def _validated(adapter, body: dict, key: str, where: str):
    try:
        return adapter.validate_python(body.get(key))
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(part) for part in (key, *first["loc"]))
        raise BreakerEndpointError(f"{where}: {loc}: {first['msg']}") from None
