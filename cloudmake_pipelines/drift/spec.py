"""Reading a spec-kit tree: ``specs/NNN-feature/`` with ``spec.md``, ``data-model.md``, ``contracts/``.

spec-kit fixes no machine-readable format for entities, so this is the convention (see
``specs/README.md`` of this repository for the long form):

* **Entities** live in ``data-model.md``: under each entity's heading, one fenced ``yaml`` block whose
  ``entity`` key names the table and whose ``fields`` map each column to ``type`` (``string(200)``),
  ``type?`` (nullable) or ``type pk`` (primary key), or to a mapping ``{type, nullable, primary_key}``.
  Other fenced blocks and all prose are free text.
* **Routes and schemas** are OpenAPI 3.0/3.1 documents in ``contracts/`` (``.yaml``, ``.yml``, ``.json``):
  their ``paths`` and ``components.schemas``.
* **Design tokens** are DTCG JSON files in the feature folder: ``*.tokens.json`` or ``tokens.json``.

Anything unreadable raises :class:`SpecError` naming the file and line.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt

from ..configfile import yaml_document
from . import routes, schemas, tokens
from .config import DriftConfig
from .entities import Entity, Field, parse_type
from .model import SpecError, read_text

FEATURE_DIR = re.compile(r"^\d{3}-[\w.-]+$")
_FIELD = re.compile(r"^\s*(?P<type>[\w]+(?:\([\d\s,]+\))?)\s*(?P<null>\?)?\s*(?P<pk>pk)?\s*$", re.I)


@dataclass
class Spec:
    features: list[Path] = field(default_factory=list)
    entities: dict[str, Entity] = field(default_factory=dict)
    routes: list[routes.Route] = field(default_factory=list)
    schemas: dict[str, tuple[dict, str]] = field(default_factory=dict)
    tokens: dict[str, tokens.Token] = field(default_factory=dict)
    digest: str = ""


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _yaml_error(exc: yaml.YAMLError, where: str, first_line: int = 1) -> SpecError:
    mark = getattr(exc, "problem_mark", None)
    line = first_line + mark.line if mark is not None else None
    return SpecError(where, f"not valid YAML: {getattr(exc, 'problem', None) or exc}", line)


def _key_lines(node: yaml.Node, first_line: int) -> dict[str, int]:
    """Line of each key of a YAML mapping node (``fields`` of an entity)."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: first_line + k.start_mark.line for k, _ in node.value if isinstance(k, yaml.ScalarNode)}


def _field(name: str, value: Any, where: str, line: int | None) -> Field:
    location = f"{where}:{line}" if line else where
    if isinstance(value, str):
        match = _FIELD.match(value)
        if not match:
            raise SpecError(where, f"field {name}: {value!r} is not 'type', 'type?' or 'type pk' "
                                   "(for example string(200)?, bigint pk)", line)
        pk = bool(match.group("pk"))
        return Field(parse_type(match.group("type"), where, line), bool(match.group("null")) and not pk, pk,
                     location)
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        unknown = set(value) - {"type", "nullable", "primary_key", "description"}
        if unknown:
            raise SpecError(where, f"field {name}: unknown key(s) {', '.join(sorted(unknown))}: expected type, "
                                   "nullable, primary_key, description", line)
        pk = bool(value.get("primary_key", False))
        return Field(parse_type(value["type"], where, line), bool(value.get("nullable", False)) and not pk, pk,
                     location)
    raise SpecError(where, f"field {name}: expected a type string or a mapping with 'type'", line)


def read_data_model(path: Path, display: str) -> list[Entity]:
    text = read_text(path, display)
    found = []
    for token in MarkdownIt("commonmark").parse(text):
        if token.type != "fence" or token.info.strip().split(" ")[0].lower() not in ("yaml", "yml"):
            continue
        first = token.map[0] + 2 if token.map else 1  # the line after the opening fence
        try:
            node, data = yaml_document(token.content)
        except yaml.YAMLError as exc:
            raise _yaml_error(exc, display, first) from None
        if not isinstance(data, dict) or "entity" not in data:
            continue  # an example or other YAML: not an entity block
        if not isinstance(data["entity"], str) or not data["entity"]:
            raise SpecError(display, "'entity' must name the table", first)
        fields_node = next((v for k, v in node.value if getattr(k, "value", None) == "fields"), None)
        if not isinstance(data.get("fields"), dict) or not data["fields"]:
            raise SpecError(display, f"entity {data['entity']}: 'fields' must map each field to its type",
                            first + (fields_node.start_mark.line if fields_node else 0))
        lines = _key_lines(fields_node, first)
        fields = {str(name): _field(str(name), value, display, lines.get(str(name)))
                  for name, value in data["fields"].items()}
        found.append(Entity(data["entity"], fields, f"{display}:{first - 1}"))
    return found


def read_contract(path: Path, display: str) -> tuple[dict[str, Any], dict[str, str]]:
    """An OpenAPI 3.0/3.1 document, and ``file:line`` of each of its paths (from the YAML node tree;
    JSON is read by ``json`` for exact errors, its lines by the YAML parser, which reads JSON too)."""
    text = read_text(path, display)
    node = None
    try:
        if path.suffix == ".json":
            doc = json.loads(text)
            with contextlib.suppress(yaml.YAMLError):
                node, _ = yaml_document(text)
        else:
            node, doc = yaml_document(text)
    except json.JSONDecodeError as exc:
        raise SpecError(display, f"not valid JSON: {exc.msg}", exc.lineno) from None
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, display) from None
    version = str(doc.get("openapi", "")) if isinstance(doc, dict) else ""
    if not re.match(r"^3\.[01]\.\d+$", version):
        raise SpecError(display, f"expected an OpenAPI 3.0 or 3.1 document ('openapi: 3.1.0'), "
                                 f"found openapi={version or 'nothing'}")
    if not isinstance(doc.get("paths", {}), dict):
        raise SpecError(display, "'paths' must be a mapping of path -> operations")
    paths_node = next((v for k, v in node.value if getattr(k, "value", None) == "paths"), None) \
        if isinstance(node, yaml.MappingNode) else None
    lines = {path_template: f"{display}:{line}" for path_template, line in _key_lines(paths_node, 1).items()}
    return doc, lines


def load_spec(config: DriftConfig) -> Spec:
    """Every feature under the specs folder, merged; duplicates across features are spec errors."""
    root = config.specs
    if not root.is_dir():
        raise SpecError(root, "no specs folder: expected specs/NNN-feature/ (spec-kit layout) "
                              "or 'specs:' in drift.yaml")
    spec = Spec()
    digest = hashlib.sha256()
    base = config.root
    features = sorted(p for p in root.iterdir() if p.is_dir() and FEATURE_DIR.match(p.name))
    if not features:
        raise SpecError(root, "no feature folders: expected specs/NNN-feature-name/ (for example 001-core)")
    for feature in features:
        spec.features.append(feature)
        for file in sorted(p for p in feature.rglob("*") if p.is_file()):
            digest.update(f"{_rel(file, root)}\0".encode() + file.read_bytes() + b"\0")
        data_model = feature / "data-model.md"
        if data_model.is_file():
            for entity in read_data_model(data_model, _rel(data_model, base)):
                if entity.name in spec.entities:
                    raise SpecError(entity.location, f"entity {entity.name} is also declared at "
                                                     f"{spec.entities[entity.name].location}")
                spec.entities[entity.name] = entity
        contracts = feature / "contracts"
        for contract in sorted(contracts.rglob("*")) if contracts.is_dir() else []:
            if contract.suffix not in (".yaml", ".yml", ".json") or not contract.is_file():
                continue
            display = _rel(contract, base)
            doc, lines = read_contract(contract, display)
            spec.routes += routes.openapi_routes(doc, display, lines)
            for name, value in schemas.document_schemas(doc, display).items():
                if name in spec.schemas and spec.schemas[name][0] != value[0]:
                    raise SpecError(display, f"schema {name} differs from the one in {spec.schemas[name][1]}")
                spec.schemas[name] = value
        for token_file in sorted(feature.rglob("*.json")):
            if token_file.name.endswith(".tokens.json") or token_file.name == "tokens.json":
                for name, token in tokens.read_dtcg(token_file, _rel(token_file, base)).items():
                    if name in spec.tokens:
                        raise SpecError(token.location, f"token {name} is also declared at {spec.tokens[name].location}")
                    spec.tokens[name] = token
    for extra in (config.source, config.allowlist):
        if extra and extra.is_file():
            digest.update(extra.name.encode() + b"\0" + extra.read_bytes())
    spec.digest = digest.hexdigest()
    return spec
