"""The breaker endpoint over HTTP: the contract :class:`.sources.HttpSource` reads, served from the database.

Handlers are sync (Starlette runs them in its thread pool, the database calls block). Mount it in the API
(or run it with uvicorn) where breakers live in a gateway that writes
``mcp_breaker_*``; ``GET /degradation`` gives clients the current fallback guidance.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .history import OutageHistory
from .model import STATUSES, TRANSITIONS
from .store import BreakerStore

MAX_LIMIT = 10_000
MAX_ALSO = 1_000


def _int_list(raw: str, name: str) -> list[int]:
    try:
        values = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"{name}: expected comma-separated integers") from None
    if len(values) > MAX_ALSO:
        raise ValueError(f"{name}: at most {MAX_ALSO} ids")
    return values


def _bounded(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    try:
        value = default if raw is None else int(raw)
    except ValueError:
        raise ValueError(f"{name}: expected an integer") from None
    if not low <= value <= high:
        raise ValueError(f"{name}: expected {low}..{high}")
    return value


def breaker_api(store: BreakerStore) -> Starlette:
    history = OutageHistory(store.engine)

    def breakers(_request: Request) -> JSONResponse:
        snapshot = store.snapshot()
        return JSONResponse({"last_transition_id": snapshot.last_transition_id,
                             "breakers": STATUSES.dump_python(snapshot.breakers, mode="json")})

    def transitions(request: Request) -> JSONResponse:
        params = request.query_params
        try:
            after = _bounded(params.get("after"), "after", 0, 0, 2**63 - 1)
            limit = _bounded(params.get("limit"), "limit", 5000, 1, MAX_LIMIT)
            also = _int_list(params.get("also", ""), "also")
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        rows = store.transitions(after, also, limit)
        return JSONResponse({"transitions": TRANSITIONS.dump_python(rows, mode="json")})

    def degradation(request: Request) -> JSONResponse:
        only = request.query_params.get("degraded") in ("1", "true")
        rows = history.statuses(only_degraded=only)
        return JSONResponse({"servers": [{k: v.isoformat() if hasattr(v, "isoformat") else v
                                          for k, v in row.items()} for row in rows]})

    return Starlette(routes=[
        Route("/breakers", breakers),
        Route("/breakers/transitions", transitions),
        Route("/degradation", degradation),
    ])
