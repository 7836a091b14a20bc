"""The circuit-breaker library and its persisted state, on SQLite and PostgreSQL."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from cloudmake_pipelines.db.tables import mcp_breaker_transitions
from cloudmake_pipelines.errors import ConfigError
from cloudmake_pipelines.outages import BreakerStore, CircuitBreaker, CircuitOpenError, State
from tests.support.outages import T0


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def chain(engine, server):
    with engine.connect() as conn:
        return conn.execute(select(mcp_breaker_transitions).where(
            mcp_breaker_transitions.c.server_name == server).order_by(mcp_breaker_transitions.c.id)).all()


def boom():
    raise ConnectionError("refused")


def test_breaker_opens_probes_and_closes_persisting_every_transition(engine):
    store, clock = BreakerStore(engine), Clock()
    breaker = CircuitBreaker("alpha", store, failure_threshold=3, reset_timeout_seconds=30, clock=clock)
    assert breaker.call(lambda: 42) == 42
    for _ in range(3):
        with pytest.raises(ConnectionError):
            breaker.call(boom)
    assert breaker.state == State.OPEN and breaker.failure_count == 3
    with pytest.raises(CircuitOpenError, match="'alpha' is open; next probe at 2026-11-29T08:00:30"):
        breaker.call(lambda: 1)

    clock.advance(30)
    with pytest.raises(ConnectionError):  # the probe fails: open again
        breaker.call(boom)
    assert breaker.state == State.OPEN
    clock.advance(30)
    assert breaker.call(lambda: "ok") == "ok"
    assert breaker.state == State.CLOSED and breaker.failure_count == 0

    steps = [(t.from_state, t.to_state, t.failure_count) for t in chain(engine, "alpha")]
    assert steps == [("closed", "open", 3), ("open", "half_open", 3), ("half_open", "open", 4),
                     ("open", "half_open", 4), ("half_open", "closed", 0)]
    status = store.status("alpha")
    assert status.state == State.CLOSED and status.left_closed_at is None


def test_half_open_lets_only_the_configured_number_of_probes_through(engine):
    clock = Clock()
    breaker = CircuitBreaker("alpha", BreakerStore(engine), failure_threshold=1, reset_timeout_seconds=5,
                             clock=clock, half_open_max_calls=1)
    breaker.record_failure("timeout")
    clock.advance(5)
    assert breaker.allow() is True and breaker.state == State.HALF_OPEN
    assert breaker.allow() is False  # one probe in flight
    breaker.record_success()
    assert breaker.state == State.CLOSED and breaker.allow() is True


def test_a_success_in_closed_resets_the_consecutive_failure_count(engine):
    breaker = CircuitBreaker("alpha", BreakerStore(engine), failure_threshold=3)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == State.CLOSED and breaker.failure_count == 1 and chain(engine, "alpha") == []


def test_a_state_forced_by_an_operator_is_honoured_by_new_breakers(engine):
    store, clock = BreakerStore(engine), Clock()
    store.set_state("alpha", "open", failure_count=0, at=clock(), reason="maintenance", source="cli")
    breaker = CircuitBreaker("alpha", store, reset_timeout_seconds=60, clock=clock)
    assert breaker.state == State.OPEN and breaker.allow() is False
    clock.advance(60)
    assert breaker.allow() is True and breaker.state == State.HALF_OPEN


def test_store_records_only_real_changes_and_validates_input(engine):
    store = BreakerStore(engine)
    first = store.set_state("alpha", "open", failure_count=5, at=T0)
    assert first.from_state == State.CLOSED and first.to_state == State.OPEN
    assert store.set_state("alpha", "open", failure_count=8, at=T0 + timedelta(seconds=1)) is None
    status = store.status("alpha")
    assert status.failure_count == 8 and status.left_closed_at == T0
    with pytest.raises(ConfigError, match="state='broken' is not a breaker state: expected one of closed, open"):
        store.set_state("alpha", "broken", failure_count=0, at=T0)
    with pytest.raises(ConfigError, match="failure_count=-1"):
        store.set_state("alpha", "closed", failure_count=-1, at=T0)
    snapshot = store.snapshot()
    assert snapshot.last_transition_id == first.id and [b.server for b in snapshot.breakers] == ["alpha"]


def test_concurrent_writers_keep_one_consistent_chain(engine):
    store = BreakerStore(engine)

    def writer(states):
        for i, state in enumerate(states * 10):
            store.set_state("shared", state, failure_count=i, at=T0 + timedelta(milliseconds=i))

    threads = [threading.Thread(target=writer, args=(s,)) for s in (["open", "closed"], ["half_open", "closed"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    rows = chain(engine, "shared")
    assert rows and all(a.to_state == b.from_state for a, b in zip(rows, rows[1:], strict=False))
    assert all(r.from_state != r.to_state for r in rows)
    assert store.status("shared").state.value == rows[-1].to_state


def test_guard_counts_only_real_failures_and_frees_a_cancelled_probe(engine):
    clock = Clock()
    breaker = CircuitBreaker("alpha", BreakerStore(engine), failure_threshold=1, reset_timeout_seconds=5,
                             clock=clock)
    with pytest.raises(PermissionError):
        with breaker.guard(is_failure=lambda exc: not isinstance(exc, PermissionError)):
            raise PermissionError("403 from the server: it answered")
    assert breaker.state == State.CLOSED and breaker.failure_count == 0
    breaker.record_failure()
    clock.advance(5)
    with pytest.raises(KeyboardInterrupt):  # a cancelled probe (asyncio.CancelledError is one too)
        with breaker.guard():
            raise KeyboardInterrupt
    assert breaker.state == State.HALF_OPEN and breaker.allow() is True  # the slot was freed
