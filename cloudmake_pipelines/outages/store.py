"""Breaker state and its transition log in the database: the writer's side and the reader's side.

Writers (:class:`~.breaker.CircuitBreaker`, ``cloudmake mcp breaker set``, a gateway) call
:meth:`BreakerStore.set_state`: in one transaction it locks the server's state row, and only when the
state really changes appends a transition whose ``from_state`` is the stored state. So the log of each
server is one consistent chain, even with several processes writing the same breaker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, insert, or_, select, update

from ..db.helpers import dialect_insert
from ..db.tables import mcp_breaker_states as states
from ..db.tables import mcp_breaker_transitions as transitions
from ..errors import ConfigError
from ..logs import redactor
from .model import BreakerStatus, State, Transition


def parse_state(value: str, field: str = "state") -> State:
    try:
        return State(value)
    except ValueError:
        raise ConfigError(f"{field}={value!r} is not a breaker state: expected one of "
                          f"{', '.join(s.value for s in State)}") from None


@dataclass(frozen=True)
class Snapshot:
    """Every breaker's current state and the newest transition id at that moment."""

    last_transition_id: int
    breakers: list[BreakerStatus]


def _status(row) -> BreakerStatus:
    return BreakerStatus(row.server_name, State(row.state), row.failure_count, row.left_closed_at, row.updated_at)


class BreakerStore:
    def __init__(self, engine: Engine):
        self.engine = engine

    def set_state(self, server: str, state: State | str, *, failure_count: int, at: datetime,
                  reason: str | None = None, source: str = "breaker") -> Transition | None:
        """Record ``server``'s breaker as ``state``; returns the transition, or None if it did not change."""
        state = parse_state(state) if isinstance(state, str) else state
        if not server or len(server) > 100:
            raise ConfigError("server: expected a registry name of 1 to 100 characters")
        if failure_count < 0:
            raise ConfigError(f"failure_count={failure_count}: expected 0 or more")
        reason = redactor(reason) if reason else reason  # operator-typed free text may hold a pasted token
        with self.engine.begin() as conn:
            # Make sure the row exists, then lock it: concurrent writers of one breaker queue up here.
            conn.execute(dialect_insert(conn, states).values(
                server_name=server, state=State.CLOSED.value, failure_count=0, updated_at=at,
            ).on_conflict_do_nothing(index_elements=["server_name"]))
            row = conn.execute(select(states).where(states.c.server_name == server).with_for_update()).one()
            current = State(row.state)
            values = {"state": state.value, "failure_count": failure_count, "updated_at": at}
            if current == state:
                conn.execute(update(states).where(states.c.server_name == server).values(**values))
                return None
            if current == State.CLOSED:
                values["left_closed_at"] = at
            elif state == State.CLOSED:
                values["left_closed_at"] = None
            conn.execute(update(states).where(states.c.server_name == server).values(**values))
            new_id = conn.execute(insert(transitions).values(
                server_name=server, from_state=current.value, to_state=state.value,
                failure_count=failure_count, occurred_at=at, reason=reason, source=source[:64],
            ).returning(transitions.c.id)).scalar_one()
            return Transition(new_id, server, current, state, failure_count, at, reason)

    def status(self, server: str) -> BreakerStatus | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(states).where(states.c.server_name == server)).first()
        return _status(row) if row else None

    def snapshot(self) -> Snapshot:
        """The newest transition id first, then the states: anything newer is re-read from the log."""
        with self.engine.connect() as conn:
            last = conn.execute(select(func.coalesce(func.max(transitions.c.id), 0))).scalar_one()
            rows = conn.execute(select(states).order_by(states.c.server_name)).all()
        return Snapshot(int(last), [_status(row) for row in rows])

    def prune(self, older_than: datetime) -> int:
        """Delete transitions that occurred before ``older_than``; returns how many.

        Current states and outage episodes are kept, so `cloudmake mcp outages` still lists old outages;
        only the raw log goes. Pick an age far beyond the sensor's interval (the default is 30 days):
        the sensor reads transitions minutes after they happen.
        """
        with self.engine.begin() as conn:
            return conn.execute(transitions.delete().where(transitions.c.occurred_at < older_than)).rowcount

    def transitions(self, after: int, also: Iterable[int] = (), limit: int = 5000) -> list[Transition]:
        """Transitions with ``id > after`` plus the listed older ids (gaps being waited for), by id."""
        condition = transitions.c.id > after
        also = list(also)
        if also:
            condition = or_(condition, transitions.c.id.in_(also))
        query = select(transitions.c.id, transitions.c.server_name, transitions.c.from_state,
                       transitions.c.to_state, transitions.c.failure_count, transitions.c.occurred_at,
                       transitions.c.reason).where(condition).order_by(transitions.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [Transition(r[0], r[1], State(r[2]), State(r[3]), r[4], r[5], r[6])
                    for r in conn.execute(query)]

