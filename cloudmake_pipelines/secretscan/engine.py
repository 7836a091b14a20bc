"""The matching engine: a multi-pattern prefilter, then each candidate rule confirmed and filtered.

Hyperscan scans a buffer for every rule at once (in prefilter mode, so lookarounds are approximated
permissively) and reports which rules can match; only those rules run as Python regular expressions over
the buffer. Without hyperscan (or for a custom rule it cannot compile) the rule's keywords decide instead.
Python's ``re`` alone, one pass per rule, is 10–100 times slower on a large tree.
"""

from __future__ import annotations

import bisect
import os
import re
import threading
from collections.abc import Sequence

from .filters import CHECKS, is_non_secret_shape, is_placeholder, shannon_entropy
from .findings import Finding
from .rules import Rule, RuleSet

ALLOW_MARKER = b"secretscan:allow"


class Engine:
    """Finds secrets in byte buffers with one rule set. Thread-safe; cheap to share across threads."""

    def __init__(self, ruleset: RuleSet, *, use_hyperscan: bool = True):
        self.ruleset = ruleset
        self.rules = ruleset.rules
        self._regexes = [rule.regex for rule in self.rules]
        self._keywords = [tuple(k.encode() for k in rule.keywords) for rule in self.rules]
        self._db = None
        self._keyword_only = list(range(len(self.rules)))
        if use_hyperscan:
            self._db, self._keyword_only = _compile_hyperscan(self.rules)
        self._local = threading.local()

    @property
    def backend(self) -> str:
        return "hyperscan" if self._db is not None else "keywords+re"

    def candidate_rules(self, data: bytes) -> list[int]:
        """Indexes of the rules that may match ``data`` (a superset of those that do)."""
        hits: set[int] = set()
        if self._db is not None:
            self._db.scan(data, match_event_handler=_collect, context=hits, scratch=self._scratch())
        if self._keyword_only:
            lowered = data.lower()
            hits.update(i for i in self._keyword_only if any(k in lowered for k in self._keywords[i]))
        return sorted(hits)

    def scan(self, data: bytes, path: str, *, line_numbers: Sequence[int] | None = None,
             commit: str | None = None) -> list[Finding]:
        """Findings in ``data``, the content of ``path``. ``line_numbers`` maps the buffer's lines to the
        file's (for a buffer made of a diff's added lines)."""
        if self.ruleset.allowlist.allows_path(path):
            return []
        lines = _Lines(data, line_numbers)
        found: list[tuple[Rule, int, int, Finding]] = []
        for index in self.candidate_rules(data):
            rule = self.rules[index]
            if rule.allowlist.allows_path(path):
                continue
            for match in self._regexes[index].finditer(data):
                start, end, secret = _secret_of(match)
                if secret is None or not self._is_secret(rule, match, secret):
                    continue
                if ALLOW_MARKER in lines.text_of(start):
                    continue
                line, column = lines.position(start)
                end_line, end_column = lines.position(end)
                found.append((rule, start, end, Finding(rule.id, rule.description, path, line, column,
                                                        end_line, end_column, secret, commit)))
        specific = [(s, e) for rule, s, e, _ in found if not rule.generic]
        return [f for rule, s, e, f in found
                if not (rule.generic and any(s < e2 and s2 < e for s2, e2 in specific))]

    def _is_secret(self, rule: Rule, match: re.Match[bytes], secret: str) -> bool:
        if rule.entropy and shannon_entropy(secret) < rule.entropy:
            return False
        if is_placeholder(secret) or (rule.generic and is_non_secret_shape(secret)):
            return False
        groups = match.re.groupindex
        name = match.group("name").decode("utf-8", "replace") if "name" in groups and match.group("name") else None
        if "user" in groups and match.group("user") and match.group("user").decode("utf-8", "replace") == secret:
            return False
        if rule.allowlist.allows_secret(secret, name) or self.ruleset.allowlist.allows_secret(secret, name):
            return False
        return rule.check is None or CHECKS[rule.check](secret)

    def _scratch(self):
        key = (os.getpid(), threading.get_ident())
        scratch = getattr(self._local, "scratch", None)
        if scratch is None or self._local.key != key:
            import hyperscan

            self._local.scratch, self._local.key = hyperscan.Scratch(self._db), key
        return self._local.scratch


def _collect(rule_index: int, start: int, end: int, flags: int, hits: set[int]) -> None:
    hits.add(rule_index)


def _secret_of(match: re.Match[bytes]) -> tuple[int, int, str | None]:
    """The span and text of the first matched group named ``secret...``, or of the whole match."""
    names = [n for n in match.re.groupindex if n.startswith("secret")]
    for name in names:
        if match.group(name) is not None:
            return match.start(name), match.end(name), match.group(name).decode("utf-8", "replace")
    if names:
        return 0, 0, None
    return match.start(), match.end(), match.group().decode("utf-8", "replace")


def _compile_hyperscan(rules: Sequence[Rule]):
    """A block-mode database of every rule hyperscan accepts; the other rules fall back to keywords."""
    try:
        import hyperscan
    except ImportError:
        return None, list(range(len(rules)))
    flags = hyperscan.HS_FLAG_PREFILTER | hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_MULTILINE
    accepted, rejected = [], []
    for index, rule in enumerate(rules):
        try:
            probe = hyperscan.Database()
            probe.compile(expressions=[rule.pattern.encode()], ids=[index], flags=[flags])
            accepted.append(index)
        except hyperscan.error:
            rejected.append(index)
    if not accepted:
        return None, rejected
    db = hyperscan.Database()
    db.compile(expressions=[rules[i].pattern.encode() for i in accepted], ids=accepted,
               flags=[flags] * len(accepted))
    return db, rejected


class _Lines:
    """Offsets to (line, column) in a buffer, built only when a finding needs it."""

    def __init__(self, data: bytes, line_numbers: Sequence[int] | None):
        self._data = data
        self._line_numbers = line_numbers
        self._starts: list[int] | None = None

    def _index(self, offset: int) -> int:
        if self._starts is None:
            self._starts = [0] + [m.end() for m in re.finditer(b"\n", self._data)]
        return bisect.bisect_right(self._starts, offset) - 1

    def text_of(self, offset: int) -> bytes:
        index = self._index(offset)
        start = self._starts[index]
        end = self._data.find(b"\n", start)
        return self._data[start:end if end >= 0 else len(self._data)]

    def position(self, offset: int) -> tuple[int, int]:
        index = self._index(offset)
        column = len(self._data[self._starts[index]:offset].decode("utf-8", "replace")) + 1
        line = self._line_numbers[min(index, len(self._line_numbers) - 1)] if self._line_numbers is not None else index + 1
        return line, column
