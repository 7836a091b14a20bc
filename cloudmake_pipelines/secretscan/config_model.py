"""Validation of rule files (the built-in ``rules.yaml`` and a team's ``--config``) as pydantic models.

Imported only when a file must be validated: the built-in set is cached once valid (see
``rules._builtin``), so a pre-commit run does not import pydantic. Every error names the file, the field
(``rules[0] (acme-token).pattern``), the value and what was expected, and is a :class:`ConfigError`
(exit 2).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression ({exc})") from None
    return value


def _bytes_regex(value: str) -> str:
    try:
        re.compile(value.encode(), re.MULTILINE)
    except (re.error, UnicodeEncodeError) as exc:
        raise ValueError(f"not a valid regular expression ({exc})") from None
    return value


def _rule_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"{value!r} must be lower-case letters, digits and dashes (2-64 characters)")
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


NonEmpty = Annotated[str, Field(min_length=1)]
Regex = Annotated[str, AfterValidator(_regex)]
Digest = Annotated[str, Field(pattern=r"^[0-9a-f]{32,64}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class AllowlistModel(_Strict):
    regexes: list[Regex] = []
    names: list[Regex] = []
    stopwords: list[NonEmpty] = []
    paths: list[Regex] = []
    digests: list[Digest] = []

    def normalized(self) -> dict[str, Any]:
        out = self.model_dump()
        out["stopwords"] = [w.lower() for w in self.stopwords]
        out["digests"] = [d[:32] for d in self.digests]
        return out


class RuleModel(_Strict):
    id: Annotated[str, AfterValidator(_rule_id)]
    description: Annotated[str, Field(min_length=1)]
    pattern: Annotated[str, Field(min_length=1), AfterValidator(_bytes_regex)]
    keywords: Annotated[list[NonEmpty], Field(min_length=1)]
    entropy: Annotated[float, Field(ge=0, le=8, strict=False), AfterValidator(_finite)] = 0.0
    check: Literal["crc32-base62", "jwt"] | None = None
    generic: bool = False
    #: Optional: the pattern without lookarounds, for hyperscan's exact mode (see rules.Rule.hyperscan).
    hyperscan: Annotated[str, Field(min_length=1), AfterValidator(_bytes_regex)] | None = None
    allowlist: AllowlistModel = AllowlistModel()

    def normalized(self) -> dict[str, Any]:
        return {"id": self.id, "description": self.description.strip(), "pattern": self.pattern,
                "keywords": [k.lower() for k in self.keywords], "entropy": float(self.entropy),
                "check": self.check, "generic": self.generic, "hyperscan": self.hyperscan,
                "allowlist": self.allowlist.normalized()}


FileSize = Annotated[float, Field(gt=0, le=1024 * 1024, strict=False), AfterValidator(_finite)]


class ConfigModel(_Strict):
    """A team's ``--config``: extra rules, disabled rules, a shared allowlist, the size limit."""

    rules: list[RuleModel] = []
    disable: list[NonEmpty] = []
    allowlist: AllowlistModel | None = None
    max_file_size_mb: FileSize | None = None


class BuiltinModel(_Strict):
    rules: list[RuleModel]
    allowlist: AllowlistModel = AllowlistModel()
    max_file_size_mb: FileSize | None = None


def validate_config(doc: dict[str, Any], source: str) -> dict[str, Any]:
    model = _validate(ConfigModel, doc, source)
    return {"rules": [r.normalized() for r in model.rules], "disable": model.disable,
            "allowlist": model.allowlist.normalized() if model.allowlist is not None else None,
            "max_file_size_mb": model.max_file_size_mb}


def validate_builtin(doc: dict[str, Any], source: str) -> dict[str, Any]:
    model = _validate(BuiltinModel, doc, source)
    return {"rules": [r.normalized() for r in model.rules], "allowlist": model.allowlist.normalized(),
            "max_file_size_mb": model.max_file_size_mb}


def _validate(model: type[BaseModel], doc: dict[str, Any], source: str) -> Any:
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        raise ConfigError(f"{source}: {_where(doc, error['loc'])}: {_message(error)}") from None


def _where(doc: Any, loc: tuple[Any, ...]) -> str:
    """``rules[0] (acme-token).pattern``: list indexes in brackets, a rule's id beside its index."""
    out, node = "", doc
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("id"), str) and _ID.match(node["id"]):
                out += f" ({node['id']})"
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "top level"


def _message(error: dict[str, Any]) -> str:
    kind, value = error["type"], error.get("input")
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    if kind == "extra_forbidden":
        return f"unknown field(s) [{error['loc'][-1]!r}]"
    if kind == "missing":
        return "required field missing"
    if kind == "too_short" and isinstance(value, list):
        return "expected at least one keyword that every match contains" if error["loc"][-1] == "keywords" \
            else "expected at least one entry"
    if kind == "literal_error":
        return f"{shown} is not one of {error['ctx']['expected']}"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if error["loc"] and error["loc"][-1] == "entropy":
        return f"expected a finite number of bits per character between 0 and 8, got {shown}"
    if error["loc"] and error["loc"][-1] == "max_file_size_mb":
        return f"max_file_size_mb must be a positive number of MiB up to 1048576, got {shown}"
    return f"{error['msg']}, got {shown}"
