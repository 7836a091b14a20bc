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
    max_file_size_mb: 20
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

RULES_FILE = Path(__file__).with_name("rules.yaml")
CHECKS = ("crc32-base62", "jwt")
_RULE_FIELDS = {"id", "description", "pattern", "keywords", "entropy", "check", "generic", "allowlist"}
_ALLOWLIST_FIELDS = {"regexes", "names", "stopwords", "paths"}
_CONFIG_FIELDS = {"rules", "disable", "allowlist", "max_file_size_mb"}
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")
_LEET = str.maketrans("0134579@$", "oieastgas")


@dataclass(frozen=True)
class Allowlist:
    """What is not a finding: secrets matching ``regexes`` or containing ``stopwords``, variable names
    matching ``names`` (the rule's ``name`` group), files whose path matches ``paths``."""

    regexes: tuple[re.Pattern[str], ...] = ()
    names: tuple[re.Pattern[str], ...] = ()
    stopwords: tuple[str, ...] = ()
    paths: tuple[re.Pattern[str], ...] = ()

    def allows_secret(self, secret: str, name: str | None = None) -> bool:
        lowered = secret.lower()
        plain = lowered.translate(_LEET)  # "s3cretPassw0rd" is spelled "secretpassword"
        return (any(w in lowered or (len(w) >= 6 and w in plain) for w in self.stopwords) or any(r.search(secret) for r in self.regexes)
                or (name is not None and any(r.search(name) for r in self.names)))

    def allows_path(self, path: str) -> bool:
        return any(r.search(path) for r in self.paths)

    def merged(self, other: Allowlist) -> Allowlist:
        return Allowlist(self.regexes + other.regexes, self.names + other.names,
                         self.stopwords + other.stopwords, self.paths + other.paths)


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

    @property
    def regex(self) -> re.Pattern[bytes]:
        return _compile_bytes(self.pattern)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    allowlist: Allowlist
    binary_extensions: frozenset[str]
    max_file_size: int

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)


_compiled: dict[str, re.Pattern[bytes]] = {}


def _compile_bytes(pattern: str) -> re.Pattern[bytes]:
    if pattern not in _compiled:
        _compiled[pattern] = re.compile(pattern.encode(), re.MULTILINE)
    return _compiled[pattern]


def load_rules(config: str | Path | None = None) -> RuleSet:
    """The built-in rules, extended by the config file at ``config`` when given."""
    builtin = _read_yaml(RULES_FILE)
    rules = [_parse_rule(raw, f"{RULES_FILE.name}: rules[{i}]") for i, raw in enumerate(builtin["rules"])]
    allowlist = _parse_allowlist(builtin.get("allowlist") or {}, f"{RULES_FILE.name}: allowlist")
    max_size = int(builtin.get("max_file_size_mb", 25) * 1024 * 1024)
    extensions = frozenset(e.lower() for e in builtin.get("binary_extensions") or ())
    if config is not None:
        rules, allowlist, max_size = _apply_config(Path(config), rules, allowlist, max_size)
    return RuleSet(tuple(rules), allowlist, extensions, max_size)


def _apply_config(path: Path, rules: list[Rule], allowlist: Allowlist,
                  max_size: int) -> tuple[list[Rule], Allowlist, int]:
    doc = _read_yaml(path)
    _check_fields(doc, _CONFIG_FIELDS, str(path))
    known = {r.id for r in rules}
    disable = _string_list(doc.get("disable"), f"{path}: disable")
    missing = set(disable) - known
    if missing:
        raise ConfigError(f"{path}: disable names unknown rule(s) {sorted(missing)}")
    rules = [r for r in rules if r.id not in disable]
    raw_rules = doc.get("rules") or []
    if not isinstance(raw_rules, list):
        raise ConfigError(f"{path}: rules must be a list of rules")
    for i, raw in enumerate(raw_rules):
        rule = _parse_rule(raw, f"{path}: rules[{i}]")
        rules = [r for r in rules if r.id != rule.id] + [rule]  # same id: the config's rule replaces it
    if "allowlist" in doc:
        allowlist = allowlist.merged(_parse_allowlist(doc["allowlist"], f"{path}: allowlist"))
    if "max_file_size_mb" in doc:
        value = doc["max_file_size_mb"]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{path}: max_file_size_mb must be a positive number, got {value!r}")
        max_size = int(value * 1024 * 1024)
    return rules, allowlist, max_size


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the secret-scanning config ({exc.strerror})") from None
    try:
        doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return doc


def _parse_rule(raw: Any, where: str) -> Rule:
    _check_fields(raw, _RULE_FIELDS, where)
    for name in ("id", "description", "pattern"):
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            raise ConfigError(f"{where}.{name}: expected a non-empty string")
    if not _ID.match(raw["id"]):
        raise ConfigError(f"{where}.id: {raw['id']!r} must be lower-case letters, digits and dashes")
    where = f"{where} ({raw['id']})"
    try:
        _compile_bytes(raw["pattern"])
    except (re.error, UnicodeEncodeError) as exc:
        raise ConfigError(f"{where}.pattern: not a valid regular expression ({exc})") from None
    keywords = _string_list(raw.get("keywords"), f"{where}.keywords")
    if not keywords:
        raise ConfigError(f"{where}.keywords: expected at least one keyword that every match contains")
    entropy = raw.get("entropy", 0.0)
    if not isinstance(entropy, (int, float)) or isinstance(entropy, bool) or not 0 <= entropy <= 8:
        raise ConfigError(f"{where}.entropy: expected a number of bits per character between 0 and 8")
    check = raw.get("check")
    if check is not None and check not in CHECKS:
        raise ConfigError(f"{where}.check: {check!r} is not one of {', '.join(CHECKS)}")
    return Rule(raw["id"], raw["description"].strip(), raw["pattern"], tuple(k.lower() for k in keywords),
                float(entropy), check, bool(raw.get("generic", False)),
                _parse_allowlist(raw.get("allowlist") or {}, f"{where}.allowlist"))


def _parse_allowlist(raw: Any, where: str) -> Allowlist:
    _check_fields(raw, _ALLOWLIST_FIELDS, where)

    def regexes(name: str) -> tuple[re.Pattern[str], ...]:
        compiled = []
        for i, pattern in enumerate(_string_list(raw.get(name), f"{where}.{name}")):
            try:
                compiled.append(re.compile(pattern))
            except re.error as exc:
                raise ConfigError(f"{where}.{name}[{i}]: not a valid regular expression ({exc})") from None
        return tuple(compiled)

    stopwords = tuple(w.lower() for w in _string_list(raw.get("stopwords"), f"{where}.stopwords"))
    return Allowlist(regexes("regexes"), regexes("names"), stopwords, regexes("paths"))


def _check_fields(raw: Any, allowed: set[str], where: str) -> None:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping with {sorted(allowed)}")
    unknown = set(raw) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)}: expected {sorted(allowed)}")


def _string_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: expected a list of non-empty strings")
    return value
