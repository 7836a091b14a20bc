"""A finding as every output sees it: where, which rule, a redacted prefix and a keyed fingerprint.

The secret itself stays in memory (``Finding.secret``, excluded from repr and from :meth:`Finding.to_dict`)
so that outputs can be checked against it; it is never serialized.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

FINGERPRINT_VERSION = "secretscan/v2"


def fingerprint(key: bytes, rule_id: str, path: str, secret: str) -> str:
    """HMAC-SHA256 under the repository's (baseline's) key: stable across line moves and commits, changes
    when the secret, its file or its rule changes. Unlike a plain hash, it cannot be used to guess a
    short password offline from a report or baseline without the key."""
    import hashlib  # here: loading OpenSSL costs a clean pre-commit run ~3 ms
    import hmac

    message = "\0".join((FINGERPRINT_VERSION, rule_id, path, secret)).encode("utf-8", "surrogateescape")
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def redact(secret: str, *, generic: bool = False) -> str:
    """A prefix that names the kind of token (``ghp_``, ``AKIA``), at most a quarter of it, and not its
    length; nothing of a value found only by its variable name (a password has no telling prefix)."""
    shown = 0 if generic else min(4, len(secret) // 4)
    return f"{secret[:shown]}…"


@dataclass(frozen=True)
class Finding:
    """Where: ``line``/``column`` (1-based, code points) in text; in a binary's printable text (an image, an
    executable, a binary archive member) ``offset``, the byte offset of the secret in the file or member
    (``xxd -s OFFSET``), and no line."""

    rule_id: str
    description: str
    path: str
    line: int | None
    column: int | None
    end_line: int | None
    end_column: int | None
    secret: str = field(repr=False, compare=False)
    commit: str | None = None
    generic: bool = False
    key: bytes = field(default=b"", repr=False, compare=False)
    offset: int | None = None

    def keyed(self, key: bytes) -> Finding:
        """This finding under ``key`` (a copy: cheaper than dataclasses.replace for 20,000 findings)."""
        other = object.__new__(Finding)
        other.__dict__.update(self.__dict__, key=key)
        other.__dict__.pop("fingerprint", None)
        return other

    @cached_property
    def fingerprint(self) -> str:
        if not self.key:
            raise ValueError("a finding's fingerprint needs the baseline's key (Finding.keyed)")
        return fingerprint(self.key, self.rule_id, self.path, self.secret)

    @property
    def redacted(self) -> str:
        return redact(self.secret, generic=self.generic)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "rule": self.rule_id, "description": self.description, "file": self.path, "line": self.line,
            "column": self.column, "end_line": self.end_line, "end_column": self.end_column,
            "redacted": self.redacted, "fingerprint": self.fingerprint,
        }
        if self.offset is not None:
            out["offset"] = self.offset
        if self.commit:
            out["commit"] = self.commit
        return out

    @property
    def place(self) -> str:
        """``path:line:column``, or ``path@byte OFFSET`` in a binary."""
        return f"{self.path}:{self.line}:{self.column}" if self.line is not None else f"{self.path}@byte {self.offset}"

    @property
    def order(self) -> tuple:
        return self.path, self.line or 0, self.column or 0, self.offset or 0, self.rule_id


@dataclass(frozen=True)
class Skipped:
    """A file (or archive member) that was not scanned, and why (too large, unreadable, an archive over
    its decompression limits)."""

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
