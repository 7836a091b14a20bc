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

import yaml

from .model import DIMENSIONS, KINDS, DriftItem, SpecError, read_text, yaml_document


@dataclass(frozen=True)
class Accepted:
    item: str
    reason: str
    expires: dt.date
    location: str


def load_allowlist(path: Path, display: str) -> list[Accepted]:
    if not path.is_file():
        return []
    text = read_text(path, display)
    try:
        node, data = yaml_document(text)
        data = data or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise SpecError(display, f"not valid YAML: {getattr(exc, 'problem', exc)}",
                        mark.line + 1 if mark else None) from None
    if not isinstance(data, dict) or not isinstance(data.get("accepted", []), list):
        raise SpecError(display, "expected 'accepted:' holding a list of {item, reason, expires}", 1)
    entry_nodes = next((v.value for k, v in node.value if k.value == "accepted"), []) if node else []
    entries = []
    for index, entry in enumerate(data.get("accepted") or []):
        line = entry_nodes[index].start_mark.line + 1 if index < len(entry_nodes) else None
        if not isinstance(entry, dict):
            raise SpecError(display, "each accepted entry is a mapping with item, reason and expires", line)
        item, reason, expires = entry.get("item"), entry.get("reason"), entry.get("expires")
        parts = item.split(":", 2) if isinstance(item, str) else []
        if len(parts) != 3 or parts[0] not in DIMENSIONS or parts[1] not in KINDS or not parts[2]:
            raise SpecError(display, f"item {item!r}: expected 'dimension:kind:name' with dimension one of "
                                     f"{', '.join(DIMENSIONS)} and kind one of {', '.join(KINDS)}", line)
        if not isinstance(reason, str) or not reason.strip():
            raise SpecError(display, f"item {item}: a reason is required", line)
        if isinstance(expires, dt.datetime):
            expires = expires.date()
        if not isinstance(expires, dt.date):
            raise SpecError(display, f"item {item}: 'expires' must be a date (YYYY-MM-DD)", line)
        entries.append(Accepted(item, reason.strip(), expires, f"{display}:{line}" if line else display))
    return entries


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
