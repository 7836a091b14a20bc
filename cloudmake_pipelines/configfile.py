"""The one loader for configuration files: read, decode, parse (JSON or YAML), validate with a pydantic model.

Every config file (load-test thresholds, outage fallback guidance, ``drift.yaml``, the drift allowlist)
goes through :func:`load_model`, so every one fails the same way: a :class:`ConfigFileError` (exit 2)
naming the file, the line when known, the field path, the value and what was expected. Non-UTF-8 bytes,
broken JSON/YAML and non-finite numbers (``NaN``, ``.inf``) are such errors, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError
from .validation import validation_message

M = TypeVar("M", bound=BaseModel)
#: libyaml's loader when PyYAML was built with it (much faster on big contracts), else the pure one.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigFileError(ConfigError):
    """A config file is unreadable or invalid: ``<file>[:<line>]: <problem>`` (exit 2)."""

    def __init__(self, path: object, problem: str, line: int | None = None):
        self.path, self.line = str(path), line
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {problem}")


def read_text(path: Path, display: str, error: type[ConfigFileError] = ConfigFileError,
              missing: str = "file not found") -> str:
    """The file's text; a missing, unreadable or non-UTF-8 file is ``error``."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(display, missing) from None
    except OSError as exc:
        raise error(display, f"cannot be read ({exc.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(display, f"not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}): expected a "
                             "UTF-8 text file", data.count(b"\n", 0, exc.start) + 1) from None


def yaml_document(text: str) -> tuple[yaml.Node | None, object]:
    """Parse YAML once, keeping the node tree (for line numbers) and the Python value."""
    loader = YAML_LOADER(text)
    try:
        node = loader.get_single_node()
        return node, loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


def parse(text: str, display: str, *, as_json: bool, error: type[ConfigFileError] = ConfigFileError
          ) -> tuple[Any, yaml.Node | None]:
    """The document, and for YAML its node tree (to point errors at a line)."""
    if as_json:
        try:
            return json.loads(text), None
        except json.JSONDecodeError as exc:
            raise error(display, f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    try:
        node, document = yaml_document(text)
        return document, node
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise error(display, f"not valid YAML: {getattr(exc, 'problem', None) or exc}",
                    mark.line + 1 if mark else None) from None


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the value at ``loc`` (pydantic's error location) in a YAML node tree."""
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def validate(model: type[M], document: Any, display: str, node: yaml.Node | None = None,
             error: type[ConfigFileError] = ConfigFileError) -> M:
    """``document`` as ``model``; the first error names the field path, the value and what was expected."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        loc = exc.errors(include_url=False)[0]["loc"]
        raise error(display, validation_message(exc, model=model), line_of(node, loc)) from None


def load_model(path: str | Path, model: type[M], *, display: str | None = None,
               error: type[ConfigFileError] = ConfigFileError, missing: str = "file not found") -> M:
    """Read ``path`` (JSON when it ends in ``.json``, else YAML) and validate it as ``model``.

    ``display`` is how errors name the file (default: the path); an empty YAML document is ``{}``.
    """
    path = Path(path)
    display = display or str(path)
    text = read_text(path, display, error, missing)
    document, node = parse(text, display, as_json=path.suffix == ".json", error=error)
    return validate(model, {} if document is None else document, display, node, error)
