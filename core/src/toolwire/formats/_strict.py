"""OpenAI's strict subset of JSON Schema (also Anthropic's strict tools), and the parameters JSON Schema
providers get: as declared, or made strict. Problems name a JSON pointer; the caller turns them into one
`SchemaConversionError` for every tool that has them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from toolwire._schemas import Refs, flat_root, merge_all_of
from toolwire.formats import SchemaConversionError
from toolwire.tools import Tool

__all__ = ["hint", "json_schema_parameters", "object_root", "strict_schema"]

_STRICT_KEEP = (
    "title", "description", "enum", "const", "pattern", "format", "multipleOf",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems",
)
_HINTED = ("default", "minLength", "maxLength", "minProperties", "maxProperties", "uniqueItems")


def object_root(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """`parameters` as an object schema with `properties`, as every provider requires at the root."""
    root = dict(parameters)
    root.setdefault("type", "object")
    root.setdefault("properties", {})
    return root


def json_schema_parameters(tool: Tool, format: str, *, strict: bool, flat: bool = False) -> dict[str, Any]:
    """A tool's parameters for a JSON Schema provider (OpenAI, Anthropic): as declared, or made strict. Strict
    ones, and all of them with `flat` (Anthropic's), have no `allOf`, `anyOf` or `oneOf` at the root (`flat_root`)."""
    if not strict:
        return object_root(flat_root(tool.parameters) if flat else tool.parameters)
    schema, problems = strict_schema(flat_root(tool.parameters))
    if problems:
        raise SchemaConversionError(f"{format} (strict)", {tool.name: problems})
    return schema


def hint(schema: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """The description, extended with the keywords a provider drops (so the model still sees them)."""
    hints = [f"{key}: {json.dumps(schema[key], default=str)}" for key in keys
             if key in schema and not (key == "default" and schema[key] is None)]
    description = schema.get("description")
    if not hints:
        return description
    extra = f"({', '.join(hints)})"
    return f"{description} {extra}" if description else extra



def strict_schema(parameters: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """OpenAI's strict subset: every object closed, every property required (optional ones nullable),
    unsupported keywords dropped (defaults and length bounds kept as hints in the description).

    Free-form objects, untyped values and tuples cannot be strict: they are returned as problems.
    """
    converter = _Strict(parameters)
    root = converter.node(object_root(parameters), "", root=True)
    for key in ("$defs", "definitions"):
        defs = parameters.get(key)
        if isinstance(defs, Mapping):
            root[key] = {name: converter.node(d, f"/{key}/{name}") for name, d in defs.items()}
    if root.get("type") != "object":
        converter.problems.append("/: the parameters must be an object")
    return root, converter.problems


class _Strict:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.refs = Refs(root)
        self.problems: list[str] = []
        self.inlining: list[str] = []

    def node(self, schema: Any, path: str, *, root: bool = False) -> dict[str, Any]:
        where = path or "/"
        if not isinstance(schema, Mapping):
            self.problems.append(f"{where}: a boolean schema allows any value")
            return {}
        if "$ref" in schema:
            target = self.refs.resolve(schema["$ref"])
            if target is None:
                self.problems.append(f"{where}: cannot resolve $ref {schema['$ref']!r}")
                return {}
            if len(schema) == 1 or schema["$ref"] in self.inlining:  # strict allows a bare (recursive) $ref
                return {"$ref": schema["$ref"]}
            self.inlining.append(schema["$ref"])  # siblings of a $ref are not allowed: inline it once
            try:
                merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
                return self.node(merged, path, root=root)
            finally:
                self.inlining.pop()
        if "allOf" in schema:
            return self.node(merge_all_of(schema), path, root=root)
        out: dict[str, Any] = {k: schema[k] for k in _STRICT_KEEP if k in schema}
        description = hint(schema, _HINTED)
        if description:
            out["description"] = description
        variants = schema.get("anyOf", schema.get("oneOf"))
        if isinstance(variants, list):
            out["anyOf"] = [self.node(v, f"{path}/anyOf/{i}") for i, v in enumerate(variants)]
        kind = schema.get("type")
        if kind is not None:
            out["type"] = kind
        kinds = {kind} if isinstance(kind, str) else set(kind or ())
        if "object" in kinds or "properties" in schema:
            self._object(schema, out, path, root)
        if "array" in kinds or "items" in schema:
            self._array(schema, out, path)
        if not ({"type", "anyOf", "enum", "const"} & out.keys()):
            self.problems.append(f"{where}: a value of any type cannot be strict")
        return out

    def _object(self, schema: Mapping[str, Any], out: dict[str, Any], path: str, root: bool) -> None:
        where = path or "/"
        extra = schema.get("additionalProperties")
        properties = schema.get("properties")
        if (extra is not None and extra is not False) or "patternProperties" in schema:
            self.problems.append(f"{where}: an object with free-form keys (additionalProperties) "
                                 "cannot be strict")
        elif properties is None and extra is None and not root:
            self.problems.append(f"{where}: an object without declared properties cannot be strict")
        properties = properties or {}
        required = set(schema.get("required") or ())
        out.setdefault("type", "object")
        out["properties"] = {
            name: self.node(prop, f"{path}/properties/{name}") if name in required
            else _nullable(self.node(prop, f"{path}/properties/{name}"))
            for name, prop in properties.items()
        }
        out["required"] = list(properties)
        out["additionalProperties"] = False

    def _array(self, schema: Mapping[str, Any], out: dict[str, Any], path: str) -> None:
        items = schema.get("items")
        if "prefixItems" in schema:
            self.problems.append(f"{path}: a tuple (prefixItems) cannot be strict")
        elif isinstance(items, Mapping):
            out["items"] = self.node(items, f"{path}/items")
        else:
            self.problems.append(f"{path}: an array without an items schema cannot be strict")


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` also accepting null (how strict mode says "optional")."""
    if "anyOf" in schema:
        if not any(v.get("type") == "null" for v in schema["anyOf"]):
            schema["anyOf"] = [*schema["anyOf"], {"type": "null"}]
        return schema
    kind = schema.get("type")
    if kind is None or "const" in schema:
        outer: dict[str, Any] = {k: schema.pop(k) for k in ("description", "title") if k in schema}
        return {**outer, "anyOf": [schema, {"type": "null"}]}
    kinds = [kind] if isinstance(kind, str) else list(kind)
    if "null" not in kinds:
        schema["type"] = [*kinds, "null"]
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    return schema


# -- Gemini ----------------------------------------------------------------------------------------
