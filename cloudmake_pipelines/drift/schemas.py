"""Schemas: contract component schemas against the code's, both in one normal form.

Normal form: local ``$ref``s resolved (a recursive reference stays ``ref:Name``), ``nullable: true``
(OpenAPI 3.0), ``type: [.., "null"]`` (3.1, JSON Schema) and ``anyOf: [.., {type: null}]`` (Pydantic)
unified into one ``nullable`` flag, ``allOf`` merged, ``required`` and ``enum`` sorted, and annotations
(title, description, examples, default) dropped. Each schema is then flattened into one descriptor per
path (``User``, ``User.email``, ``User.tags[]``, ``User.meta{}``) and descriptors are compared.
``format`` is compared only when both sides state one (Pydantic omits ``int64``, contracts often add it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .model import DriftItem

Resolver = Callable[[str], dict[str, Any] | None]


def components_resolver(doc: dict[str, Any]) -> Resolver:
    """Resolve local JSON pointers (``#/components/schemas/X``, ``#/$defs/X``) inside ``doc``."""

    def resolve(ref: str) -> dict[str, Any] | None:
        if not ref.startswith("#/"):
            return None
        node: Any = doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node if isinstance(node, dict) else None

    return resolve


def ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def normalize(schema: Any, resolve: Resolver, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(schema, dict):
        return {"type": "any"} if schema is True or schema is None else {"type": "never"}
    if "$ref" in schema:
        name = ref_name(schema["$ref"])
        target = resolve(schema["$ref"])
        if name in seen or target is None:
            return {"type": f"ref:{name}"}
        extra = {k: v for k, v in schema.items() if k not in ("$ref", "description", "title")}
        merged = normalize(target, resolve, (*seen, name))
        return {**merged, **normalize(extra, resolve, seen)} if extra else merged
    out: dict[str, Any] = {}
    nullable = schema.get("nullable") is True
    types = schema.get("type")
    if isinstance(types, list):
        nullable |= "null" in types
        types = [t for t in types if t != "null"]
        types = types[0] if len(types) == 1 else "|".join(sorted(types)) or None
    if types == "null":
        types, nullable = None, True
    for key in ("allOf",):
        for part in schema.get(key) or []:
            sub = normalize(part, resolve, seen)
            nullable |= sub.pop("nullable", False)
            props = {**out.get("properties", {}), **sub.pop("properties", {})}
            required = sorted(set(out.get("required", [])) | set(sub.pop("required", [])))
            out.update(sub)
            if props:
                out["properties"] = props
            if required:
                out["required"] = required
    for key in ("anyOf", "oneOf"):
        if key in schema:
            variants = []
            for part in schema[key]:
                sub = normalize(part, resolve, seen)
                if sub == {"type": "null"} or sub == {"nullable": True}:
                    nullable = True
                    continue
                nullable |= sub.pop("nullable", False)
                variants.append(sub)
            if len(variants) == 1:
                out.update(variants[0])
            elif variants:
                out["anyOf"] = sorted(variants, key=lambda v: json.dumps(v, sort_keys=True))
    if types:
        out["type"] = types
    elif "properties" in schema and "type" not in out:
        out["type"] = "object"
    if "format" in schema:
        out["format"] = schema["format"]
    if "enum" in schema:
        values = [v for v in schema["enum"] if v is not None]
        nullable |= len(values) < len(schema["enum"])
        out["enum"] = sorted(values, key=lambda v: json.dumps(v, sort_keys=True))
    if "const" in schema:
        out["enum"] = [schema["const"]]
    if "properties" in schema:
        out["properties"] = {**out.get("properties", {}),
                             **{k: normalize(v, resolve, seen) for k, v in schema["properties"].items()}}
    if schema.get("required"):
        out["required"] = sorted(set(out.get("required", [])) | set(schema["required"]))
    if "items" in schema:
        out["items"] = normalize(schema["items"], resolve, seen)
    if isinstance(schema.get("additionalProperties"), dict):
        out["additionalProperties"] = normalize(schema["additionalProperties"], resolve, seen)
    if nullable:
        out["nullable"] = True
    return out


def describe(node: dict[str, Any], required: bool | None = None) -> str:
    """A short human form of one descriptor: ``string(date-time)?, required``."""
    text = node.get("type", "any")
    if "anyOf" in node:
        text = " | ".join(describe(v) for v in node["anyOf"])
    if node.get("format"):
        text += f"({node['format']})"
    if "enum" in node:
        text += " enum[" + ", ".join(json.dumps(v) for v in node["enum"]) + "]"
    if node.get("nullable"):
        text += "?"
    if required is not None:
        text += ", required" if required else ", optional"
    return text


def flatten(name: str, node: dict[str, Any], required: bool | None = None,
            out: dict[str, tuple[dict[str, Any], bool | None]] | None = None):
    """Path -> (descriptor, required) for the schema and every nested property, item and map value."""
    out = {} if out is None else out
    out[name] = ({k: v for k, v in node.items() if k not in ("properties", "required", "items",
                                                            "additionalProperties")}, required)
    needed = set(node.get("required", []))
    for prop, sub in (node.get("properties") or {}).items():
        flatten(f"{name}.{prop}", sub, prop in needed, out)
    if "items" in node:
        flatten(f"{name}[]", node["items"], None, out)
    if "additionalProperties" in node:
        flatten(f"{name}{{}}", node["additionalProperties"], None, out)
    return out


def _parent(path: str) -> str:
    for suffix in ("[]", "{}"):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path.rsplit(".", 1)[0]


def _same(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
    if expected.get("format") and actual.get("format") and expected["format"] != actual["format"]:
        return False
    strip = ("format",)
    return ({k: v for k, v in expected.items() if k not in strip}
            == {k: v for k, v in actual.items() if k not in strip})


def compare(spec: dict[str, tuple[dict, str]], code: dict[str, tuple[dict, str]],
            ignore: list[str] = ()) -> list[DriftItem]:
    """``spec``/``code``: schema name -> (normal form, location)."""
    items = []
    for name in sorted(set(spec) | set(code)):
        if name in ignore:
            continue
        if name not in code:
            items.append(DriftItem("schemas", "missing", name, describe(spec[name][0]), None, spec[name][1]))
            continue
        if name not in spec:
            items.append(DriftItem("schemas", "extra", name, None, describe(code[name][0]), code[name][1]))
            continue
        expected, actual = flatten(name, spec[name][0]), flatten(name, code[name][0])
        where = f"{spec[name][1]} / {code[name][1]}"
        for path in sorted(set(expected) | set(actual), key=lambda p: (p.count("."), p)):
            if path not in actual:
                if _parent(path) in actual:  # report the top-most missing node only
                    items.append(DriftItem("schemas", "missing", path, describe(*expected[path]), None, where))
            elif path not in expected:
                if _parent(path) in expected:
                    items.append(DriftItem("schemas", "extra", path, None, describe(*actual[path]), where))
            elif not _same(expected[path][0], actual[path][0]) or expected[path][1] != actual[path][1]:
                items.append(DriftItem("schemas", "changed", path, describe(*expected[path]),
                                       describe(*actual[path]), where))
    return items


def document_schemas(doc: dict[str, Any], location: str) -> dict[str, tuple[dict, str]]:
    """The normal forms of an OpenAPI document's ``components.schemas``."""
    resolve = components_resolver(doc)
    found = ((doc.get("components") or {}).get("schemas") or {})
    return {name: (normalize(schema, resolve, (name,)), location) for name, schema in found.items()}


def json_schema_file(doc: dict[str, Any], stem: str, location: str) -> dict[str, tuple[dict, str]]:
    """A JSON Schema file: the root (named by ``title``, else the file stem) and each of its ``$defs``."""
    resolve = components_resolver(doc)
    name = doc.get("title") or stem
    found = {name: (normalize(doc, resolve, (name,)), location)}
    for key in ("$defs", "definitions"):
        for sub, schema in (doc.get(key) or {}).items():
            found[sub] = (normalize(schema, resolve, (sub,)), location)
    return found
