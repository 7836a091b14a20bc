"""Rules as data: the built-in set ships in ``rules.yaml``; a team's config file adds, disables or allowlists.

A config file (``--config``) looks like::

    rules:            # extra rules, same fields as rules.yaml
      - id: acme-token
        description: ACME deploy token
        pattern: '\\b(?P<secret>acme_[a-z0-9]{32})\\b'
        keywords: [acme_]
        entropy: 3.0
    disable: [generic-secret-assignment]
    allowlist:        # applies to every rule
      paths: ['^docs/examples/']
      regexes: ['^sk_test_']      # on the secret
      stopwords: [fixture]        # substrings of the secret
      digests: [<sha256 hex>]     # secrets by the SHA-256 of their value (first 32 hex digits suffice)
    max_file_size_mb: 20          # optional: larger files are reported as not scanned (default: none)

Both files are validated by the pydantic models in :mod:`.config_model` (errors name file, field, value).
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import ConfigError

RULES_FILE = Path(__file__).with_name("rules.yaml")
_LEET = str.maketrans("0134579@$", "oieastgas")
#: Bumped when the cached form of the built-in rules changes shape.
_CACHE_VERSION = 4


@dataclass(frozen=True)
class Allowlist:
    """What is not a finding: secrets matching ``regexes``, containing ``stopwords`` or whose SHA-256
    starts with one of ``digests`` (published example keys, kept out of the repository as literals),
    variable names matching ``names`` (the rule's ``name`` group), files whose path matches ``paths``.
    Patterns are compiled on first use: a clean pre-commit run compiles none of them."""

    regexes: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    stopwords: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    digests: frozenset[str] = frozenset()

    @cached_property
    def _compiled(self) -> tuple[tuple[re.Pattern[str], ...], ...]:
        return tuple(tuple(map(re.compile, group)) for group in (self.regexes, self.names, self.paths))

    def allows_secret(self, secret: str, name: str | None = None) -> bool:
        lowered = secret.lower()
        plain = lowered.translate(_LEET)  # "s3cretPassw0rd" is spelled "secretpassword"
        if any(w in lowered or (len(w) >= 6 and w in plain) for w in self.stopwords):
            return True
        regexes, names, _ = self._compiled
        if any(r.search(secret) for r in regexes):
            return True
        if name is not None and any(r.search(name) for r in names):
            return True
        return bool(self.digests) and _digest(secret) in self.digests

    def allows_path(self, path: str) -> bool:
        if not self.paths:
            return False
        known, allowed = self._last_path[0]  # each file is asked twice in a row (read, scanned): ~10 µs a search
        if known != path:
            allowed = any(r.search(path) for r in self._compiled[2])
            self._last_path[0] = (path, allowed)  # one tuple: threads never see a path with another's answer
        return allowed

    @cached_property
    def _last_path(self) -> list[tuple[str | None, bool]]:
        return [(None, False)]

    def merged(self, other: Allowlist) -> Allowlist:
        return Allowlist(self.regexes + other.regexes, self.names + other.names,
                         self.stopwords + other.stopwords, self.paths + other.paths, self.digests | other.digests)


def _digest(secret: str) -> str:
    import hashlib  # here: loading OpenSSL costs a clean pre-commit run ~3 ms

    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()[:32]


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    pattern: str
    keywords: tuple[str, ...]
    entropy: float = 0.0
    check: str | None = None
    generic: bool = False
    allowlist: Allowlist = field(default_factory=Allowlist)
    #: The pattern rewritten without lookarounds (a lookahead consumed, a lookbehind dropped), matching
    #: wherever ``pattern`` matches, from the same start and ending at or after its end. Hyperscan runs it
    #: exactly instead of ``pattern`` in prefilter mode, whose approximations of a context rule hit
    #: ~16 times as often on real code (each hit costing a Python ``re`` run).
    hyperscan: str | None = None

    @property
    def regex(self) -> re.Pattern[bytes]:
        return _compile_bytes(self.pattern)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    allowlist: Allowlist
    max_file_size: int | None  # bytes; None: every file is scanned, large ones in windows

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)


_compiled: dict[str, re.Pattern[bytes]] = {}


def _compile_bytes(pattern: str) -> re.Pattern[bytes]:
    if pattern not in _compiled:
        _compiled[pattern] = re.compile(pattern.encode(), re.MULTILINE)
    return _compiled[pattern]


def load_rules(config: str | Path | None = None) -> RuleSet:
    """The built-in rules, extended by the config file at ``config`` when given."""
    builtin = _builtin()
    rules = [_rule(raw) for raw in builtin["rules"]]
    allowlist = _allowlist(builtin["allowlist"])
    limit = builtin["max_file_size_mb"]
    max_size = int(limit * 1024 * 1024) if limit is not None else None
    if config is not None:
        rules, allowlist, max_size = _apply_config(Path(config), rules, allowlist, max_size)
    return RuleSet(tuple(rules), allowlist, max_size)


def _builtin() -> dict[str, Any]:
    """The built-in rules file, validated; cached as JSON per content hash, so a pre-commit run pays
    neither for YAML nor for pydantic (about 0.1 s of imports) once the rules were validated."""
    from .engine import store_cache
    from .environment import cache_dir

    text = RULES_FILE.read_bytes()
    key = cache_key(text, str(_CACHE_VERSION).encode())
    cache = cache_dir() / f"rules-{key}.json"
    try:
        return json.loads(cache.read_bytes())
    except (OSError, ValueError):
        pass
    from . import config_model

    doc = config_model.validate_builtin(_read_yaml(RULES_FILE), RULES_FILE.name)
    store_cache(cache, json.dumps(doc).encode())
    return doc


def cache_key(*parts: bytes) -> str:
    """A name for cached derived data (validated rules, compiled database): CRC-32 and Adler-32 of the
    inputs and their length. Not a security boundary (the cache is the user's own), and it spares a
    pre-commit run loading OpenSSL for hashlib."""
    data = b"\0".join(parts)
    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}{len(data):x}"


def _rule(raw: dict[str, Any]) -> Rule:
    return Rule(raw["id"], raw["description"], raw["pattern"], tuple(raw["keywords"]), raw["entropy"],
                raw["check"], raw["generic"], _allowlist(raw["allowlist"]), raw.get("hyperscan"))


def _allowlist(raw: dict[str, Any]) -> Allowlist:
    return Allowlist(tuple(raw["regexes"]), tuple(raw["names"]), tuple(raw["stopwords"]), tuple(raw["paths"]),
                     frozenset(raw["digests"]))


def _apply_config(path: Path, rules: list[Rule], allowlist: Allowlist,
                  max_size: int | None) -> tuple[list[Rule], Allowlist, int | None]:
    from . import config_model

    doc = config_model.validate_config(_read_yaml(path), str(path))
    known = {r.id for r in rules}
    missing = [r for r in doc["disable"] if r not in known]
    if missing:
        raise ConfigError(f"{path}: disable names unknown rule(s) {sorted(set(missing))}: expected ids "
                          "listed by `cloudmake secrets rules`")
    rules = [r for r in rules if r.id not in doc["disable"]]
    for raw in doc["rules"]:
        rule = _rule(raw)
        rules = [r for r in rules if r.id != rule.id] + [rule]  # same id: the config's rule replaces it
    if doc["allowlist"] is not None:
        allowlist = allowlist.merged(_allowlist(doc["allowlist"]))
    if doc["max_file_size_mb"] is not None:
        max_size = int(doc["max_file_size_mb"] * 1024 * 1024)
    return rules, allowlist, max_size


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the secret-scanning config ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}): expected a YAML file") from None
    try:
        doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return doc
