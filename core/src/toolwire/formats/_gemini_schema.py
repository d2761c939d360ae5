"""Gemini's OpenAPI-style subset of JSON Schema (google-genai `Schema` fields). Problems name a JSON
pointer; the caller turns them into one `SchemaConversionError` for every tool that has them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from toolwire._schemas import Refs, merge_all_of
from toolwire.formats._strict import hint, object_root

__all__ = ["gemini_schema"]

_GEMINI_KEEP = {
    "title": "title", "description": "description", "minimum": "minimum", "maximum": "maximum",
    "minItems": "min_items", "maxItems": "max_items", "minLength": "min_length", "maxLength": "max_length",
    "minProperties": "min_properties", "maxProperties": "max_properties", "pattern": "pattern",
    "default": "default",
}
_GEMINI_FORMATS = {
    "STRING": {"date-time", "enum"}, "INTEGER": {"int32", "int64"}, "NUMBER": {"float", "double"},
}
_GEMINI_ANY = [{"type": "STRING"}, {"type": "NUMBER"}, {"type": "BOOLEAN"}, {"type": "OBJECT"}]


def gemini_schema(parameters: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """Gemini's subset (OpenAPI 3.0 style, snake_case fields): `$ref` inlined, `additionalProperties`
    dropped, list-valued `type` and null variants turned into `nullable`, enums as strings.

    Returns None for a tool without parameters (Gemini wants them left unset); recursive schemas are
    problems, since they cannot be inlined.
    """
    converter = _Gemini(parameters)
    root = converter.node(object_root(parameters), "", ())
    if root.get("type") != "OBJECT":
        converter.problems.append("/: the parameters must be an object")
    return (root if root.get("properties") else None), converter.problems


class _Gemini:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.refs = Refs(root)
        self.problems: list[str] = []

    def node(self, schema: Any, path: str, seen: tuple[str, ...]) -> dict[str, Any]:
        where = path or "/"
        if not isinstance(schema, Mapping):
            return {"any_of": list(_GEMINI_ANY)}
        if "$ref" in schema:
            ref = schema["$ref"]
            target = self.refs.resolve(ref)
            if target is None:
                self.problems.append(f"{where}: cannot resolve $ref {ref!r}")
                return {"type": "STRING"}
            if ref in seen:
                cycle = " -> ".join((*seen[seen.index(ref):], ref))
                self.problems.append(f"{where}: a recursive schema cannot be inlined ({cycle})")
                return {"type": "OBJECT"}
            merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            return self.node(merged, path, (*seen, ref))
        if "allOf" in schema:
            return self.node(merge_all_of(schema), path, seen)
        out: dict[str, Any] = {}
        for key, field in _GEMINI_KEEP.items():
            if key in schema:
                out[field] = schema[key]
        if schema.get("examples"):
            out["example"] = schema["examples"][0]
        kinds = schema.get("type")
        kinds = [kinds] if isinstance(kinds, str) else list(kinds or ())
        if "null" in kinds:
            out["nullable"] = True
            kinds.remove("null")
        variants = schema.get("anyOf", schema.get("oneOf"))
        if isinstance(variants, list):
            return self._variants(schema, variants, out, path, seen)
        if "const" in schema:
            schema = {**schema, "enum": [schema["const"]]}
        if len(kinds) > 1:
            rest = {k: v for k, v in schema.items() if k not in ("type", "description", "title")}
            out["any_of"] = [self.node({**rest, "type": k}, f"{path}/type/{k}", seen) for k in kinds]
            return out
        kind = kinds[0] if kinds else _infer_type(schema)
        if kind is None:
            out["any_of"] = list(_GEMINI_ANY)
            return out
        out["type"] = kind.upper()
        self._format(schema, out)
        if "enum" in schema:
            self._enum(schema["enum"], out)
        if out["type"] == "OBJECT":
            properties = {name: prop for name, prop in (schema.get("properties") or {}).items()
                          if prop is not False}  # `false`: never to be given; Gemini can say so only by leaving it out
            out["properties"] = {
                name: self.node(prop, f"{path}/properties/{name}", seen) for name, prop in properties.items()
            }
            required = [name for name in schema.get("required") or () if name in properties]
            if required:
                out["required"] = required
            if not properties:
                out.pop("properties")
        elif out["type"] == "ARRAY":
            out["items"] = self._items(schema, path, seen)
        return out

    def _variants(self, schema: Mapping[str, Any], variants: list[Any], out: dict[str, Any], path: str,
                  seen: tuple[str, ...]) -> dict[str, Any]:
        kept = [v for v in variants if not (isinstance(v, Mapping) and v.get("type") == "null")]
        if len(kept) < len(variants):
            out["nullable"] = True
        converted = [self.node(v, f"{path}/anyOf/{i}", seen) for i, v in enumerate(kept)]
        if len(converted) == 1:
            return {**converted[0], **out}
        out["any_of"] = converted
        return out

    def _items(self, schema: Mapping[str, Any], path: str, seen: tuple[str, ...]) -> dict[str, Any]:
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list) and prefix:
            variants = [self.node(p, f"{path}/prefixItems/{i}", seen) for i, p in enumerate(prefix)]
            unique = [v for i, v in enumerate(variants) if v not in variants[:i]]
            return unique[0] if len(unique) == 1 else {"any_of": unique}
        items = schema.get("items")
        if isinstance(items, Mapping):
            return self.node(items, f"{path}/items", seen)
        return {"any_of": list(_GEMINI_ANY)}

    def _format(self, schema: Mapping[str, Any], out: dict[str, Any]) -> None:
        fmt = schema.get("format")
        if fmt is None:
            return
        if fmt in _GEMINI_FORMATS.get(out["type"], ()):
            out["format"] = fmt
        else:
            out["description"] = hint({"description": out.get("description"), "format": fmt}, ("format",))

    def _enum(self, values: list[Any], out: dict[str, Any]) -> None:
        if None in values:
            out["nullable"] = True
        values = [v for v in values if v is not None]
        out["enum"] = [v if isinstance(v, str) else json.dumps(v) for v in values]
        if out["type"] != "STRING" or any(not isinstance(v, str) for v in values):
            out["format"] = "enum"


def _infer_type(schema: Mapping[str, Any]) -> str | None:
    if "properties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    values = schema.get("enum")
    if isinstance(values, list) and values:
        sample = next((v for v in values if v is not None), "")
        if isinstance(sample, bool):
            return "boolean"
        if isinstance(sample, int):
            return "integer"
        return "number" if isinstance(sample, float) else "string"
    return None
