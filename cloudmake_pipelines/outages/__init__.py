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

from ..lazy import lazy_exports

# name -> submodule; imported on first use (see lazy.py).
_EXPORTS = {
    "CircuitBreaker": ".breaker", "CircuitOpenError": ".breaker", "OutageConfig": ".config",
    "Cursor": ".detector", "Notification": ".detector", "OutageDetector": ".detector", "TickResult": ".detector",
    "BreakerStatus": ".model", "State": ".model", "Transition": ".model", "BreakerSource": ".sources",
    "DatabaseSource": ".sources", "HttpSource": ".sources", "SourceUnavailable": ".sources", "BreakerStore": ".store",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "BreakerSource", "BreakerStatus", "BreakerStore", "CircuitBreaker", "CircuitOpenError", "Cursor",
    "DatabaseSource", "HttpSource", "Notification", "OutageConfig", "OutageDetector", "SourceUnavailable",
    "State", "TickResult", "Transition",
]
