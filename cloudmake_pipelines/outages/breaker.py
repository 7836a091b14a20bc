"""A circuit breaker per MCP server, for the load tester and any client.

CLOSED lets calls through and counts consecutive failures; ``failure_threshold`` of them open it.
OPEN rejects calls (:class:`CircuitOpenError`) until ``reset_timeout_seconds`` have passed, then lets
``half_open_max_calls`` probe calls through (HALF_OPEN): a success closes it, a failure opens it again.
Every state change is persisted through :class:`~.store.BreakerStore` (when one is given), which is what
the outage sensor watches; a state forced by an operator (``cloudmake mcp breaker set``) is honoured.

Use it as ``with breaker.guard(): call()`` (works in async code too), or ``breaker.call(fn, ...)``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TypeVar

from ..db.types import utcnow
from ..errors import CloudMakeError
from .model import State
from .store import BreakerStore

T = TypeVar("T")


class CircuitOpenError(CloudMakeError):
    """The breaker is open: the call was not made. Use the server's fallback instead."""

    def __init__(self, server: str, retry_at: datetime | None):
        self.server, self.retry_at = server, retry_at
        when = f"; next probe at {retry_at.isoformat()}" if retry_at else ""
        super().__init__(f"circuit breaker for MCP server '{server}' is open{when}")


class CircuitBreaker:
    def __init__(self, server: str, store: BreakerStore | None = None, *, failure_threshold: int = 5,
                 reset_timeout_seconds: float = 30.0, half_open_max_calls: int = 1,
                 clock: Callable[[], datetime] = utcnow, source: str = "breaker"):
        if failure_threshold < 1 or half_open_max_calls < 1 or reset_timeout_seconds < 0:
            raise ValueError("failure_threshold and half_open_max_calls must be >= 1, reset_timeout_seconds >= 0")
        self.server, self.store, self.clock, self.source = server, store, clock, source
        self.failure_threshold = failure_threshold
        self.reset_timeout = timedelta(seconds=reset_timeout_seconds)
        self.half_open_max_calls = half_open_max_calls
        self._lock = threading.Lock()
        self._state, self._failures, self._opened_at, self._probes = State.CLOSED, 0, None, 0
        persisted = store.status(server) if store else None
        if persisted is not None:
            self._state, self._failures = persisted.state, persisted.failure_count
            self._opened_at = persisted.updated_at if persisted.state != State.CLOSED else None

    @property
    def state(self) -> State:
        return self._state

    @property
    def failure_count(self) -> int:
        return self._failures

    def allow(self) -> bool:
        """May a call go through now? In HALF_OPEN this reserves one probe slot."""
        with self._lock:
            if self._state == State.OPEN and self.clock() - self._opened_at >= self.reset_timeout:
                self._move(State.HALF_OPEN, "reset timeout elapsed: probing")
            if self._state == State.CLOSED:
                return True
            if self._state == State.HALF_OPEN and self._probes < self.half_open_max_calls:
                self._probes += 1
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            if self._state == State.HALF_OPEN:
                self._probes = max(0, self._probes - 1)
                self._failures = 0
                self._move(State.CLOSED, "probe succeeded")
            elif self._state == State.CLOSED:
                self._failures = 0

    def record_failure(self, reason: str | None = None) -> None:
        with self._lock:
            self._failures += 1
            if self._state == State.HALF_OPEN:
                self._probes = max(0, self._probes - 1)
                self._move(State.OPEN, reason or "probe failed")
            elif self._state == State.CLOSED and self._failures >= self.failure_threshold:
                self._move(State.OPEN, reason or f"{self._failures} consecutive failures")

    @contextlib.contextmanager
    def guard(self, is_failure: Callable[[Exception], bool] = lambda exc: True) -> Iterator[None]:
        """Run the block if the breaker allows it. An exception propagates; it counts as a failure when
        ``is_failure(exc)`` (e.g. not for a 4xx the server answered), else as a success. A cancellation
        (``BaseException``) counts as neither but frees its HALF_OPEN probe slot."""
        if not self.allow():
            raise CircuitOpenError(self.server, self._opened_at + self.reset_timeout if self._opened_at else None)
        try:
            yield
        except Exception as exc:
            if is_failure(exc):
                self.record_failure(type(exc).__name__)
            else:
                self.record_success()
            raise
        except BaseException:
            with self._lock:
                self._probes = max(0, self._probes - 1)
            raise
        self.record_success()

    def call(self, fn: Callable[..., T], *args, **kwargs) -> T:
        with self.guard():
            return fn(*args, **kwargs)

    def _move(self, state: State, reason: str) -> None:
        """Change state (under the lock) and persist the transition."""
        now = self.clock()
        self._state = state
        if state == State.OPEN:
            self._opened_at = now
        elif state == State.CLOSED:
            self._opened_at, self._probes = None, 0
        if self.store is not None:
            self.store.set_state(self.server, state, failure_count=self._failures, at=now, reason=reason,
                                 source=self.source)
