"""What a drift check produces: items in four dimensions, and the report that carries them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import configfile
from ..configfile import ConfigFileError

DIMENSIONS = ("entities", "routes", "schemas", "tokens")
#: missing: the spec declares it, the code lacks it. extra: the code has it, the spec does not.
#: changed: both have it, they differ. renamed: a route whose path parameters have other names.
KINDS = ("missing", "extra", "changed", "renamed")


class SpecError(ConfigFileError):
    """A spec, contract, token file, config or allowlist could not be read: names the file and line (exit 2)."""


def read_text(path: Path, display: object = None) -> str:
    """A spec-side file's text; a missing, unreadable or non-UTF-8 file is a SpecError naming file and line."""
    return configfile.read_text(path, str(display or path), SpecError)


@dataclass(frozen=True)
class DriftItem:
    """One divergence. ``name`` identifies the thing (``table.column``, ``GET /users/{id}``, ``User.email``,
    ``color.brand``); ``location`` says where the spec (or the code) declares it."""

    dimension: str
    kind: str
    name: str
    expected: str | None = None
    actual: str | None = None
    location: str = ""

    @property
    def key(self) -> str:
        """Stable identity, used by the allowlist and to tell new drift from known drift."""
        return f"{self.dimension}:{self.kind}:{self.name}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "key": self.key}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftItem:
        return cls(**{k: data.get(k) for k in ("dimension", "kind", "name", "expected", "actual")},
                   location=data.get("location") or "")


@dataclass
class DriftReport:
    target: str
    items: list[DriftItem] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)  # allowlisted items, with reason/expiry
    checked: dict[str, str] = field(default_factory=dict)  # dimension -> code source, or why skipped
    warnings: list[str] = field(default_factory=list)
    spec_digest: str = ""
    code_revision: str | None = None
    duration_ms: float = 0.0

    @property
    def has_drift(self) -> bool:
        return bool(self.items)

    @property
    def counts(self) -> dict[str, int]:
        counts = {dimension: 0 for dimension in DIMENSIONS}
        for item in self.items:
            counts[item.dimension] += 1
        return {**counts, "total": len(self.items), "accepted": len(self.accepted)}

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "has_drift": self.has_drift, "counts": self.counts,
                "items": [item.as_dict() for item in self.items], "accepted": self.accepted,
                "checked": self.checked, "warnings": self.warnings, "spec_digest": self.spec_digest,
                "code_revision": self.code_revision, "duration_ms": self.duration_ms}


def sort_items(items: list[DriftItem]) -> list[DriftItem]:
    return sorted(set(items), key=lambda i: (DIMENSIONS.index(i.dimension), i.name, KINDS.index(i.kind)))
