"""A baseline: findings a team has acknowledged, by fingerprint only (never the secret), so an existing
repository can adopt the scanner and still fail on every new secret."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from ..errors import ConfigError
from ..fsio import write_output
from .findings import Finding

BASELINE_VERSION = 1


def load(path: str | Path) -> set[str]:
    """The fingerprints in the baseline file at ``path``."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the baseline ({exc.strerror})") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: the baseline is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("version") != BASELINE_VERSION:
        raise ConfigError(f"{path}: expected a secret-scan baseline with \"version\": {BASELINE_VERSION}")
    entries = doc.get("findings")
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("fingerprint"), str)
                                                for e in entries):
        raise ConfigError(f"{path}: \"findings\" must be a list of objects with a \"fingerprint\" string")
    return {e["fingerprint"] for e in entries}


def write(path: str | Path, findings: Iterable[Finding]) -> int:
    """Write a baseline of ``findings`` atomically (a reader never sees half a file); returns the count."""
    path = Path(path)
    entries = sorted({f.fingerprint: {"fingerprint": f.fingerprint, "rule": f.rule_id, "file": f.path}
                      for f in findings}.values(), key=lambda e: (e["file"], e["rule"], e["fingerprint"]))
    text = json.dumps({"version": BASELINE_VERSION, "findings": entries}, indent=2) + "\n"
    write_output(path, text.encode("utf-8"), dash_is_stdout=True)
    return len(entries)
