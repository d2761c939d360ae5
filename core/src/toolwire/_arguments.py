"""The model's arguments on their way to a tool: parsed, bounded in depth, cleared of strict-mode nulls,
and validated. Used by the registry's validate stage and by `Dispatch.revalidate`.

Arguments nest at most `MAX_DEPTH` levels (the arguments object is level 1): deeper ones are refused when
the call is checked, before anything that walks them (null clearing, validation, pickling to a worker)
could recurse past the interpreter's limit. The check itself never recurses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from toolwire._schemas import Refs, flat_root, merge_all_of
from toolwire.tools import Tool, load_json

__all__ = ["MAX_DEPTH", "ArgumentError", "check", "omit_strict_nulls", "parse_text", "scan"]

MAX_DEPTH = 64
"""How many levels of objects and arrays a call's arguments may nest (the arguments object is level 1)."""
_SHOWN = 200


class ArgumentError(ValueError):
    """Arguments that cannot reach the tool; the message is for the model."""


def parse_text(text: str) -> Any:
    """JSON text as Python values; raises `ArgumentError` saying what is wrong and where."""
    try:
        return load_json(text)
    except RecursionError:
        raise ArgumentError(_too_deep()) from None
    except ValueError as exc:
        if "recursion limit" in str(exc):
            raise ArgumentError(_too_deep()) from None
        raise ArgumentError(f"not valid JSON ({exc}): {text[:_SHOWN]}") from None


def scan(value: Any) -> tuple[bool, bool]:
    """`(has_null, too_deep)` for parsed arguments, in one walk without recursion."""
    has_null = False
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return has_null, True
        children = node.values() if isinstance(node, Mapping) else node
        for child in children:
            if child is None:
                has_null = True
            elif isinstance(child, dict | list | tuple | Mapping):
                stack.append((child, depth + 1))
    return has_null, False


def check(tool: Tool, arguments: Any) -> dict[str, Any]:
    """`arguments` (a mapping, or the JSON text of one) made into the tool's keyword arguments:
    bounded in depth, strict-mode nulls cleared, validated. Raises `ArgumentError` (or the validator's
    `ValueError`) with the message for the model."""
    if isinstance(arguments, str):
        arguments = parse_text(arguments) if arguments else {}
    if not isinstance(arguments, Mapping):
        shown = json.dumps(arguments, default=repr)[:_SHOWN] if not isinstance(arguments, str) else arguments
        raise ArgumentError(f"the arguments must be a JSON object, got: {shown}")
    has_null, too_deep = scan(arguments)
    if too_deep:
        raise ArgumentError(_too_deep())
    if has_null:  # strict-mode models send null for the optional values they omit
        cleared = omit_strict_nulls(tool.parameters, arguments)
        if tool.validator is not None and cleared != arguments:
            try:
                return tool.validator(cleared)
            except ValueError as refused:
                try:  # valid as sent (a `oneOf` that one more key makes ambiguous): never refused
                    return tool.validator(arguments)
                except ValueError:
                    raise refused from None
        arguments = cleared
    return tool.validator(arguments) if tool.validator else dict(arguments)


def _too_deep() -> str:
    return f"the arguments nest deeper than {MAX_DEPTH} levels; send them with less nesting"


def omit_strict_nulls(parameters: Mapping[str, Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """`arguments` without the nulls a strict-mode model sends for optional parameters it leaves out.

    Strict schemas make every optional property required-but-nullable; a `null` for a property that is
    optional and does not accept null in the tool's own schema means "not given", so it is dropped (at
    every depth) and the tool's default applies.
    """
    return _Nulls(parameters).object(flat_root(parameters), arguments)  # the root as strict schemas declare it


class _Nulls:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.refs = Refs(root)

    def resolve(self, schema: Any) -> Mapping[str, Any]:
        """`schema` with its `$ref` followed (`{}`, any value, where it leads nowhere)."""
        for _ in range(32):  # a chain of $refs, not a cycle
            if not isinstance(schema, Mapping) or "$ref" not in schema:
                break
            schema = self.refs.resolve(schema["$ref"])
        return schema if isinstance(schema, Mapping) else {}

    def deref(self, schema: Any) -> Mapping[str, Any]:
        schema = self.resolve(schema)
        return merge_all_of(schema) if "allOf" in schema else schema

    def object(self, schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        required = schema.get("required") or ()
        kept: dict[str, Any] = {}
        for key, value in arguments.items():
            prop = properties.get(key)
            if prop is None:
                kept[key] = value
            elif value is None:
                if key in required or self.accepts_null(prop):
                    kept[key] = value
            else:
                kept[key] = self.value(prop, value)
        return kept

    def value(self, schema: Any, value: Any) -> Any:
        schema = self.deref(schema)
        if isinstance(value, dict):
            candidates = [schema, *(self.deref(v) for v in schema.get("anyOf", schema.get("oneOf", ())))]
            for candidate in candidates:
                if "properties" in candidate:
                    return self.object(candidate, value)
        elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
            return [self.value(schema["items"], item) for item in value]
        return value

    def accepts_null(self, schema: Any) -> bool:
        """Whether `schema` lets null through: its type, enum, const, variants and `allOf` parts all do (each
        that it has)."""
        schema = self.resolve(schema)
        parts = schema.get("allOf")
        if isinstance(parts, list) and not all(self.accepts_null(part) for part in parts):
            return False
        kind = schema.get("type")
        if kind is not None and not (kind == "null" or (isinstance(kind, list) and "null" in kind)
                                     or schema.get("nullable") is True):
            return False
        if ("enum" in schema and None not in (schema["enum"] or ())) or schema.get("const", None) is not None:
            return False
        variants = schema.get("anyOf", schema.get("oneOf"))
        return not isinstance(variants, list) or any(self.accepts_null(v) for v in variants)
