"""OpenAI's strict subset of JSON Schema (also Anthropic's strict tools), and the parameters JSON Schema
providers get: as declared, or made strict. Problems name a JSON pointer; the caller turns them into one
`SchemaConversionError` for every tool that has them.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from typing import Any

from toolwire._schemas import Refs, flat_root, merge_all_of
from toolwire.formats import SchemaConversionError, rebased_references
from toolwire.tools import Tool

__all__ = ["hint", "json_schema_parameters", "object_root", "strict_schema"]

_STRICT_KEEP = (
    "title", "description", "enum", "const", "pattern", "format", "multipleOf",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems",
)
_HINTED = ("default", "minLength", "maxLength", "minProperties", "maxProperties", "uniqueItems")
_ANTHROPIC_KEEP = ("title", "description", "enum", "const", "format")
_ANTHROPIC_HINTED = (*_HINTED, "pattern", "format", "multipleOf", "minimum", "maximum", "exclusiveMinimum",
                     "exclusiveMaximum", "minItems", "maxItems")
_ANTHROPIC_FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6",
                                "uuid"})
"""The string formats Anthropic's strict mode takes (the others are hints, as its SDK's `transform_schema` does)."""
_BY_TYPE = {"object": ("properties", "required", "additionalProperties"), "array": ("items", "minItems"),
            "string": ("format",)}
"""The keywords of a strict node that belong to one of its types (where a list of types is split)."""


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
    schema, problems = strict_schema(flat_root(tool.parameters), anthropic=format == "anthropic")
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



def strict_schema(parameters: Mapping[str, Any], *, anthropic: bool = False) -> tuple[dict[str, Any], list[str]]:
    """OpenAI's strict subset: every object closed, every property required (optional ones nullable),
    unsupported keywords dropped (defaults and length bounds kept as hints in the description).

    Anthropic's (`anthropic=True`) is narrower: no list of types (`anyOf` of each instead), no numeric,
    string or array bounds but `minItems` of 0 or 1, only the string formats it names, all definitions under
    `$defs`, and no recursion. What its SDK's `transform_schema` would still move into a description is moved
    here, as hints, so the schema sent is the one the model reads.

    Free-form objects, untyped values and tuples cannot be strict: they are returned as problems.
    """
    converter = _Strict(parameters, anthropic=anthropic)
    root = converter.node(object_root(parameters), "", root=True)
    for key in ("$defs", "definitions"):
        defs = parameters.get(key)
        if isinstance(defs, Mapping):
            root[key] = {name: converter.node(d, f"/{key}/{name}") for name, d in defs.items()}
    if root.get("type") != "object":
        converter.problems.append("/: the parameters must be an object")
    if anthropic:
        root = _defs_only(root)
        recursive = _recursion(root)
        if recursive is not None:
            converter.problems.append(f"{recursive[1:] or '/'}: a recursive schema cannot be strict for Anthropic")
    return root, converter.problems


def _defs_only(root: dict[str, Any]) -> dict[str, Any]:
    """`root` with its `definitions` moved under `$defs` (a name taken there gets a suffix), references
    following them: Anthropic's strict mode reads `$defs` only."""
    definitions = root.pop("definitions", None)
    if not definitions:
        return root
    defs = root.setdefault("$defs", {})
    moved = {}
    for name, definition in definitions.items():
        new = name
        for number in itertools.count(1):
            if new not in defs:
                break
            new = f"{name}_{number}"
        defs[new] = definition
        moved[f"#/definitions/{_escaped(name)}"] = f"#/$defs/{_escaped(new)}"
    return rebased_references(root, "", moved)


def _escaped(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _recursion(root: Mapping[str, Any]) -> str | None:
    """A reference of `root` that leads back to itself, or None."""
    refs = Refs(root)
    starts = set(_references(root))
    for start in sorted(starts):
        todo, seen = [start], set()
        while todo:
            ref = todo.pop()
            if ref in seen:
                continue
            seen.add(ref)
            for inner in _references(refs.resolve(ref)):
                if inner == start:
                    return start
                todo.append(inner)
    return None


def _references(node: Any) -> list[str]:
    found: list[str] = []
    todo = [node]
    while todo:
        item = todo.pop()
        if isinstance(item, Mapping):
            if isinstance(item.get("$ref"), str):
                found.append(item["$ref"])
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return found


class _Strict:
    def __init__(self, root: Mapping[str, Any], *, anthropic: bool = False) -> None:
        self.refs = Refs(root)
        self.problems: list[str] = []
        self.inlining: list[str] = []
        self.anthropic = anthropic

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
        if self.anthropic:
            out: dict[str, Any] = {k: schema[k] for k in _ANTHROPIC_KEEP if k in schema}
            kinds = schema.get("type")
            strings = kinds == "string" or (isinstance(kinds, list) and "string" in kinds)
            if out.get("format") in _ANTHROPIC_FORMATS and strings:  # a string's format, as its SDK keeps it
                schema = {k: v for k, v in schema.items() if k != "format"}  # kept: not a hint
            else:
                out.pop("format", None)
            if schema.get("minItems") in (0, 1):
                out["minItems"] = schema["minItems"]
                schema = {k: v for k, v in schema.items() if k != "minItems"}
            if not all(value is None or isinstance(value, str | int | float | bool)
                       for value in [*(schema.get("enum") or ()), *(schema.get("const"),)]):
                self.problems.append(f"{where}: an enum or const of objects or arrays cannot be strict for Anthropic")
            if schema.get("enum") == []:
                self.problems.append(f"{where}: an empty enum (no value allowed) cannot be strict for Anthropic")
            description = hint(schema, _ANTHROPIC_HINTED)
        else:
            out = {k: schema[k] for k in _STRICT_KEEP if k in schema}
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
        if "object" in kinds or ("properties" in schema and _may_be(schema, kinds, dict)):
            self._object(schema, out, path, root)
        if "array" in kinds or ("items" in schema and _may_be(schema, kinds, list)):
            self._array(schema, out, path)
        if not ({"type", "anyOf", "enum", "const"} & out.keys()):
            self.problems.append(f"{where}: a value of any type cannot be strict")
        if self.anthropic and ("enum" in out or "const" in out):  # the values say it all, as its SDK writes it
            out.pop("type", None)
            for key in (*_BY_TYPE["object"], *_BY_TYPE["array"]):
                out.pop(key, None)
            if "format" in out:
                out["description"] = hint({**out, "format": out.pop("format")}, ("format",))
        if self.anthropic and isinstance(out.get("type"), list):
            out = _types_split(out)
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
            else _nullable(self.node(prop, f"{path}/properties/{name}"), split=self.anthropic)
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


def _may_be(schema: Mapping[str, Any], kinds: set[str], kind: type) -> bool:
    """Whether a node whose `type` does not say so may still hold a `kind` value: its object or array keywords say
    nothing when its type, `const` or `enum` rule such values out (a string's `properties`, merged from `allOf`)."""
    if kinds:
        return False
    values = schema["enum"] if "enum" in schema else [schema["const"]] if "const" in schema else None
    return not isinstance(values, list) or any(isinstance(value, kind) for value in values)


def _types_split(schema: dict[str, Any]) -> dict[str, Any]:
    """A node whose `type` is a list as one `anyOf` variant per type, each with the keywords of its type."""
    out = dict(schema)
    kinds = out.pop("type")
    if len(kinds) == 1:
        return {**out, "type": kinds[0]}
    variants = []
    for kind in kinds:
        variant = {"type": kind}
        for key in _BY_TYPE.get(kind, ()):
            if key in schema:
                variant[key] = schema[key]
        variants.append(variant)
    for key in {key for keys in _BY_TYPE.values() for key in keys}:
        out.pop(key, None)
    if "anyOf" in out:  # its own variants as well: both must hold
        return {**{k: v for k, v in out.items() if k != "anyOf"}, "allOf": [{"anyOf": out["anyOf"]},
                                                                           {"anyOf": variants}]}
    return {**out, "anyOf": variants}


def _nullable(schema: dict[str, Any], *, split: bool = False) -> dict[str, Any]:
    """`schema` also accepting null (how strict mode says "optional"); with `split`, never as a list of types."""
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
    return _types_split(schema) if split and isinstance(schema.get("type"), list) else schema


# -- Gemini ----------------------------------------------------------------------------------------
