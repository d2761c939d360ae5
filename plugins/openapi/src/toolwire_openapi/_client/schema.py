"""OpenAPI schema objects turned into self-contained JSON Schema (2020-12) for tool parameters.

Refs are inlined (a cycle is cut where it recurs), `allOf` is merged, `oneOf`/`anyOf` are kept, 3.0
`nullable` and Swagger `x-nullable` become `"null"` in a type list, Swagger `type: file` becomes a binary
string, 3.0 boolean `exclusiveMinimum`/`exclusiveMaximum` become numbers, `readOnly` properties are
dropped (they are never sent), and OpenAPI-only keywords (`discriminator`, `xml`, `example`, `x-*`...)
are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from toolwire_openapi._client.document import Location, SpecError

__all__ = ["normalize"]

_SINGLE = ("items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else",
           "unevaluatedProperties", "unevaluatedItems", "contentSchema")
_MANY = ("allOf", "anyOf", "oneOf", "prefixItems")
_MAPS = ("properties", "patternProperties", "dependentSchemas")
_DROPPED = frozenset({
    "$ref",  # only an empty one gets here: `$ref: #/...` unquoted in YAML is a comment, so null
    "$id", "$anchor", "$dynamicAnchor", "$dynamicRef", "$schema", "$comment", "$defs", "definitions",
    "discriminator", "xml", "externalDocs", "example", "examples", "readOnly", "writeOnly", "nullable",
    "x-nullable", "$vocabulary", "collectionFormat",
})


def normalize(schema: Any, where: Location, *, _seen: tuple[int, ...] = ()) -> dict[str, Any]:
    """`schema` (found at `where`) as a self-contained JSON Schema for what a request may carry."""
    if isinstance(schema, bool):
        return {} if schema else {"not": {}}
    if not isinstance(schema, Mapping):
        raise SpecError(f"{where}: a schema is an object, got {type(schema).__name__}")
    if schema.get("$ref") is not None:
        return _referenced(schema, where, _seen)
    where = where.entering(schema)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED or key.startswith("x-"):
            continue
        if key in _MAPS and isinstance(value, Mapping):
            out[key] = _properties(key, value, where, _seen)
        elif key in _SINGLE and isinstance(value, Mapping | bool):
            out[key] = normalize(value, where.child(key), _seen=_seen)
        elif key in _MANY and isinstance(value, list):
            out[key] = [normalize(v, where.child(key, i), _seen=_seen) for i, v in enumerate(value)]
        else:
            out[key] = value
    if "allOf" in out:
        out = _merge([*out.pop("allOf"), out])
    _dialect_fixes(schema, out)
    if "properties" in out and "type" not in out:
        out["type"] = "object"
    if "required" in out and isinstance(out.get("properties"), dict):
        writable = out["properties"]
        read_only = {k for k, v in (schema.get("properties") or {}).items() if _read_only(v, where)}
        out["required"] = [r for r in out["required"] if r in writable or r not in read_only]
        if not out["required"]:
            del out["required"]
    return out


def _referenced(schema: Mapping[str, Any], where: Location, seen: tuple[int, ...]) -> dict[str, Any]:
    target, target_where = where.follow(schema["$ref"])
    if id(target) in seen:
        kind = target.get("type") if isinstance(target, Mapping) else None
        cut: dict[str, Any] = {"type": kind} if isinstance(kind, str) else {}
        cut["description"] = f"A recursive {schema['$ref']} (not described further)."
        return cut
    resolved = normalize(target, target_where, _seen=(*seen, id(target)))
    siblings = {k: v for k, v in schema.items() if k != "$ref"}
    if siblings:  # 3.1 allows keywords beside $ref; they refine the referenced schema
        resolved = {**resolved, **normalize(siblings, where, _seen=seen)}
    return resolved


def _properties(key: str, value: Mapping[str, Any], where: Location, seen: tuple[int, ...]) -> dict[str, Any]:
    out = {}
    for name, sub in value.items():
        if key == "properties" and _read_only(sub, where.child(key, name)):
            continue
        out[str(name)] = normalize(sub, where.child(key, name), _seen=seen)
    return out


def _read_only(schema: Any, where: Location) -> bool:
    if isinstance(schema, Mapping) and "$ref" in schema and "readOnly" not in schema:
        try:
            schema, _ = where.follow(schema["$ref"])
        except SpecError:
            return False
    return isinstance(schema, Mapping) and schema.get("readOnly") is True


def _dialect_fixes(schema: Mapping[str, Any], out: dict[str, Any]) -> None:
    if out.get("type") == "file":
        out["type"] = "string"
        out["format"] = "binary"
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), bool) and out.pop(bound) and limit in out:
            out[bound] = out.pop(limit)
    if isinstance(out.get("type"), list) and len(out["type"]) == 1:
        out["type"] = out["type"][0]
    if schema.get("nullable") is True or schema.get("x-nullable") is True:
        _add_null(out)


def _add_null(out: dict[str, Any]) -> None:
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
    elif isinstance(kind, list):
        out["type"] = kind if "null" in kind else [*kind, "null"]
    else:
        for choice in ("anyOf", "oneOf"):
            if isinstance(out.get(choice), list):
                out[choice] = [*out[choice], {"type": "null"}]
                break
    if isinstance(out.get("enum"), list) and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """`allOf` members (then the schema's own keywords) as one schema; later scalars win."""
    merged: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if key == "properties":
                merged.setdefault("properties", {}).update(value)
            elif key == "required":
                merged["required"] = list(dict.fromkeys([*merged.get("required", []), *value]))
            elif key in ("anyOf", "oneOf") and key in merged:
                merged.setdefault("allOf", []).append({key: value})
            elif key == "type" and "type" in merged and merged["type"] != value:
                merged["type"] = _intersect(merged["type"], value)
            else:
                merged[key] = value
    if "properties" in merged and "type" not in merged:
        merged["type"] = "object"
    return merged


def _intersect(a: str | list[str], b: str | list[str]) -> str | list[str]:
    left, right = ([a] if isinstance(a, str) else a), ([b] if isinstance(b, str) else b)
    both = [t for t in left if t in right] or left
    return both[0] if len(both) == 1 else both
