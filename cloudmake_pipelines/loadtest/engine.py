"""The open-loop load engine: operations start at a constant arrival rate, timed from their intended start.

A closed-loop generator (N workers, each waiting for its answer before the next request) sends nothing
while the server stalls, so the stall hides in a handful of samples ("coordinated omission"). Here
arrival *i* is due at ``t0 + i / rate`` whatever happened before, and its latency runs from that due time,
as wrk2 and k6's constant-arrival-rate executor do. A start the scheduler could not make on time is
counted as late (its latency still counts from the due time); an arrival that finds ``max_in_flight``
operations outstanding is not sent and counted as ``dropped``, an error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from .stats import OperationStats

#: A start later than this after its due time counts as late.
LATE_AFTER_SECONDS = 0.010


@dataclass(frozen=True)
class Plan:
    """What to send and how fast. ``operations`` are taken in turn, one per arrival."""

    operations: Sequence[str]
    rate_per_second: float
    duration_seconds: float
    max_in_flight: int = 64
    timeout_seconds: float = 5.0

    @property
    def arrivals(self) -> int:
        return max(1, round(self.rate_per_second * self.duration_seconds))


@dataclass
class RunStats:
    per_operation: dict[str, OperationStats]
    late_starts: int = 0
    max_lateness_ms: float = 0.0
    elapsed_seconds: float = 0.0
    arrivals: int = 0
    notes: list[str] = field(default_factory=list)


#: An operation: awaits one complete exchange and returns how many pages (requests) it took.
Operation = Callable[[str], Awaitable[int]]
#: Classifies an exception from an operation into an error kind, or re-raises what is not one.
Classifier = Callable[[BaseException], str]


async def run_open_loop(plan: Plan, operation: Operation, classify: Classifier, *,
                        clock: Callable[[], float] = time.perf_counter,
                        on_arrival: Callable[[int], None] | None = None,
                        unsent_kinds: frozenset[str] = frozenset()) -> RunStats:
    """Drive ``operation`` per ``plan``. Finishes within duration + timeout however the server behaves.

    An error of a kind in ``unsent_kinds`` (a refusal before anything was sent) counts as an error with no
    latency: its microseconds of client work would drag the operation's percentiles towards zero.
    """
    stats = RunStats({op: OperationStats(op) for op in plan.operations}, arrivals=plan.arrivals)
    interval = 1.0 / plan.rate_per_second
    in_flight: set[asyncio.Task[None]] = set()

    async def one(op: str, due: float) -> None:
        error, pages = None, 0
        try:
            async with asyncio.timeout(plan.timeout_seconds - (clock() - due)):
                pages = await operation(op)
        except TimeoutError:
            error = "timeout"
        except Exception as exc:  # noqa: BLE001 - every failure is counted by kind, never fatal to the run
            error = classify(exc)
        if error in unsent_kinds:
            stats.per_operation[op].record_unsent(error)
        else:
            stats.per_operation[op].record(clock() - due, error, pages)

    t0 = clock()
    for i in range(plan.arrivals):
        due = t0 + i * interval
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        lateness = clock() - due
        if lateness > LATE_AFTER_SECONDS:
            stats.late_starts += 1
            stats.max_lateness_ms = max(stats.max_lateness_ms, lateness * 1000)
        op = plan.operations[i % len(plan.operations)]
        if len(in_flight) >= plan.max_in_flight:
            stats.per_operation[op].record_unsent("dropped")
        else:
            task = asyncio.create_task(one(op, due))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if on_arrival is not None:
            on_arrival(i + 1)
    if in_flight:
        await asyncio.wait(list(in_flight))
    stats.elapsed_seconds = clock() - t0
    return stats
