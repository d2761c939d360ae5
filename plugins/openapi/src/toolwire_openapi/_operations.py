"""A spec's operations as tools: names, parameter schemas, argument placements and servers.

Schema layout: every path, query, header and cookie parameter is a top-level argument under its own
name, and so is every field of an object request body (JSON, form or multipart); any other body is one
argument, `body`. When two places share a name (a path `id` and a body `id`), each of the clashing
arguments is prefixed with its place (`path_id`, `body_id`) and its description says where it goes.
Names are made valid property names for every provider (`^[a-zA-Z0-9_.-]{1,64}$`).
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urljoin, urlsplit

from toolwire import Annotations, Tool, ToolSource, safe_name

from toolwire_openapi._auth import schemes_from
from toolwire_openapi._document import Document, Location, SpecError
from toolwire_openapi._exchange import Invoker, Service
from toolwire_openapi._request import Body, Operation, Param
from toolwire_openapi._schema import normalize

__all__ = ["METHODS", "Selection", "build_tools"]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_PARAM_PLACES = ("path", "query", "header", "cookie")
_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})
_SWAGGER_SCHEMA_KEYS = frozenset({
    "type", "format", "items", "enum", "default", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "minLength", "maxLength", "pattern", "minItems", "maxItems", "uniqueItems",
    "multipleOf", "x-nullable",
})
_COLLECTION_FORMATS = {
    "csv": ("form", False), "ssv": ("spaceDelimited", False), "tsv": ("tabDelimited", False),
    "pipes": ("pipeDelimited", False), "multi": ("form", True),
}
_KEY_INVALID = re.compile(r"[^a-zA-Z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class Selection:
    """Which operations become tools: globs on operationId and path, tags, methods (None = all)."""

    operations: tuple[str, ...] | None = None
    exclude_operations: tuple[str, ...] = ()
    tags: tuple[str, ...] | None = None
    exclude_tags: tuple[str, ...] = ()
    paths: tuple[str, ...] | None = None
    exclude_paths: tuple[str, ...] = ()
    methods: tuple[str, ...] | None = None

    def accepts(self, operation_id: str, tags: Iterable[str], path: str, method: str) -> bool:
        tags = list(tags)
        return (
            _matches(operation_id, self.operations, True) and not _matches(operation_id, self.exclude_operations)
            and (self.tags is None or any(tag in self.tags for tag in tags))
            and not any(tag in self.exclude_tags for tag in tags)
            and _matches(path, self.paths, True) and not _matches(path, self.exclude_paths)
            and (self.methods is None or method in self.methods)
        )


def _matches(value: str, patterns: tuple[str, ...] | None, default: bool = False) -> bool:
    if patterns is None:
        return default
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


@dataclass(slots=True)
class _Argument:
    """One argument before naming: where it goes, its wire name, schema and whether it is required."""

    place: str  # path, query, header, cookie, body (a field) or payload (the whole body)
    name: str
    schema: dict[str, Any]
    required: bool
    param: Param | None = None
    key: str = ""


def build_tools(
    document: Document, *, selection: Selection, base_url: str | None, server_variables: Mapping[str, str],
    service: Mapping[str, Any], invoker: type[Invoker],
) -> list[Tool]:
    """One tool per selected operation of `document`."""
    contents, root = document.contents, document.root
    swagger = _version(contents, root)
    paths = contents.get("paths")
    if paths is None:
        return []
    if not isinstance(paths, Mapping):
        raise SpecError(f"{root.child('paths')}: 'paths' is an object")
    schemes = schemes_from(contents, document.uri)
    default_security = _security(contents.get("security"))
    services: dict[str | None, Service] = {}
    tools: list[Tool] = []
    names: set[str] = set()
    for path, item in paths.items():
        item_where = root.child("paths", path)
        item, item_where = item_where.resolve(item)
        if not isinstance(item, Mapping):
            raise SpecError(f"{item_where}: a path item is an object")
        for method in METHODS:
            if method not in item:
                continue
            where = item_where.child(method)
            raw = item[method]
            if not isinstance(raw, Mapping):
                raise SpecError(f"{where}: an operation is an object")
            if raw.get("x-toolwire-tool") is False:  # an endpoint of toolwire's own server, not a tool
                continue
            operation_id = str(raw.get("operationId") or "")
            tags = [str(tag) for tag in raw.get("tags") or ()]
            if not selection.accepts(operation_id, tags, str(path), method):
                continue
            url = base_url or _server(contents, document.uri, item, raw, swagger, server_variables)
            if url not in services:
                services[url] = Service(url.rstrip("/") if url else None, schemes, **service)
            security = _security(raw["security"]) if "security" in raw else default_security
            tool = _tool(str(path), method, raw, item, item_where, where, swagger, contents, security,
                         services[url], names, invoker)
            tools.append(tool)
    return tools


def _version(contents: Mapping[str, Any], root: Location) -> bool:
    """Whether the document is Swagger 2.0 (else OpenAPI 3.x); anything else is a `SpecError`."""
    if str(contents.get("swagger", "")).startswith("2"):
        return True
    if str(contents.get("openapi", "")).startswith("3"):
        return False
    found = contents.get("openapi", contents.get("swagger"))
    raise SpecError(f"{root.child('openapi')}: not OpenAPI 3.x or Swagger 2.0 (found {found!r})")


def _security(raw: Any) -> tuple[tuple[str, ...], ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(tuple(requirement) for requirement in raw if isinstance(requirement, Mapping))


def _server(contents: Mapping[str, Any], uri: str, item: Mapping[str, Any], raw: Mapping[str, Any],
            swagger: bool, variables: Mapping[str, str]) -> str | None:
    remote = uri.startswith(("http://", "https://"))
    if swagger:
        spec_url = urlsplit(uri) if remote else None
        host = contents.get("host") or (spec_url.netloc if spec_url else None)
        if not host:
            return None
        offered = [str(s) for s in contents.get("schemes") or ()]
        preferred = [spec_url.scheme] if spec_url else []
        scheme = next((s for s in [*preferred, "https", "http"] if s in offered), offered[0] if offered else None)
        scheme = scheme or (spec_url.scheme if spec_url else "https")
        return f"{scheme}://{host}{contents.get('basePath') or ''}"
    servers = raw.get("servers") or item.get("servers") or contents.get("servers") or [{"url": "/"}]
    server = servers[0] if isinstance(servers[0], Mapping) else {"url": str(servers[0])}
    url = str(server.get("url", "/"))
    for name, variable in (server.get("variables") or {}).items():
        value = variables.get(name, variable.get("default", "") if isinstance(variable, Mapping) else "")
        url = url.replace("{" + name + "}", str(value))
    if url.startswith(("http://", "https://")):
        return url
    return urljoin(uri, url) if remote else None


def _tool(path: str, method: str, raw: Mapping[str, Any], item: Mapping[str, Any], item_where: Location,
          where: Location, swagger: bool, contents: Mapping[str, Any],
          security: tuple[tuple[str, ...], ...], service: Service, names: set[str],
          invoker: type[Invoker]) -> Tool:
    arguments = _parameters(item, item_where, raw, where, swagger)
    body = (_swagger_body(arguments, raw, contents, where) if swagger else _body(raw, where))
    if body is not None:
        media, schema, required, files, description = body
        arguments = [a for a in arguments if a.place != "formData"]
        arguments.extend(_body_arguments(media, schema, required, description))
    else:
        media, files = "", frozenset()
    _name_arguments(arguments)
    properties = {a.key: a.schema for a in arguments}
    required = [a.key for a in arguments if a.required]
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    parameters["additionalProperties"] = False
    params = tuple(a.param for a in arguments if a.param is not None)
    request_body = None
    if body is not None:
        payload = next((a.key for a in arguments if a.place == "payload"), None)
        fields = tuple((a.key, a.name) for a in arguments if a.place == "body")
        request_body = Body(media, payload, fields, files)
    operation = Operation(method.upper(), path, params, request_body, security)
    return Tool(
        name=_unique(safe_name(str(raw.get("operationId") or f"{method}_{path.strip('/')}")), names),
        description=_description(raw, method, path),
        parameters=parameters,
        invoker=invoker(operation, service),
        annotations=_annotations(method),
        tags=frozenset(str(tag) for tag in raw.get("tags") or ()),
        source=ToolSource("openapi", f"{method.upper()} {path}"),
    )


def _unique(name: str, names: set[str]) -> str:
    candidate, n = name, 1
    while candidate in names:
        n += 1
        suffix = f"_{n}"
        candidate = name[: 64 - len(suffix)] + suffix
    names.add(candidate)
    return candidate


def _description(raw: Mapping[str, Any], method: str, path: str) -> str:
    parts = [str(raw[k]).strip() for k in ("summary", "description") if raw.get(k)]
    if len(parts) == 2 and parts[1].startswith(parts[0]):
        parts = parts[1:]
    text = "\n\n".join(parts) or f"{method.upper()} {path}"
    return f"(Deprecated) {text}" if raw.get("deprecated") else text


def _annotations(method: str) -> Annotations:
    read_only = method in ("get", "head", "options", "trace")
    return Annotations(
        read_only=read_only, destructive=method == "delete", idempotent=read_only or method in ("put", "delete"),
        open_world=True,
    )


def _parameters(item: Mapping[str, Any], item_where: Location, raw: Mapping[str, Any], where: Location,
                swagger: bool) -> list[_Argument]:
    """The operation's parameters, path-level ones first, an operation-level one replacing its namesake."""
    found: dict[tuple[str, str], _Argument] = {}
    for holder, holder_where in ((item, item_where), (raw, where)):
        listed = holder.get("parameters") or []
        if not isinstance(listed, list):
            raise SpecError(f"{holder_where.child('parameters')}: 'parameters' is an array")
        for index, param in enumerate(listed):
            argument = _parameter(param, holder_where.child("parameters", index), swagger)
            if argument is not None:
                found[(argument.place, argument.name)] = argument
    return list(found.values())


def _parameter(raw: Any, where: Location, swagger: bool) -> _Argument | None:
    raw, where = where.resolve(raw)
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where}: a parameter is an object")
    name, place = raw.get("name"), raw.get("in")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{where}: a parameter needs a 'name'")
    if place not in (*_PARAM_PLACES, "body", "formData") or (place in ("body", "formData") and not swagger):
        raise SpecError(f"{where}: parameter '{name}' has 'in: {place}' (expected path, query, header or cookie)")
    if place == "header" and name.lower() in _IGNORED_HEADERS:
        return None
    as_json = False
    if place == "body":
        schema = normalize(raw.get("schema", {}), where.child("schema"))
    elif swagger:
        schema = normalize({k: v for k, v in raw.items() if k in _SWAGGER_SCHEMA_KEYS}, where)
    elif "schema" in raw:
        schema = normalize(raw["schema"], where.child("schema"))
    elif isinstance(raw.get("content"), Mapping) and raw["content"]:
        media, spec = next(iter(raw["content"].items()))
        schema = normalize((spec or {}).get("schema", {}), where.child("content", media, "schema"))
        as_json = "json" in media
    else:
        schema = {}
    schema = _described(schema, raw)
    if swagger:
        style, explode = _COLLECTION_FORMATS.get(str(raw.get("collectionFormat", "csv")), ("form", False))
        if place in ("path", "header"):
            style = "simple"
        explode = explode if schema.get("type") == "array" else True
    else:
        style = str(raw.get("style") or ("form" if place in ("query", "cookie") else "simple"))
        explode = bool(raw.get("explode", style == "form"))
    required = place == "path" or bool(raw.get("required", False))
    param = Param("", name, place, style, explode, bool(raw.get("allowReserved", False)), as_json)
    return _Argument(place, name, schema, required, param if place in _PARAM_PLACES else None)


def _described(schema: dict[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    if raw.get("description"):
        schema = {**schema, "description": str(raw["description"]).strip()}
    if raw.get("deprecated"):
        schema = {**schema, "deprecated": True}
    return schema


_MEDIA_PREFERENCE = ("json", "application/x-www-form-urlencoded", "multipart/form-data", "text/plain")


def _choose_media(offered: Iterable[str]) -> str:
    offered = [str(m) for m in offered]
    for wanted in _MEDIA_PREFERENCE:
        for media in offered:
            if (wanted == "json" and (media == "application/json" or media.endswith("+json"))) or media == wanted:
                return media
    for media in offered:
        if "json" in media:
            return media
    return offered[0]


_BodyFound = tuple[str, dict[str, Any], bool, frozenset[str], str]


def _body(raw: Mapping[str, Any], where: Location) -> _BodyFound | None:
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
    media = _choose_media(content)
    spec = content[media] or {}
    schema = normalize(spec.get("schema", {}), body_where.child("content", media, "schema"))
    files = _file_fields(schema) if media.startswith("multipart/") else frozenset()
    description = str(request_body.get("description") or "").strip()
    return media, schema, bool(request_body.get("required", False)), files, description


def _swagger_body(arguments: list[_Argument], raw: Mapping[str, Any], contents: Mapping[str, Any],
                  where: Location) -> _BodyFound | None:
    consumes = [str(m) for m in raw.get("consumes") or contents.get("consumes") or ()]
    body = next((a for a in arguments if a.place == "body"), None)
    if body is not None:
        arguments.remove(body)
        media = _choose_media(consumes) if consumes else "application/json"
        if media.startswith(("multipart/", "application/x-www-form")):
            media = "application/json"
        description = str(body.schema.get("description") or "")
        return media, body.schema, body.required, frozenset(), description
    form = [a for a in arguments if a.place == "formData"]
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


def _file_fields(schema: Mapping[str, Any]) -> frozenset[str]:
    def binary(prop: Any) -> bool:
        if not isinstance(prop, Mapping):
            return False
        if prop.get("type") == "array":
            return binary(prop.get("items"))
        return prop.get("format") in ("binary", "base64") or "contentMediaType" in prop

    return frozenset(name for name, prop in (schema.get("properties") or {}).items() if binary(prop))


def _body_arguments(media: str, schema: dict[str, Any], required: bool, description: str) -> list[_Argument]:
    if not _flattenable(media, schema):
        if description:
            schema = {**schema, "description": description}
        return [_Argument("payload", "body", schema, required)]
    needed = set(schema.get("required") or ()) if required else set()
    return [_Argument("body", str(name), sub, name in needed) for name, sub in schema["properties"].items()]


_NOTHING: dict[str, Any] = {"not": {}}
"""`additionalProperties: false` as `normalize` leaves it."""


def _flattenable(media: str, schema: Mapping[str, Any]) -> bool:
    """Whether the body's fields can be arguments: an object with known fields, in a media type with fields."""
    properties = schema.get("properties")
    return (
        isinstance(properties, Mapping) and bool(properties)
        and schema.get("type", "object") == "object"
        and schema.get("additionalProperties", False) in (False, _NOTHING)
        and not any(k in schema for k in ("oneOf", "anyOf", "not"))
        and ("json" in media or media.startswith(("multipart/", "application/x-www-form-urlencoded")))
    )


def _name_arguments(arguments: list[_Argument]) -> None:
    """Give each argument its key: its name made safe, prefixed with its place where names clash."""
    bases = [_key(a.name) for a in arguments]
    taken: set[str] = set()
    for argument, base in zip(arguments, bases, strict=True):
        key = base
        if bases.count(base) > 1:
            place = "body" if argument.place == "payload" else argument.place
            key = _key(f"{place}_{argument.name}")
            where = "field" if place == "body" else "parameter"
            note = f"The {place} {where} '{argument.name}'."
            text = argument.schema.get("description")
            argument.schema = {**argument.schema, "description": f"{note} {text}" if text else note}
        candidate, n = key, 1
        while candidate in taken:
            n += 1
            candidate = f"{key[:60]}_{n}"
        taken.add(candidate)
        argument.key = candidate
        if argument.param is not None:
            argument.param = replace(argument.param, key=candidate)


def _key(name: str) -> str:
    key = _KEY_INVALID.sub("_", name).strip("_") or "arg"
    if len(key) > 64 or (key != name and len(key) > 55):
        key = f"{key[:55]}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return key
