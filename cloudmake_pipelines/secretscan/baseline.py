"""A baseline: findings a team has acknowledged, by keyed fingerprint only (never the secret), so an
existing repository can adopt the scanner and still fail on every new secret.

The baseline holds the repository's fingerprint key (random, 256 bits): fingerprints are HMACs under it,
so a report or baseline seen without the key (a SARIF upload, a CI log) gives nothing to test guesses of a
short password against. Regenerating a baseline keeps its key, so fingerprints stay stable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..fsio import write_output
from .environment import KEY_BYTES
from .findings import Finding

BASELINE_VERSION = 2


@dataclass(frozen=True)
class Baseline:
    key: bytes
    fingerprints: frozenset[str]


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def load(path: str | Path) -> Baseline:
    """The key and fingerprints in the baseline file at ``path``."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the baseline ({exc.strerror})") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: the baseline is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("version") != BASELINE_VERSION:
        found = doc.get("version") if isinstance(doc, dict) else None
        hint = " (version 1 used unkeyed fingerprints: write a new one with `cloudmake secrets baseline`)" \
            if found == 1 else ""
        raise ConfigError(f"{path}: expected a secret-scan baseline with \"version\": {BASELINE_VERSION}, "
                          f"got version {found!r}{hint}")
    try:
        key = bytes.fromhex(doc.get("key") or "")
    except (TypeError, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{path}: \"key\" must be {KEY_BYTES * 2} hex digits (the fingerprint key)")
    entries = doc.get("findings")
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("fingerprint"), str)
                                                for e in entries):
        raise ConfigError(f"{path}: \"findings\" must be a list of objects with a \"fingerprint\" string")
    return Baseline(key, frozenset(e["fingerprint"] for e in entries))


def existing_key(path: str | Path) -> bytes | None:
    """The key of the baseline already at ``path`` (so rewriting it keeps fingerprints stable), if any."""
    try:
        return load(path).key
    except ConfigError:
        return None


def write(path: str | Path, findings: Iterable[Finding], key: bytes) -> int:
    """Write a baseline of ``findings`` (keyed with ``key``) atomically; returns the count."""
    entries = sorted({f.fingerprint: {"fingerprint": f.fingerprint, "rule": f.rule_id, "file": f.path}
                      for f in (f.keyed(key) for f in findings)}.values(),
                     key=lambda e: (e["file"], e["rule"], e["fingerprint"]))
    doc = {"version": BASELINE_VERSION, "key": key.hex(), "findings": entries}
    write_output(path, (json.dumps(doc, indent=2) + "\n").encode("utf-8"), dash_is_stdout=True)
    return len(entries)
