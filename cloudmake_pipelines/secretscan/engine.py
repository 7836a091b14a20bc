"""The matching engine: a multi-pattern prefilter, then each candidate match confirmed and filtered.

Hyperscan scans a buffer for every rule at once and reports where each rule can match: exactly, for a
rule that gives its pattern without lookarounds (``Rule.hyperscan``), else in prefilter mode (lookarounds
and bounded repeats approximated permissively). For a rule of bounded length, Python's ``re`` then
runs only in a window ending at each reported offset; for an unbounded one (key blocks) over the whole
buffer, and only when hyperscan saw it. Without hyperscan (or for a custom rule it cannot compile) the
rule's keywords decide which rules run over the buffer. Python's ``re`` alone, one pass per rule, is
10–100 times slower on a large tree.
"""

from __future__ import annotations

import bisect
import json
import os
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from .environment import cache_dir
from .filters import CHECKS, generic_value_ok, is_placeholder, required_entropy, shannon_entropy
from .findings import Finding
from .rules import Rule, RuleSet, cache_key

ALLOW_MARKER = b"secretscan:allow"
#: Rules whose matches can be longer than this are confirmed over the whole buffer, not in windows.
MAX_WINDOW = 8192
#: Characters after a reported end that a rule's lookahead may inspect.
LOOKAHEAD = 24


class Engine:
    """Finds secrets in byte buffers with one rule set. Thread-safe; cheap to share across threads."""

    def __init__(self, ruleset: RuleSet, *, use_hyperscan: bool = True):
        self.ruleset = ruleset
        self.rules = ruleset.rules
        self._keywords = [tuple(k.encode() for k in rule.keywords) for rule in self.rules]
        self._db = None
        self._widths: list[int] = []
        self._keyword_only = list(range(len(self.rules)))
        if use_hyperscan:
            self._db, self._keyword_only, self._widths = _hyperscan_database(self.rules)
        self._local = threading.local()

    @property
    def backend(self) -> str:
        return "hyperscan" if self._db is not None else "keywords+re"

    def candidates(self, data: bytes) -> dict[int, list[int] | None]:
        """Rules that may match ``data`` (a superset of those that do): rule index -> the end offsets
        hyperscan reported, or ``None`` when the rule must run over the whole buffer."""
        hits: dict[int, list[int] | None] = {}
        if self._db is not None:
            ends: dict[int, list[int]] = {}
            self._db.scan(data, match_event_handler=_collect, context=ends, scratch=self._scratch())
            hits = {i: (e if self._widths[i] <= MAX_WINDOW else None) for i, e in ends.items()}
        if self._keyword_only:
            lowered = data.lower()
            hits.update((i, None) for i in self._keyword_only if any(k in lowered for k in self._keywords[i]))
        return hits

    def _matches(self, index: int, data: bytes, ends: list[int] | None) -> Iterator[re.Match[bytes]]:
        regex = self.rules[index].regex  # compiled on first use: most runs need a few of the rules
        if ends is None:
            yield from regex.finditer(data)
            return
        width = self._widths[index]
        windows: list[list[int]] = []
        for end in sorted(set(ends)):  # [end - width, end + lookahead], merged when they overlap
            if windows and end - width <= windows[-1][1]:
                windows[-1][1] = end + LOOKAHEAD
            else:
                windows.append([max(0, end - width), end + LOOKAHEAD])
        for start, stop in windows:
            yield from regex.finditer(data, start, min(stop, len(data)))

    def scan(self, data: bytes, path: str, *, line_numbers: Sequence[int] | None = None,
             commit: str | None = None, first_line: int = 1, owned: int | None = None,
             offsets: Sequence[int] | None = None) -> list[Finding]:
        """Findings in ``data``, the content of ``path``. ``line_numbers`` maps the buffer's lines to the
        file's (for a buffer made of a diff's added lines); a window of a large file starts on
        ``first_line`` and reports only matches starting before ``owned`` (the rest is overlap);
        ``offsets`` gives the byte offset in the file of each line of text extracted from a binary, and
        findings then carry an offset instead of a line."""
        if self.ruleset.allowlist.allows_path(path):
            return []
        if data and not data.endswith(b"\n"):  # rules may look for the end of a line
            data += b"\n"
        lines = _Lines(data, line_numbers, first_line)
        found: list[tuple[Rule, int, int, Finding]] = []
        for index, ends in sorted(self.candidates(data).items()):
            rule = self.rules[index]
            if rule.allowlist.allows_path(path):
                continue
            for match in self._matches(index, data, ends):
                if owned is not None and match.start() >= owned:
                    continue
                start, end, secret = _secret_of(match)
                if secret is None or not self._is_secret(rule, match, secret):
                    continue
                if ALLOW_MARKER in lines.text_of(start):
                    continue
                if offsets is None:
                    line, column = lines.position(start)
                    end_line, end_column = lines.position(end)
                    finding = Finding(rule.id, rule.description, path, line, column, end_line, end_column,
                                      secret, commit, rule.generic)
                else:
                    finding = Finding(rule.id, rule.description, path, None, None, None, None, secret, commit,
                                      rule.generic, offset=lines.offset_in(offsets, start))
                found.append((rule, start, end, finding))
        specific = [(s, e) for rule, s, e, _ in found if not rule.generic]
        return [f for rule, s, e, f in found
                if not (rule.generic and any(s < e2 and s2 < e for s2, e2 in specific))]

    def _is_secret(self, rule: Rule, match: re.Match[bytes], secret: str) -> bool:
        groups = match.re.groupindex
        name = match.group("name").decode("utf-8", "replace") if "name" in groups and match.group("name") else None
        if rule.entropy and shannon_entropy(secret) < required_entropy(rule, secret):
            return False
        if is_placeholder(secret) or (rule.generic and not generic_value_ok(secret, name)):
            return False
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


def _collect(rule_index: int, start: int, end: int, flags: int, ends: dict[int, list[int]]) -> None:
    ends.setdefault(rule_index, []).append(end)


def _secret_of(match: re.Match[bytes]) -> tuple[int, int, str | None]:
    """The span and text of the first matched group named ``secret...``, or of the whole match."""
    names = [n for n in match.re.groupindex if n.startswith("secret")]
    for name in names:
        if match.group(name) is not None:
            return match.start(name), match.end(name), match.group(name).decode("utf-8", "replace")
    if names:
        return 0, 0, None
    return match.start(), match.end(), match.group().decode("utf-8", "replace")


def _max_width(rule: Rule) -> int:
    """The longest match the rule's pattern (or its hyperscan form, which may end later) can make, in
    bytes (huge when unbounded): a window that long before a reported end holds the match's start."""
    from re import _parser  # the stdlib's own pattern parser; its width is exact for bounded patterns

    return max(_parser.parse(p.encode(), re.MULTILINE).getwidth()[1] for p in (rule.pattern, rule.hyperscan) if p)


def _hyperscan_form(rule: Rule) -> tuple[bytes, bool]:
    """The expression hyperscan compiles for the rule, and whether in prefilter mode."""
    return (rule.hyperscan or rule.pattern).encode(), rule.hyperscan is None


def _hyperscan_database(rules: Sequence[Rule]):
    """A block-mode database of every rule hyperscan accepts (the others fall back to keywords), and each
    rule's widest match; loaded from the user's cache when these exact rules were compiled before
    (compiling takes ~0.5 s, parsing the patterns for their widths ~0.1 s)."""
    try:
        import hyperscan
    except ImportError:
        return None, list(range(len(rules))), []
    key = cache_key(repr((hyperscan.__version__, MAX_WINDOW, [(r.pattern, r.hyperscan) for r in rules])).encode())
    cache = cache_dir() / f"hyperscan-{key}.db"
    try:
        head, blob = cache.read_bytes().split(b"\n", 1)
        meta = json.loads(head)
        return hyperscan.loadb(blob, hyperscan.HS_MODE_BLOCK), meta["rejected"], meta["widths"]
    except (OSError, ValueError, KeyError, hyperscan.error):
        pass
    widths = [_max_width(rule) for rule in rules]
    forms = [_hyperscan_form(rule) for rule in rules]
    flags = [hyperscan.HS_FLAG_MULTILINE | (hyperscan.HS_FLAG_PREFILTER if prefilter else 0)
             | (hyperscan.HS_FLAG_SINGLEMATCH if w > MAX_WINDOW else 0) for (_, prefilter), w in zip(forms, widths, strict=True)]
    accepted, rejected = list(range(len(rules))), []
    while accepted:
        try:
            database = hyperscan.Database()
            database.compile(expressions=[forms[i][0] for i in accepted], ids=accepted,
                             flags=[flags[i] for i in accepted])
            break
        except hyperscan.error:  # find the rule(s) hyperscan rejects; they fall back to keywords
            bad = next(i for i in accepted if not _compiles(hyperscan, forms[i][0], flags[i]))
            accepted.remove(bad)
            rejected.append(bad)
    else:
        return None, rejected, widths
    meta = json.dumps({"rejected": rejected, "widths": widths}).encode()
    store_cache(cache, meta + b"\n" + hyperscan.dumpb(database))
    return database, rejected, widths


def _compiles(hyperscan, pattern: bytes, flags: int) -> bool:
    try:
        hyperscan.Database().compile(expressions=[pattern], ids=[0], flags=[flags])
        return True
    except hyperscan.error:
        return False


def store_cache(path: Path, content: bytes) -> None:
    """Best effort: a cache (compiled database, validated rules) that cannot be written only costs the
    next run the work again."""
    from ..errors import CloudMakeError
    from ..fsio import write_output

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_output(path, content)
    except (OSError, CloudMakeError):
        pass


class _Lines:
    """Offsets to (line, column) in a buffer, built only when a finding needs it."""

    def __init__(self, data: bytes, line_numbers: Sequence[int] | None, first_line: int = 1):
        self._data = data
        self._line_numbers = line_numbers
        self._first_line = first_line
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

    def offset_in(self, offsets: Sequence[int], offset: int) -> int:
        """The file offset of buffer ``offset``, given each buffer line's file offset."""
        index = self._index(offset)
        return offsets[min(index, len(offsets) - 1)] + offset - self._starts[index]

    def position(self, offset: int) -> tuple[int, int]:
        index = self._index(offset)
        column = len(self._data[self._starts[index]:offset].decode("utf-8", "replace")) + 1
        line = self._line_numbers[min(index, len(self._line_numbers) - 1)] if self._line_numbers is not None else index + self._first_line
        return line, column
