"""Argument checks for tools that bring a JSON Schema but no validator of their own.

Native tools validate with pydantic (their loader sets `Tool.validator`). For schema-only tools the core
checks what the model most often gets wrong at the top level: the arguments form an object, required
ones are present, no unexpected ones (when the schema closes the object), and primitive values have the
declared type, coercing lossless strings ("3" -> 3, "true" -> True). Deeper structure is left to the
tool's own server, whose refusal becomes that call's error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}


class SchemaValidator:
    """A picklable validator for a JSON Schema of `type: object`."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.properties: dict[str, Any] = dict(schema.get("properties") or {})
        self.required: tuple[str, ...] = tuple(schema.get("required") or ())
        self.closed = schema.get("additionalProperties") is False
        self._exact = {key: _exact_types(prop) for key, prop in self.properties.items()}

    def __call__(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        problems: list[str] = []
        checked: dict[str, Any] = {}
        exact = self._exact
        for key, value in arguments.items():
            prop = self.properties.get(key)
            if prop is None:
                if self.closed:
                    problems.append(f"unexpected argument '{key}'")
                    continue
                checked[key] = value
                continue
            if type(value) in exact[key]:
                checked[key] = value
                continue
            checked[key], problem = _check(key, value, prop)
            if problem:
                problems.append(problem)
        problems.extend(f"missing required argument '{key}'" for key in self.required if key not in arguments)
        if problems:
            raise ValueError("; ".join(problems))
        return checked


_EXACT: dict[str, frozenset[type]] = {
    "string": frozenset({str}),
    "integer": frozenset({int}),
    "number": frozenset({int, float}),
    "boolean": frozenset({bool}),
    "array": frozenset({list, tuple}),
    "object": frozenset({dict}),
    "null": frozenset({type(None)}),
}


def _exact_types(prop: Mapping[str, Any]) -> frozenset[type]:
    """The exact value types that pass `_check` for `prop` as they are, for a check without calls."""
    declared = prop.get("type")
    if not isinstance(declared, str | list):
        return frozenset()
    names = [declared] if isinstance(declared, str) else declared
    return frozenset().union(*(_EXACT.get(name, frozenset()) for name in names))


def _check(key: str, value: Any, prop: Mapping[str, Any]) -> tuple[Any, str | None]:
    declared = prop.get("type")
    if declared is None:
        return value, None
    names = [declared] if isinstance(declared, str) else list(declared)
    if prop.get("nullable"):
        names.append("null")
    if any(_is(value, name) for name in names):
        return value, None
    if isinstance(value, str):
        for name in names:
            coerced = _coerce(value, name)
            if coerced is not _FAILED:
                return coerced, None
    return value, f"argument '{key}' should be of type {' or '.join(names)}, got {type(value).__name__}"


def _is(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(name, object))


_FAILED = object()


def _coerce(text: str, name: str) -> Any:
    try:
        if name == "integer":
            return int(text)
        if name == "number":
            return float(text)
    except ValueError:
        return _FAILED
    if name == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return _FAILED
