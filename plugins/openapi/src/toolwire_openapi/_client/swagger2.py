"""How a Swagger 2.0 document describes an operation: its server (`host`, `basePath`, `schemes`), its
parameters (schema keywords on the parameter itself, `collectionFormat`s) and its body (a `body`
parameter, or `formData` parameters)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from toolwire_openapi._client.arguments import Argument, BodyFound, choose_media
from toolwire_openapi._client.document import Location
from toolwire_openapi._client.schema import normalize

__all__ = ["Swagger2"]

_SCHEMA_KEYS = frozenset({
    "type", "format", "items", "enum", "default", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "minLength", "maxLength", "pattern", "minItems", "maxItems", "uniqueItems",
    "multipleOf", "x-nullable",
})
_COLLECTION_FORMATS = {
    "csv": ("form", False), "ssv": ("spaceDelimited", False), "tsv": ("tabDelimited", False),
    "pipes": ("pipeDelimited", False), "multi": ("form", True),
}


class Swagger2:
    """The Swagger 2.0 reading of an operation (`operations` builds tools with it)."""

    name = "Swagger 2.0"
    places = ("path", "query", "header", "cookie", "body", "formData")

    def server(self, contents: Mapping[str, Any], uri: str, item: Mapping[str, Any], raw: Mapping[str, Any],
               variables: Mapping[str, str]) -> str:
        """`scheme://host/basePath`; without a `host`, the host that served the spec (or `basePath` alone,
        relative, for a spec that was not served)."""
        spec_url = urlsplit(uri) if uri.startswith(("http://", "https://")) else None
        host = contents.get("host") or (spec_url.netloc if spec_url else None)
        if not host:
            return str(contents.get("basePath") or "/")
        offered = [str(s) for s in contents.get("schemes") or ()]
        preferred = [spec_url.scheme] if spec_url else []
        scheme = next((s for s in [*preferred, "https", "http"] if s in offered), offered[0] if offered else None)
        scheme = scheme or (spec_url.scheme if spec_url else "https")
        return f"{scheme}://{host}{contents.get('basePath') or ''}"

    def schema(self, raw: Mapping[str, Any], place: str, where: Location) -> tuple[dict[str, Any], bool]:
        """A parameter's schema: a `body` parameter's `schema`, or the schema keywords beside the others' names."""
        if place == "body":
            return normalize(raw.get("schema", {}), where.child("schema")), False
        return normalize({k: v for k, v in raw.items() if k in _SCHEMA_KEYS}, where), False

    def style(self, raw: Mapping[str, Any], place: str, schema: Mapping[str, Any]) -> tuple[str, bool]:
        """The OpenAPI 3 style its `collectionFormat` (default `csv`) stands for."""
        style, explode = _COLLECTION_FORMATS.get(str(raw.get("collectionFormat", "csv")), ("form", False))
        if place in ("path", "header"):
            style = "simple"
        return style, explode if schema.get("type") == "array" else True

    def body(self, arguments: list[Argument], raw: Mapping[str, Any], contents: Mapping[str, Any],
             where: Location) -> BodyFound | None:
        """The body its `body` or `formData` parameters make; takes them out of `arguments`."""
        consumes = [str(m) for m in raw.get("consumes") or contents.get("consumes") or ()]
        body = next((a for a in arguments if a.place == "body"), None)
        form = [a for a in arguments if a.place == "formData"]
        arguments[:] = [a for a in arguments if a.place not in ("body", "formData")]
        if body is not None:
            media = choose_media(consumes) if consumes else "application/json"
            if media.startswith(("multipart/", "application/x-www-form")):
                media = "application/json"
            description = str(body.schema.get("description") or "")
            return media, body.schema, body.required, frozenset(), description
        if not form:
            return None
        files = frozenset(a.name for a in form if a.schema.get("format") == "binary")
        if files or ("multipart/form-data" in consumes and "application/x-www-form-urlencoded" not in consumes):
            media = "multipart/form-data"
        else:
            media = "application/x-www-form-urlencoded"
        schema: dict[str, Any] = {"type": "object", "properties": {a.name: a.schema for a in form}}
        required = [a.name for a in form if a.required]
        if required:
            schema["required"] = required
        return media, schema, bool(required), files, ""
