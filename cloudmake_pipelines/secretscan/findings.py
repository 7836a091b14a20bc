"""A finding as every output sees it: where, which rule, a redacted prefix and a fingerprint.

The secret itself stays in memory (``Finding.secret``, excluded from repr and from :meth:`Finding.to_dict`)
so that outputs can be checked against it; it is never serialized.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

FINGERPRINT_VERSION = "secretscan/v1"


def fingerprint(rule_id: str, path: str, secret: str) -> str:
    """Stable across line moves and commits; changes when the secret, its file or its rule changes.

    A truncated SHA-256 of a high-entropy secret cannot be reversed; the baseline holds only these.
    """
    digest = hashlib.sha256("\0".join((FINGERPRINT_VERSION, rule_id, path, secret)).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:24]


def redact(secret: str) -> str:
    """A short prefix, enough to recognise the kind of token (``ghp_``, ``AKIA``) and nothing more."""
    shown = min(4, len(secret) // 4)
    return f"{secret[:shown]}…({len(secret)} chars)"


@dataclass(frozen=True)
class Finding:
    rule_id: str
    description: str
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    secret: str = field(repr=False, compare=False)
    commit: str | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule_id, self.path, self.secret)

    @property
    def redacted(self) -> str:
        return redact(self.secret)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "rule": self.rule_id, "description": self.description, "file": self.path, "line": self.line,
            "column": self.column, "end_line": self.end_line, "end_column": self.end_column,
            "redacted": self.redacted, "fingerprint": self.fingerprint,
        }
        if self.commit:
            out["commit"] = self.commit
        return out


@dataclass(frozen=True)
class Skipped:
    """A file that was not scanned, and why (binary, too large, unreadable)."""

    path: str
    reason: str


@dataclass
class ScanResult:
    findings: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    baselined: int = 0
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0

    def add(self, other: ScanResult) -> None:
        self.findings += other.findings
        self.skipped += other.skipped
        self.files += other.files
        self.bytes += other.bytes
