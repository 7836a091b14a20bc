"""Which source secrets a target gets: its include globs, exclusion globs, and GitHub's naming rules.

GitHub's rules (checked here before any request, each breach a message naming the secret):
letters, digits and ``_`` only; no leading digit; no ``GITHUB_`` prefix; names are case-insensitive
(GitHub stores them upper-cased), so two source names differing only in case are both rejected; a value
is at most 48 KB. The per-target count limits (100 per repository or environment, 1,000 per
organization) need GitHub's current listing and are applied by the sync.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

#: Never synced unless the operator says otherwise (``GITHUB_SYNC_EXCLUDE``, comma-separated globs):
#: the platform's own root keys stay in the database.
DEFAULT_EXCLUDE = ("MASTER_KEY*", "*_MASTER_KEY", "JWT_SIGNING_*", "LOCAL_*", "*_LOCAL")
#: Internal material kept in the keyring by the platform itself: never synced, whatever the configuration.
ALWAYS_EXCLUDE = ("CLOUDMAKE_INTERNAL_*",)
MAX_VALUE_BYTES = 48 * 1024
_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def exclusions(raw: str | None) -> tuple[str, ...]:
    """``GITHUB_SYNC_EXCLUDE``'s globs: unset means :data:`DEFAULT_EXCLUDE`, empty means none."""
    if raw is None:
        return DEFAULT_EXCLUDE
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def matches(name: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """Case-insensitive glob match, as GitHub names are case-insensitive."""
    upper = name.upper()
    return any(fnmatchcase(upper, pattern.upper()) for pattern in patterns)


def name_problem(name: str) -> str | None:
    if not _NAME.match(name):
        return "names may contain only letters, digits and underscores"
    if name[0].isdigit():
        return "names must not start with a digit"
    if name.upper().startswith("GITHUB_"):
        return "names must not start with the reserved GITHUB_ prefix"
    return None


def value_problem(value: str) -> str | None:
    size = len(value.encode())
    if size == 0:
        return "the value is empty"
    if size > MAX_VALUE_BYTES:
        return f"the value is {size:,} bytes; GitHub allows at most {MAX_VALUE_BYTES:,} (48 KB)"
    return None


@dataclass(frozen=True)
class Rejection:
    name: str
    reason: str

    def __str__(self) -> str:
        return f"secret {self.name!r} rejected: {self.reason}"


@dataclass
class Selection:
    accepted: dict[str, str] = field(default_factory=dict)  # GitHub name (upper-case) -> value
    rejected: list[Rejection] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)


def select_secrets(items: Mapping[str, str], include: tuple[str, ...], exclude: tuple[str, ...]) -> Selection:
    """The secrets of ``items`` that ``include`` asks for, minus exclusions and rule breaches."""
    selection = Selection()
    by_upper: dict[str, list[str]] = defaultdict(list)
    for name in sorted(items):
        if not matches(name, include):
            continue
        if matches(name, ALWAYS_EXCLUDE) or matches(name, exclude):
            selection.excluded.append(name)
            continue
        problem = name_problem(name) or value_problem(items[name])
        if problem:
            selection.rejected.append(Rejection(name, problem))
            continue
        by_upper[name.upper()].append(name)
    for upper, names in by_upper.items():
        if len(names) > 1:
            for name in names:
                others = ", ".join(n for n in names if n != name)
                selection.rejected.append(Rejection(name, f"names are case-insensitive on GitHub: clashes with {others}"))
        else:
            selection.accepted[upper] = items[names[0]]
    return selection
