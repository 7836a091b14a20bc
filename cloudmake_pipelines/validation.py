"""One formatter for pydantic's ValidationError: environment variables and config files fail alike.

``<field>=<value>: expected <what>`` (the value left out for secrets), so every bad input names the
field, the value and what was expected. Kept apart from :mod:`.settings` (pydantic-settings) so that
config-file readers on fast paths (the secret scanner's pre-commit hook) import pydantic only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

#: pydantic error type -> what we expected, completed with the error's context (bounds, lengths).
_EXPECTED = {
    "greater_than": "a number > {gt}", "greater_than_equal": "a number >= {ge}", "less_than": "a number < {lt}",
    "less_than_equal": "a number <= {le}", "finite_number": "a finite number",
    "float_parsing": "a number", "float_type": "a number",
    "int_parsing": "a whole number", "int_from_float": "a whole number", "int_type": "a whole number",
    "bool_parsing": "true or false", "bool_type": "true or false",
    "date_parsing": "a date (YYYY-MM-DD)", "date_type": "a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "a date (YYYY-MM-DD)", "date_from_datetime_inexact": "a date (YYYY-MM-DD)",
    "model_type": "a mapping", "dict_type": "a mapping", "model_attributes_type": "a mapping",
    "list_type": "a list", "string_type": "a string", "missing": "a value: it is required",
    "string_too_short": "at least {min_length} character(s)", "too_short": "at least {min_length} item(s)",
    "too_long": "at most {max_length} item(s)",
}


def _expected(error: Mapping[str, Any]) -> str:
    """What pydantic wanted, in the words of our messages ("expected ...")."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _EXPECTED:
        return _EXPECTED[kind].format(**ctx)
    if kind in ("literal_error", "enum"):
        return "one of " + re.sub(r"'|\"", "", ctx.get("expected", "")).replace(" or ", ", ")
    if kind == "value_error":  # our validators raise ValueError("<what was expected>")
        return str(ctx.get("error", error["msg"]))
    message = error["msg"]
    return message[:1].lower() + message[1:]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _model_in(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model inside a field's annotation, and whether a dict key or list index comes before it."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    for arg in get_args(annotation):
        found, keyed = _model_in(arg)
        if found is not None:
            return found, keyed or get_origin(annotation) in (dict, list)
    return None, False


def _keys_at(model: type[BaseModel] | None, loc: list[Any]) -> list[str]:
    """The keys the model allows at ``loc`` (for "unknown key" errors)."""
    keyed = False
    for part in loc:
        if model is None:
            return []
        if keyed:
            keyed = False
            continue
        info = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        model, keyed = _model_in(info.annotation) if info else (None, False)
    return [f.alias or n for n, f in model.model_fields.items()] if model else []


def validation_message(exc: ValidationError, *, source: str | None = None, secrets: frozenset[str] = frozenset(),
                       skip: int = 0, model: type[BaseModel] | None = None) -> str:
    """The first error of ``exc`` as one line: ``[source: ]field=value: expected ...``.

    ``skip`` drops leading location parts (the settings group). A field in ``secrets`` never shows its value.
    ``model`` (the validated one) lets an unknown key's message list the keys allowed there.
    """
    error = exc.errors(include_url=False)[0]
    loc = [str(part) for part in error["loc"][skip:]]
    field = ".".join(loc) or "(top level)"
    prefix = f"{source}: " if source else ""
    if error["type"] == "extra_forbidden":
        allowed = _keys_at(model, list(error["loc"][skip:-1]))
        return f"{prefix}{field}: unknown key: expected " + (f"one of {', '.join(allowed)}" if allowed else
                                                                "only the documented keys")
    if error["type"] == "missing" or loc[-1:] and loc[-1] in secrets:
        return f"{prefix}{field}: expected {_expected(error)}"
    return f"{prefix}{field}={_show(error['input'])}: expected {_expected(error)}"
