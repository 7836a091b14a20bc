"""Design tokens: Design Tokens Community Group (DTCG) JSON in the spec against CSS custom properties.

A token ``color.brand.primary`` is defined in code by the custom property ``--color-brand-primary``.
Values are compared in a normal form: lower-case hex colours with shorthand expanded, DTCG object
values (``{"value": 16, "unit": "px"}``, colours with ``hex``) rendered as CSS, aliases (``{a.b}``) and
``var(--a-b)`` followed, whitespace collapsed, font-family quotes dropped. Composite tokens (shadow,
typography, border, ...) have no single CSS value: only their presence is compared. A custom property
is *extra* when it sits in a token group the spec declares (``--color-*`` when ``color`` is a group)
and no token names it; other custom properties are not the design system's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tinycss2

from .model import DriftItem, SpecError, read_text

COMPOSITE = {"shadow", "typography", "border", "transition", "gradient", "strokeStyle"}
_ALIAS = re.compile(r"^\{([^{}]+)\}$")
_VAR = re.compile(r"var\(\s*(--[\w-]+)\s*(?:,[^)]*)?\)")


@dataclass(frozen=True)
class Token:
    name: str
    type: str | None
    value: Any
    location: str


def _line_of(text: str, key: str) -> int | None:
    index = text.find(f'"{key}"')
    return text.count("\n", 0, index) + 1 if index >= 0 else None


def read_dtcg(path: Path, display: str) -> dict[str, Token]:
    """The tokens of one DTCG file; a token is an object with ``$value``, ``$type`` inherits from groups."""
    return parse_dtcg(read_text(path, display), display)


def parse_dtcg(text: str, display: str) -> dict[str, Token]:
    """:func:`read_dtcg` on text already read (a file at a git commit, a GitHub blob)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(display, f"not valid JSON: {exc.msg}", exc.lineno) from None
    if not isinstance(doc, dict):
        raise SpecError(display, "a design-token file must hold a JSON object of token groups")
    tokens: dict[str, Token] = {}

    def walk(node: dict[str, Any], trail: list[str], inherited: str | None) -> None:
        group_type = node.get("$type", inherited)
        for key, child in node.items():
            if key.startswith("$"):
                continue
            if any(c in key for c in ".{}"):
                raise SpecError(display, f"token name {key!r} may not contain '.', '{{' or '}}'", _line_of(text, key))
            if not isinstance(child, dict):
                raise SpecError(display, f"{'.'.join([*trail, key])}: expected a token (with $value) or a group "
                                         f"object, got {type(child).__name__}", _line_of(text, key))
            name = ".".join([*trail, key])
            if "$value" in child:
                tokens[name] = Token(name, child.get("$type", group_type), child["$value"],
                                     f"{display}:{_line_of(text, key) or 1}")
            else:
                walk(child, [*trail, key], group_type)

    walk(doc, [], None)
    return tokens


def _css_number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _color(text: str) -> str:
    text = text.strip().lower()
    if re.fullmatch(r"#[0-9a-f]{3,4}", text):
        text = "#" + "".join(c * 2 for c in text[1:])
    if re.fullmatch(r"#[0-9a-f]{8}", text) and text.endswith("ff"):
        text = text[:7]
    return text


def normalize_value(value: Any, token_type: str | None) -> str | None:
    """The CSS a token value stands for; None for composites (compared by presence only)."""
    if token_type in COMPOSITE or (isinstance(value, (dict, list)) and token_type not in (
            "color", "dimension", "duration", "fontFamily", "cubicBezier")):
        return None
    if isinstance(value, dict):
        if "hex" in value:
            return _color(value["hex"])
        if "value" in value and "unit" in value:
            return f"{_css_number(value['value'])}{value['unit']}"
        return None
    if isinstance(value, list):
        if token_type == "cubicBezier":
            return "cubic-bezier(" + ", ".join(_css_number(v) for v in value) + ")"
        return ", ".join(str(v).strip("'\" ") for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return _css_number(value)
    return normalize_css(str(value), token_type)


def normalize_css(text: str, token_type: str | None = None) -> str:
    text = " ".join(text.split())
    if token_type == "fontFamily" or ("," in text and not text.startswith(("rgb", "hsl", "cubic", "var"))):
        return ", ".join(part.strip().strip("'\"") for part in text.split(","))
    if text.startswith("#") or token_type == "color":
        return _color(text)
    return text


def resolve_aliases(tokens: dict[str, Token]) -> dict[str, str | None]:
    """Token name -> normal CSS value, aliases followed. A cycle or an unknown alias is a spec error."""
    resolved: dict[str, str | None] = {}

    def value_of(name: str, chain: tuple[str, ...]) -> str | None:
        if name in resolved:
            return resolved[name]
        token = tokens[name]
        raw = token.value
        match = _ALIAS.match(raw) if isinstance(raw, str) else None
        if match:
            target = match.group(1)
            if target not in tokens:
                raise SpecError(token.location, f"token {name} refers to unknown token {{{target}}}")
            if target in chain:
                raise SpecError(token.location, f"alias cycle: {' -> '.join([*chain, target])}")
            result = value_of(target, (*chain, target))
        else:
            result = normalize_value(raw, token.type)
        resolved[name] = result
        return result

    for name in tokens:
        value_of(name, (name,))
    return resolved


def _custom_properties(nodes: list) -> Iterator:
    """Custom-property declarations, in rules nested at any depth (``@media``, ``@layer``, CSS nesting)."""
    for node in nodes:
        if node.type == "declaration" and node.name.startswith("--"):
            yield node
        elif node.type in ("qualified-rule", "at-rule") and node.content is not None:
            yield from _custom_properties(tinycss2.parse_blocks_contents(node.content, skip_comments=True,
                                                                          skip_whitespace=True))


def read_css(paths: list[Path], root: Path) -> dict[str, tuple[str, str]]:
    """Custom property -> (raw value, location); the first definition wins (later ones are themes)."""
    found: dict[str, tuple[str, str]] = {}
    for path in paths:
        rules = tinycss2.parse_stylesheet(path.read_text(encoding="utf-8", errors="replace"), skip_comments=True,
                                          skip_whitespace=True)
        for declaration in _custom_properties(rules):
            found.setdefault(declaration.name, (tinycss2.serialize(declaration.value).strip(),
                                                f"{path.relative_to(root)}:{declaration.source_line}"))
    return found


def _css_value(name: str, css: dict[str, tuple[str, str]], depth: int = 0) -> str:
    raw = css[name][0]
    if depth < 16:
        raw = _VAR.sub(lambda m: _css_value(m.group(1), css, depth + 1) if m.group(1) in css else m.group(0), raw)
    return raw


def css_name(token: str) -> str:
    return "--" + token.replace(".", "-")


def compare(tokens: dict[str, Token], css: dict[str, tuple[str, str]]) -> list[DriftItem]:
    values = resolve_aliases(tokens)
    items = []
    for name, token in sorted(tokens.items()):
        prop = css_name(name)
        if prop not in css:
            items.append(DriftItem("tokens", "missing", name, values[name] or token.type, None, token.location))
            continue
        actual = normalize_css(_css_value(prop, css), token.type)
        if values[name] is not None and actual != values[name]:
            items.append(DriftItem("tokens", "changed", name, values[name], actual,
                                   f"{token.location} / {css[prop][1]}"))
    groups = tuple(sorted({css_name(name.split(".", 1)[0]) + "-" for name in tokens}))
    declared = {css_name(name) for name in tokens}
    for prop, (raw, location) in sorted(css.items()):
        if prop not in declared and prop.startswith(groups):
            items.append(DriftItem("tokens", "extra", prop, None, normalize_css(raw), location))
    return items
