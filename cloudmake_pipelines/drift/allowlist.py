"""Accepted drift: a reviewed file of known divergences, each with a reason and an expiry date.

```yaml
# drift-allowlist.yaml
accepted:
  - item: "routes:extra:GET /internal/metrics"    # the item key: dimension:kind:name
    reason: "internal endpoint, not part of the public contract (ADR-12)"
    expires: 2026-12-31                           # from the next day on it blocks again
```

An accepted item is reported but does not count as drift. An expired entry no longer applies (its item
blocks again, with a warning saying so); an entry matching nothing is reported so it can be removed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict

from ..configfile import line_of, parse, read_text, validate
from .model import DIMENSIONS, KINDS, DriftItem, SpecError


def _day(value: Any) -> Any:
    return value.date() if isinstance(value, dt.datetime) else value


def _item_key(value: str) -> str:
    parts = value.split(":", 2)
    if len(parts) != 3 or parts[0] not in DIMENSIONS or parts[1] not in KINDS or not parts[2]:
        raise ValueError(f"'dimension:kind:name' with dimension one of {', '.join(DIMENSIONS)} and kind one of "
                         f"{', '.join(KINDS)}")
    return value


class Entry(BaseModel):
    """One accepted divergence: which item, why, until when (YAML dates, unquoted)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    item: Annotated[str, AfterValidator(_item_key)]
    reason: str = Field(min_length=1)
    expires: Annotated[dt.date, Strict(), BeforeValidator(_day)]


class AllowlistFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    accepted: list[Entry] = Field(default_factory=list)


@dataclass(frozen=True)
class Accepted:
    item: str
    reason: str
    expires: dt.date
    location: str


def load_allowlist(path: Path, display: str) -> list[Accepted]:
    if not path.is_file():
        return []
    document, node = parse(read_text(path, display, SpecError), display, as_json=False, error=SpecError)
    entries = validate(AllowlistFile, {} if document is None else document, display, node, SpecError).accepted
    lines = [line_of(node, ("accepted", index)) for index in range(len(entries))]
    return [Accepted(entry.item, entry.reason, entry.expires, f"{display}:{line}" if line else display)
            for entry, line in zip(entries, lines, strict=True)]


def apply(items: list[DriftItem], entries: list[Accepted], today: dt.date):
    """Split ``items`` into (blocking, accepted dicts, warnings)."""
    by_key = {entry.item: entry for entry in entries}
    blocking, accepted, warnings = [], [], []
    matched = set()
    for item in items:
        entry = by_key.get(item.key)
        if entry is None:
            blocking.append(item)
            continue
        matched.add(entry.item)
        if today > entry.expires:
            blocking.append(item)
            warnings.append(f"accepted drift {item.key} expired on {entry.expires} ({entry.location}): "
                            "it blocks again; fix it or renew the entry with a reason")
        else:
            accepted.append({**item.as_dict(), "reason": entry.reason, "expires": entry.expires.isoformat()})
    for entry in entries:
        if entry.item not in matched:
            warnings.append(f"allowlist entry {entry.item} ({entry.location}) matches no drift: remove it")
    return blocking, accepted, warnings
