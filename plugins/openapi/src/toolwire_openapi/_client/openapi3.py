"""How an OpenAPI 3.x document describes an operation: its server, its parameters' schemas and styles, and
its request body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from toolwire_openapi._client.arguments import Argument, BodyFound, choose_media, file_fields
from toolwire_openapi._client.document import Location, SpecError
from toolwire_openapi._client.schema import normalize

__all__ = ["OpenAPI3"]


class OpenAPI3:
    """The OpenAPI 3.0 and 3.1 reading of an operation (`operations` builds tools with it)."""

    name = "OpenAPI 3.x"
    places = ("path", "query", "header", "cookie")

    def server(self, contents: Mapping[str, Any], uri: str, item: Mapping[str, Any], raw: Mapping[str, Any],
               variables: Mapping[str, str]) -> str:
        """The operation's server URL, its variables filled in (relative when the spec names it so)."""
        servers = raw.get("servers") or item.get("servers") or contents.get("servers") or [{"url": "/"}]
        server: Mapping[str, Any] = servers[0] if isinstance(servers[0], Mapping) else {"url": str(servers[0])}
        url = str(server.get("url", "/"))
        for name, variable in (server.get("variables") or {}).items():
            value = variables.get(name, variable.get("default", "") if isinstance(variable, Mapping) else "")
            url = url.replace("{" + name + "}", str(value))
        return url

    def schema(self, raw: Mapping[str, Any], place: str, where: Location) -> tuple[dict[str, Any], bool]:
        """A parameter's schema, and whether its value is sent as JSON (`content` with a JSON media type)."""
        if "schema" in raw:
            return normalize(raw["schema"], where.child("schema")), False
        if isinstance(raw.get("content"), Mapping) and raw["content"]:
            media, spec = next(iter(raw["content"].items()))
            return normalize((spec or {}).get("schema", {}), where.child("content", media, "schema")), "json" in media
        return {}, False

    def style(self, raw: Mapping[str, Any], place: str, schema: Mapping[str, Any]) -> tuple[str, bool]:
        """A parameter's serialisation style and whether it explodes (the defaults of its place)."""
        style = str(raw.get("style") or ("form" if place in ("query", "cookie") else "simple"))
        return style, bool(raw.get("explode", style == "form"))

    def body(self, arguments: list[Argument], raw: Mapping[str, Any], contents: Mapping[str, Any],
             where: Location) -> BodyFound | None:
        """The operation's `requestBody`, in the media type toolwire sends."""
        request_body = raw.get("requestBody")
        if request_body is None:
            return None
        body_where = where.child("requestBody")
        request_body, body_where = body_where.resolve(request_body)
        if not isinstance(request_body, Mapping):
            raise SpecError(f"{body_where}: a request body is an object")
        content = request_body.get("content") or {}
        if not isinstance(content, Mapping) or not content:
            return None
        media = choose_media(content)
        spec = content[media] or {}
        schema = normalize(spec.get("schema", {}), body_where.child("content", media, "schema"))
        files = file_fields(schema) if media.startswith("multipart/") else frozenset()
        description = str(request_body.get("description") or "").strip()
        return media, schema, bool(request_body.get("required", False)), files, description
