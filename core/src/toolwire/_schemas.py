"""Walking JSON Schemas: local `$ref` resolution, `allOf` folding and a root without variants, shared by the
provider dialects and the handling of incoming arguments."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

__all__ = ["DATA_KEYWORDS", "SCHEMA_MAPS", "Refs", "flat_root", "mapped_references", "merge_all_of"]

DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples", "example"})
"""Keywords whose values are data, not schemas."""
SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
"""Keywords whose values map names (not keywords) to schemas."""

_COMBINATORS = ("allOf", "anyOf", "oneOf")
_MAX_DEPTH = 8
"""How deep variants of variants are followed (and references into them inlined) when a root is flattened."""


class Refs:
    """Local `$ref` resolution against one root schema."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def resolve(self, ref: Any) -> Mapping[str, Any] | None:
        if not isinstance(ref, str) or not ref.startswith("#"):
            return None
        node: Any = self.root
        for part in unquote(ref[1:]).lstrip("/").split("/") if ref != "#" else ():
            key = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list) and key.isdigit() and int(key) < len(node):  # `#/properties/a/anyOf/0`
                node = node[int(key)]
            elif isinstance(node, Mapping) and key in node:
                node = node[key]
            else:
                return None
        return node if isinstance(node, Mapping) else None


def merge_all_of(schema: Mapping[str, Any]) -> dict[str, Any]:
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


def flat_root(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """`parameters` without `allOf`, `anyOf` or `oneOf` at the root, which Anthropic refuses (and OpenAI's strict
    mode): one such tool fails every request that lists it. `allOf` parts are merged into the root; every
    variant's properties are offered there (one declared differently by several variants takes any of their
    schemas), required only where the root or every variant requires it; the variants stay in the root's
    description, their properties named, so the model still reads the rule. References into the variants are
    inlined. toolwire validates calls against the tool's own schema, so a call that breaks the rule still gets
    an `invalid_arguments` error saying how."""
    if not any(key in parameters for key in _COMBINATORS):
        return dict(parameters)
    refs = Refs(parameters)
    properties, required, rules = _offered(parameters, refs, 0)
    root = {key: value for key, value in parameters.items() if key not in _COMBINATORS}
    root["type"] = "object"
    root["properties"] = properties
    root["required"] = required
    if not required:
        del root["required"]
    if rules:
        rule = "; ".join(rules)
        root["description"] = f"{root['description']} ({rule})" if root.get("description") else f"({rule})"
    return _inlined(root, refs, 0)


def _followed(schema: Any, refs: Refs) -> Any:
    for _ in range(32):  # a chain of $refs, not a cycle
        if not isinstance(schema, Mapping) or "$ref" not in schema:
            break
        schema = refs.resolve(schema["$ref"]) or {}
    return schema


def _offered(schema: Any, refs: Refs, depth: int) -> tuple[dict[str, Any], list[str], list[str]]:
    """The properties a schema and its variants offer, those every way of meeting it requires, and its rules."""
    schema = _followed(schema, refs)
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
        return {}, [], []
    if isinstance(schema.get("allOf"), list):
        schema = merge_all_of({**schema, "allOf": [_followed(part, refs) for part in schema["allOf"]]})
    own = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else {}
    properties = dict(own)
    required = [name for name in schema.get("required") or () if isinstance(name, str)]
    rules: list[str] = []
    combined: set[str] = set()
    for key in ("anyOf", "oneOf"):
        variants = schema.get(key)
        if not isinstance(variants, list) or not variants:
            continue
        offered = [_offered(variant, refs, depth + 1) for variant in variants]
        for variant_properties, _, _ in offered:
            for name, prop in variant_properties.items():
                if name in own:
                    continue
                prop = _inlined(prop, refs, depth)  # so that a reference to another variant's property is that one
                if name not in properties:
                    properties[name] = prop
                elif name in combined:
                    if prop not in properties[name]["anyOf"]:
                        properties[name]["anyOf"].append(prop)
                elif properties[name] != prop:
                    properties[name] = {"anyOf": [properties[name], prop]}
                    combined.add(name)
        everywhere = [name for name in offered[0][1] if all(name in other[1] for other in offered[1:])]
        required += [name for name in everywhere if name not in required]
        kind = "exactly one" if key == "oneOf" else "at least one"
        rules.append(f"the arguments must match {kind} of these: "
                     f"{json.dumps([_named(variant, refs, depth + 1) for variant in variants], default=str)}")
    return properties, required, rules


def _named(schema: Any, refs: Refs, depth: int) -> Any:
    """A variant as its rule reads: its properties named only (they are at the root), its own variants likewise."""
    schema = _followed(schema, refs)
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
        return schema
    named = {key: value for key, value in schema.items()
             if key not in ("description", "title", "$defs", "definitions") and (key, value) != ("type", "object")}
    if isinstance(named.get("properties"), Mapping):
        named["properties"] = list(named["properties"])
    for key in _COMBINATORS:
        if isinstance(named.get(key), list):
            named[key] = [_named(part, refs, depth + 1) for part in named[key]]
    return named


def _inlined(node: Any, refs: Refs, depth: int) -> Any:
    """`node` with each reference into the root's variants (which are gone) replaced by what it points at."""

    def inline(ref: Any, rest: dict[str, Any]) -> Any:
        if not (isinstance(ref, str) and ref.split("/")[1:2] and ref.split("/")[1] in _COMBINATORS):
            return {"$ref": ref, **rest}
        target = refs.resolve(ref)
        if target is None or depth >= _MAX_DEPTH:
            return rest  # nowhere to point: any value
        return _inlined({**target, **rest}, refs, depth + 1)

    return mapped_references(node, inline)


def mapped_references(node: Any, rewrite: Callable[[Any, dict[str, Any]], Any], *, names: bool = False) -> Any:
    """`node` (a schema, or any part of one; `names` for a map of names to schemas, such as `properties`) with
    each schema object holding a `$ref` replaced by `rewrite(ref, rest)`, `rest` being its other keywords,
    themselves mapped first. Data (`enum`, `default`...) and the names `properties` and `$defs` map are left as
    they are, so a property named `$ref` is not taken for a reference."""
    if isinstance(node, list):
        return [mapped_references(item, rewrite) for item in node]
    if not isinstance(node, Mapping):
        return node
    if names:
        return {name: mapped_references(sub, rewrite) for name, sub in node.items()}
    rest = {key: value if key in DATA_KEYWORDS else mapped_references(value, rewrite, names=key in SCHEMA_MAPS)
            for key, value in node.items() if key != "$ref"}
    return rewrite(node["$ref"], rest) if "$ref" in node else rest
