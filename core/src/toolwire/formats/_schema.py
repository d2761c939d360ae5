"""JSON Schema rewrites for providers: OpenAI's strict subset and Gemini's OpenAPI-style subset.

Both return the rewritten schema and a list of problems (each naming a JSON pointer); the caller turns
problems into one `SchemaConversionError` for every tool that has them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from toolwire.formats import SchemaConversionError
from toolwire.tools import Tool

__all__ = ["gemini_schema", "json_schema_parameters", "object_root", "omit_strict_nulls", "strict_schema"]

_STRICT_KEEP = (
    "title", "description", "enum", "const", "pattern", "format", "multipleOf",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems",
)
_HINTED = ("default", "minLength", "maxLength", "minProperties", "maxProperties", "uniqueItems")
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


def object_root(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """`parameters` as an object schema with `properties`, as every provider requires at the root."""
    root = dict(parameters)
    root.setdefault("type", "object")
    root.setdefault("properties", {})
    return root


def json_schema_parameters(tool: Tool, format: str, *, strict: bool) -> dict[str, Any]:
    """A tool's parameters for a JSON Schema provider (OpenAI, Anthropic): as declared, or made strict."""
    if not strict:
        return object_root(tool.parameters)
    schema, problems = strict_schema(tool.parameters)
    if problems:
        raise SchemaConversionError(f"{format} (strict)", {tool.name: problems})
    return schema


class _Refs:
    """Local `$ref` resolution against one root schema."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def resolve(self, ref: Any) -> Mapping[str, Any] | None:
        if not isinstance(ref, str) or not ref.startswith("#"):
            return None
        node: Any = self.root
        for part in ref[1:].lstrip("/").split("/") if ref != "#" else ():
            key = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or key not in node:
                return None
            node = node[key]
        return node if isinstance(node, Mapping) else None


def _merge_all_of(schema: Mapping[str, Any]) -> dict[str, Any]:
    """`allOf` folded into its parent: properties and required united, other keywords first-wins."""
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        if not isinstance(part, Mapping):
            continue
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = [*merged.get("required", []), *(r for r in value if r not in
                                                                     merged.get("required", []))]
            else:
                merged.setdefault(key, value)
    return merged


def _hint(schema: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """The description, extended with the keywords a provider drops (so the model still sees them)."""
    hints = [f"{key}: {json.dumps(schema[key], default=str)}" for key in keys
             if key in schema and not (key == "default" and schema[key] is None)]
    description = schema.get("description")
    if not hints:
        return description
    extra = f"({', '.join(hints)})"
    return f"{description} {extra}" if description else extra


# -- OpenAI strict ---------------------------------------------------------------------------------


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
        self.refs = _Refs(root)
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
            return self.node(_merge_all_of(schema), path, root=root)
        out: dict[str, Any] = {k: schema[k] for k in _STRICT_KEEP if k in schema}
        description = _hint(schema, _HINTED)
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
        self.refs = _Refs(root)
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
            return self.node(_merge_all_of(schema), path, seen)
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
            properties = schema.get("properties") or {}
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
            out["description"] = _hint({"description": out.get("description"), "format": fmt}, ("format",))

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


# -- arguments from strict models --------------------------------------------------------------------


def omit_strict_nulls(parameters: Mapping[str, Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """`arguments` without the nulls a strict-mode model sends for optional parameters it leaves out.

    Strict schemas make every optional property required-but-nullable; a `null` for a property that is
    optional and does not accept null in the tool's own schema means "not given", so it is dropped (at
    every depth) and the tool's default applies.
    """
    return _Nulls(parameters).object(parameters, arguments)


class _Nulls:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.refs = _Refs(root)

    def deref(self, schema: Any) -> Mapping[str, Any]:
        for _ in range(32):  # a chain of $refs, not a cycle
            if not isinstance(schema, Mapping) or "$ref" not in schema:
                break
            schema = self.refs.resolve(schema["$ref"])
        if not isinstance(schema, Mapping):
            return {}
        return _merge_all_of(schema) if "allOf" in schema else schema

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
        schema = self.deref(schema)
        kind = schema.get("type")
        if kind is None and not ({"anyOf", "oneOf", "enum", "const"} & schema.keys()):
            return True  # any value
        if kind == "null" or (isinstance(kind, list) and "null" in kind) or schema.get("nullable"):
            return True
        if None in (schema.get("enum") or ()) or ("const" in schema and schema["const"] is None):
            return True
        return any(self.accepts_null(v) for v in schema.get("anyOf", schema.get("oneOf", ())))
