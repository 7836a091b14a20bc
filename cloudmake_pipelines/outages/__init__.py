"""MCP outage detection (seed task 2), as plain Python: no Dagster here.

* :mod:`.breaker` — a circuit breaker (closed / open / half_open) any client can wrap calls in; its
  transitions are persisted by :class:`.store.BreakerStore` (``mcp_breaker_states`` and the append-only
  ``mcp_breaker_transitions`` log).
* :mod:`.sources` — where the detector reads breaker transitions: the database, or an HTTP endpoint
  (:mod:`.http_api` serves that contract) for deployments whose breakers live in the gateway.
* :mod:`.detector` — one tick: read transitions since a cursor, fold them into outage episodes, decide
  which alerts and "resolved" notifications are due, keep ``mcp_degradation_status`` up to date.
* :mod:`.history` — episodes and degradation status in the database; :mod:`.fallbacks` — guidance.
"""

from .breaker import CircuitBreaker, CircuitOpenError
from .config import OutageConfig
from .detector import Cursor, Notification, OutageDetector, TickResult
from .model import BreakerStatus, State, Transition
from .sources import BreakerSource, DatabaseSource, HttpSource, SourceUnavailable
from .store import BreakerStore

__all__ = [
    "BreakerSource", "BreakerStatus", "BreakerStore", "CircuitBreaker", "CircuitOpenError", "Cursor",
    "DatabaseSource", "HttpSource", "Notification", "OutageConfig", "OutageDetector", "SourceUnavailable",
    "State", "TickResult", "Transition",
]
