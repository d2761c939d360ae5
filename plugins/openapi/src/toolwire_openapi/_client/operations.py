"""A spec's operations as tools: one tool per selected operation, its server, arguments, name and annotations.

What differs between OpenAPI 3.x and Swagger 2.0 (servers, parameter schemas and styles, bodies) is read
by `openapi3.OpenAPI3` or `swagger2.Swagger2`; how arguments are named is `arguments`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

from toolwire import Annotations, Tool, ToolSource, safe_name
from toolwire.formats import schema_problem

from toolwire_openapi._client.arguments import Argument, body_arguments, described, name_arguments
from toolwire_openapi._client.auth import schemes_from
from toolwire_openapi._client.document import MALFORMED, Document, Location, SpecError
from toolwire_openapi._client.exchange import Invoker, Service
from toolwire_openapi._client.openapi3 import OpenAPI3
from toolwire_openapi._client.origins import Origins
from toolwire_openapi._client.request import Body, Operation, Param
from toolwire_openapi._client.selection import METHODS, Selection
from toolwire_openapi._client.swagger2 import Swagger2

__all__ = ["build_tools"]

log = logging.getLogger("toolwire.openapi")

_PARAM_PLACES = ("path", "query", "header", "cookie")
_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})

Version = OpenAPI3 | Swagger2


def build_tools(
    document: Document, *, selection: Selection, base_url: str | None, server_variables: Mapping[str, str],
    service: Mapping[str, Any], invoker: type[Invoker], origins: Origins,
) -> list[Tool]:
    """One tool per selected operation of `document`; `auth` and `headers` (in `service`) go to the servers
    `origins` allows.

    Raises `SpecError` for an operation whose server URL is relative when there is nothing to resolve it
    against (no `base_url`, a spec not read from a URL), and `ValueError` when filters leave no operation.
    """
    contents, root = document.contents, document.root
    version = _version(contents, root)
    paths = contents.get("paths")
    if paths is None:
        return []
    if not isinstance(paths, Mapping):
        raise SpecError(f"{root.child('paths')}: 'paths' is an object")
    try:
        schemes = schemes_from(contents, document.uri)
    except SpecError:
        raise
    except MALFORMED as exc:
        where = root.child("securityDefinitions") if "securityDefinitions" in contents else root.child(
            "components", "securitySchemes")
        raise SpecError(f"{where}: cannot read the security schemes ({type(exc).__name__}: {exc})") from None
    default_security = _security(contents.get("security"))
    services: dict[str, Service] = {}
    tools: list[Tool] = []
    names: set[str] = set()
    seen: list[tuple[str, list[str]]] = []
    unresolved: SpecError | None = None
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
            try:
                operation_id = str(raw.get("operationId") or "")
                tags = [str(tag) for tag in _listed(raw.get("tags"))]
                seen.append((operation_id or f"{method.upper()} {path}", tags))
                if not selection.accepts(operation_id, tags, str(path), method):
                    continue
                url = base_url or _server_url(version, document, item, raw, where, server_variables)
                if isinstance(url, SpecError):  # raised once the operations are known to be sound
                    unresolved, url = unresolved or url, ""
                if url not in services:
                    services[url] = _service(url, schemes, service, origins, document.uri)
                security = _security(raw["security"]) if "security" in raw else default_security
                tools.append(_tool(str(path), method, raw, item, item_where, where, version, contents, security,
                                   services[url], names, invoker))
            except SpecError:
                raise
            except MALFORMED as exc:  # a node of the wrong shape somewhere in the operation: name the operation
                raise SpecError(f"{where}: cannot read this operation ({type(exc).__name__}: {exc}); a value "
                                f"in it does not have the shape {version.name} gives it") from None
    if seen and not tools:
        raise ValueError(_nothing_selected(selection, seen))
    if unresolved is not None:
        raise unresolved
    return tools


def _version(contents: Mapping[str, Any], root: Location) -> Version:
    """How to read the document: Swagger 2.0 or OpenAPI 3.x; anything else is a `SpecError`."""
    if str(contents.get("swagger", "")).startswith("2"):
        return Swagger2()
    if str(contents.get("openapi", "")).startswith("3"):
        return OpenAPI3()
    found = contents.get("openapi", contents.get("swagger"))
    raise SpecError(f"{root.child('openapi')}: not OpenAPI 3.x or Swagger 2.0 (found {found!r})")


def _listed(raw: Any) -> list[Any]:
    """A list the spec gives (such as `tags`), or nothing when it gives something else."""
    return raw if isinstance(raw, list) else []


def _security(raw: Any) -> tuple[tuple[str, ...], ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(tuple(requirement) for requirement in raw if isinstance(requirement, Mapping))


def _server_url(version: Version, document: Document, item: Mapping[str, Any], raw: Mapping[str, Any],
                where: Location, variables: Mapping[str, str]) -> str | SpecError:
    """The operation's absolute server URL: a relative one resolved against the URL the spec came from, or
    the error to raise when there is nothing to resolve it against."""
    url = version.server(document.contents, document.uri, item, raw, variables)
    if url.startswith(("http://", "https://")):
        return url
    if document.uri.startswith(("http://", "https://")):
        return urljoin(document.uri, url)
    example = "https://api.example.com/" + url.lstrip("/")
    default = " (OpenAPI's default when a spec names no servers)" if url == "/" else ""
    return SpecError(
        f"{where}: the server URL {url!r} is relative{default}, and the spec was not read from a URL to resolve it "
        f"against; pass base_url= (the service's address, such as {example!r})"
    )


def _service(url: str, schemes: Mapping[str, Any], options: Mapping[str, Any], origins: Origins,
             spec_uri: str) -> Service:
    trusted = origins.allows(url)
    service = Service(url.rstrip("/"), schemes, trusted=trusted, origins=origins, **options)
    if url and not trusted and service.has_secrets():
        log.warning(
            "the spec at %s names its server %s, on another origin: calls go there without the auth and headers "
            "given to the loader; pass base_url=%r or trusted_origins=[%r] to send them", spec_uri, url, url, url,
        )
    return service


def _nothing_selected(selection: Selection, seen: list[tuple[str, list[str]]]) -> str:
    operations = sorted({operation for operation, _ in seen})
    tags = sorted({tag for _, tags in seen for tag in tags})
    shown = ", ".join(operations[:20]) + (f" and {len(operations) - 20} more" if len(operations) > 20 else "")
    return (f"no operation of the spec passes the filters ({selection.options()}); its operations: {shown}"
            + (f"; its tags: {', '.join(tags)}" if tags else "; it names no tags"))


def _tool(path: str, method: str, raw: Mapping[str, Any], item: Mapping[str, Any], item_where: Location,
          where: Location, version: Version, contents: Mapping[str, Any],
          security: tuple[tuple[str, ...], ...], service: Service, names: set[str],
          invoker: type[Invoker]) -> Tool:
    arguments = _parameters(item, item_where, raw, where, version)
    body = version.body(arguments, raw, contents, where)
    if body is not None:
        media, schema, body_required, files, description = body
        arguments.extend(body_arguments(media, schema, body_required, description))
    else:
        media, files = "", frozenset()
    name_arguments(arguments)
    properties = {a.key: a.schema for a in arguments}
    required = [a.key for a in arguments if a.required]
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    parameters["additionalProperties"] = False
    invalid = schema_problem(parameters)
    if invalid is not None:
        raise SpecError(f"{where}: its parameters would not be a valid JSON Schema ({invalid}), which a model "
                        "provider refuses along with every other tool of the request; fix the spec, or leave the "
                        "operation out (exclude_operations= or exclude_paths=)")
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
                version: Version) -> list[Argument]:
    """The operation's parameters, path-level ones first, an operation-level one replacing its namesake."""
    found: dict[tuple[str, str], Argument] = {}
    for holder, holder_where in ((item, item_where), (raw, where)):
        listed = holder.get("parameters") or []
        if not isinstance(listed, list):
            raise SpecError(f"{holder_where.child('parameters')}: 'parameters' is an array")
        for index, param in enumerate(listed):
            argument = _parameter(param, holder_where.child("parameters", index), version)
            if argument is not None:
                found[(argument.place, argument.name)] = argument
    return list(found.values())


def _parameter(raw: Any, where: Location, version: Version) -> Argument | None:
    raw, where = where.resolve(raw)
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where}: a parameter is an object")
    name, place = raw.get("name"), raw.get("in")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{where}: a parameter needs a 'name'")
    if not isinstance(place, str) or place not in version.places:
        raise SpecError(f"{where}: parameter '{name}' has 'in: {place}' (expected path, query, header or cookie)")
    if place == "header" and name.lower() in _IGNORED_HEADERS:
        return None
    schema, as_json = version.schema(raw, place, where)
    schema = described(schema, raw)
    style, explode = version.style(raw, place, schema)
    required = place == "path" or bool(raw.get("required", False))
    param = Param("", name, place, style, explode, bool(raw.get("allowReserved", False)), as_json)
    return Argument(place, name, schema, required, param if place in _PARAM_PLACES else None)
