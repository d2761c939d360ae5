"""Walking JSON Schemas: local `$ref` resolution and `allOf` folding, shared by the provider dialects and
the handling of incoming arguments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["Refs", "merge_all_of"]


class Refs:
    """Local `$ref` resolution against one root schema."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def resolve(self, ref: Any) -> Mapping[str, Any] | None:
        if not isinstance(ref, str) or not ref.startswith("#"):
            return None
        node: Any = self.root
        for part in ref[1:].lstrip("/").split("/") if ref != "#" else ():
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
