"""Per-operation latency and error accounting on an HDR histogram (3 significant digits, 1 µs to 1 h)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

_HIGHEST_US = 3_600_000_000


def _new_histogram() -> HdrHistogram:
    return HdrHistogram(1, _HIGHEST_US, 3)


@dataclass
class OperationStats:
    """What one operation did in a run. Every request that was sent has a latency (timed from its
    intended start); requests that were never sent (``dropped``) only count as errors."""

    operation: str
    histogram: HdrHistogram = field(default_factory=_new_histogram)
    requests: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    pages: int = 0

    def record(self, latency_seconds: float, error_kind: str | None = None, pages: int = 0) -> None:
        self.requests += 1
        self.pages += pages
        self.histogram.record_value(min(max(int(latency_seconds * 1e6), 1), _HIGHEST_US))
        if error_kind is not None:
            self.errors[error_kind] += 1

    def record_unsent(self, error_kind: str) -> None:
        self.requests += 1
        self.errors[error_kind] += 1

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def error_rate(self) -> float:
        return self.error_count / self.requests if self.requests else 0.0

    def percentile_ms(self, percentile: float) -> float | None:
        if self.histogram.get_total_count() == 0:
            return None
        return self.histogram.get_value_at_percentile(percentile) / 1000.0

    def summary(self) -> dict[str, object]:
        return {"operation": self.operation, "requests": self.requests, "errors": self.error_count,
                "error_rate": round(self.error_rate, 6), "errors_by_kind": dict(sorted(self.errors.items())),
                "p50_ms": self.percentile_ms(50), "p95_ms": self.percentile_ms(95),
                "p99_ms": self.percentile_ms(99), "pages": self.pages}
