"""The values every part of outage detection passes around: breaker states, transitions, episodes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, NonNegativeInt, TypeAdapter


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class Transition:
    """One breaker state change, as logged in ``mcp_breaker_transitions``; ``id`` orders the log."""

    id: int
    server: str
    from_state: State
    to_state: State
    failure_count: NonNegativeInt
    occurred_at: AwareDatetime
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    """A breaker's current state (``mcp_breaker_states``): ``left_closed_at`` is when it last left CLOSED."""

    server: str
    state: State
    failure_count: NonNegativeInt
    left_closed_at: AwareDatetime | None
    updated_at: AwareDatetime


#: Wire (JSON) forms, validated field by field: the HTTP source and endpoint use these. Built on first use
#: (``model.TRANSITIONS``): building them costs more than the rest of a `cloudmake mcp breaker list`.
_WIRE_FORMS = {"TRANSITIONS": lambda: TypeAdapter(list[Transition]), "STATUSES": lambda: TypeAdapter(list[BreakerStatus])}


def __getattr__(name: str) -> TypeAdapter:
    if name not in _WIRE_FORMS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    adapter = globals()[name] = _WIRE_FORMS[name]()
    return adapter


@dataclass(slots=True)
class Episode:
    """One outage: from the transition that left CLOSED to the close that stuck (flaps folded in).

    ``ended_at`` is the latest close; it is final once the server stayed closed for the flap window
    (``resolved_at`` is then the tick that saw it). ``id`` is None until the episode is stored.
    """

    server: str
    started_at: datetime
    breaker_state: State
    peak_failure_count: int = 0
    transition_count: int = 0
    reopen_count: int = 0
    ended_at: datetime | None = None
    resolved_at: datetime | None = None
    alerted_at: datetime | None = None
    resolved_notified_at: datetime | None = None
    id: int | None = None

    def degraded_for(self, now: datetime) -> timedelta:
        return (self.ended_at or now) - self.started_at

    @property
    def status(self) -> str:
        """degraded (out of CLOSED), recovering (closed, inside the flap window) or resolved."""
        if self.resolved_at is not None:
            return "resolved"
        return "recovering" if self.ended_at is not None else "degraded"


def format_duration(delta: timedelta | float) -> str:
    """``1h 02m 03s`` / ``2m 05s`` / ``45s``: how alerts and the CLI show durations."""
    total = int(delta.total_seconds() if isinstance(delta, timedelta) else delta)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {seconds:02d}s"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"
