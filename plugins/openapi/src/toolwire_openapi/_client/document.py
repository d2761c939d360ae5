"""Reading a spec (a URL, a file, a dict or a service's base URL) and following its `$ref`s.

References are resolved with `referencing` (the library behind `jsonschema`): JSON pointers, 3.1 `$id`
and `$anchor`, and other files relative to the referring document's own location.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import httpx
import yaml
from referencing import Registry, Resource, Specification
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

__all__ = ["SPEC_LOCATIONS", "Document", "Location", "SpecError", "read"]

SPEC_LOCATIONS = (
    "openapi.json",
    "openapi.yaml",
    "openapi.yml",
    "swagger.json",
    "swagger.yaml",
    "v3/api-docs",
    "v2/api-docs",
    "api-docs",
    "swagger/v1/swagger.json",
    ".well-known/openapi.json",
    "docs/openapi.json",
)
"""Where a service's base URL is searched for its spec, in order (relative to the URL, then to its root)."""


class SpecError(ValueError):
    """A spec that cannot be read or resolved; the message names the file and the JSON pointer at fault."""


MALFORMED = (AttributeError, IndexError, KeyError, TypeError, ValueError)
"""What reading a node of the wrong shape raises (a number where an object belongs, ...): the loader turns
it into a `SpecError` naming where it happened."""


class _Loader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """YAML's safe loader without implicit timestamps: dates in examples and defaults stay strings."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse(text: str, where: str) -> Any:
    """JSON or YAML text as Python data; a syntax error names `where` and the line."""
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"{where}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        position = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise SpecError(f"{where}{position}: invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{where}: invalid YAML: {exc}") from None


def _is_document(contents: Any) -> bool:
    return isinstance(contents, Mapping) and ("openapi" in contents or "swagger" in contents)


def _document_schemas(contents: Mapping[str, Any]) -> Iterable[Any]:
    for holder in (contents.get("components", {}).get("schemas"), contents.get("definitions")):
        if isinstance(holder, Mapping):
            yield from (schema for schema in holder.values() if isinstance(schema, Mapping))


# referencing's stubs declare its attrs classes with the old `__dataclass_transform__` spelling, which mypy no
# longer reads: their keyword arguments look unexpected to it.
_OPENAPI = Specification(  # type: ignore[call-arg]
    name="openapi",
    id_of=lambda contents: None if _is_document(contents) else DRAFT202012.id_of(contents),
    subresources_of=lambda contents: (
        _document_schemas(contents) if _is_document(contents) else DRAFT202012.subresources_of(contents)
    ),
    anchors_in=lambda spec, contents: () if _is_document(contents) else DRAFT202012.anchors_in(contents),
    maybe_in_subresource=lambda segments, resolver, subresource: (
        resolver if _is_document(subresource.contents)
        else DRAFT202012.maybe_in_subresource(segments=segments, resolver=resolver, subresource=subresource)
    ),
)
"""An OpenAPI document as `referencing` sees it: its component schemas are JSON Schema 2020-12 resources
(so their `$id`s and `$anchor`s resolve), and the rest is reached by JSON pointer."""


@dataclass(frozen=True, slots=True)
class Location:
    """Where a node sits: the file it was read from, its JSON pointer there, and the resolver in scope."""

    file: str
    pointer: str
    resolver: Any

    def __str__(self) -> str:
        return f"{_display(self.file)}#{self.pointer}"

    def child(self, *keys: str | int) -> Location:
        pointer = self.pointer + "".join("/" + str(k).replace("~", "~0").replace("/", "~1") for k in keys)
        return Location(self.file, pointer, self.resolver)

    def entering(self, schema: Mapping[str, Any]) -> Location:
        """This location inside `schema`, whose `$id` (if any) becomes the base of relative refs."""
        if not isinstance(schema.get("$id"), str):
            return self
        return Location(self.file, self.pointer, self.resolver.in_subresource(DRAFT202012.create_resource(schema)))

    def resolve(self, node: Any) -> tuple[Any, Location]:
        """`node` with its `$ref`s followed (a chain of them too), and where it was found."""
        where, seen = self, set()
        while isinstance(node, Mapping) and node.get("$ref") is not None:
            if id(node) in seen:
                raise SpecError(f"{where}: the $ref '{node['$ref']}' refers to itself")
            seen.add(id(node))
            node, where = where.follow(node["$ref"])
        return node, where

    def follow(self, ref: Any) -> tuple[Any, Location]:
        """The node `ref` points to and its location; a broken ref is a `SpecError` naming this one."""
        if not isinstance(ref, str):
            raise SpecError(f"{self}: $ref must be a string, got {ref!r}")
        try:
            resolved = self.resolver.lookup(ref)
        except Unresolvable as exc:
            cause = exc.__cause__
            detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
            raise SpecError(f"{self}: cannot resolve $ref '{ref}'{detail}") from None
        except MALFORMED as exc:  # the path it names runs through something of the wrong shape
            raise SpecError(f"{self}: cannot resolve $ref '{ref}' ({type(exc).__name__}: {exc})") from None
        target, fragment = urldefrag(urljoin(self.resolver._base_uri, ref))
        file = self.file if ref.startswith("#") else target
        pointer = unquote(fragment) if fragment.startswith("/") else f"(anchor {fragment})" if fragment else ""
        return resolved.contents, Location(file, pointer, resolved.resolver)


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed spec: its contents, the URI it came from (for a dict, one in the current directory) and its
    root location."""

    contents: dict[str, Any]
    uri: str
    root: Location


_GIVEN = "%3Cspec%3E"
"""The last segment of a dict spec's URI: in the current directory, so that its relative `$ref`s resolve there,
and shown as `<spec>` in messages (the directory itself would read as a file at fault)."""


def _display(uri: str) -> str:
    if uri.endswith("/" + _GIVEN):
        return "<spec>"
    if uri.startswith("file://"):
        return unquote(urlsplit(uri).path)
    return uri or "<spec>"


def read(source: Any, *, client: httpx.Client) -> Document:
    """Read `source`: a dict, a file path, a spec URL or a service's base URL."""
    if isinstance(source, Mapping):
        uri = f"{Path.cwd().as_uri()}/{_GIVEN}"
        return _document(dict(source), uri, client, "<spec>")
    if isinstance(source, Path) or (isinstance(source, str) and not _is_url(source)):
        path = Path(source).expanduser().resolve()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SpecError(f"{path}: cannot read the spec: {exc.strerror or exc}") from None
        return _document(parse(text, str(path)), path.as_uri(), client, str(path))
    if isinstance(source, str):
        return _from_url(source, client)
    raise SpecError(f"an OpenAPI source is a URL, a file path or a dict, not {type(source).__name__}")


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _from_url(url: str, client: httpx.Client) -> Document:
    contents, served_from = _fetch(url, client, required=True)
    if _is_document(contents):
        return _document(contents, served_from, client, url)
    base = url if url.endswith("/") else url + "/"
    root = urljoin(url, "/")
    candidates = dict.fromkeys([urljoin(base, p) for p in SPEC_LOCATIONS] + [urljoin(root, p) for p in SPEC_LOCATIONS])
    for candidate in candidates:
        contents, served_from = _fetch(candidate, client, required=False)
        if _is_document(contents):
            return _document(contents, served_from, client, candidate)
    raise SpecError(f"{url}: not an OpenAPI document, and none found at the usual locations under it")


def _fetch(url: str, client: httpx.Client, *, required: bool) -> tuple[Any, str]:
    """The parsed document at `url` and the URL it was served from (after redirects); None if there is none."""
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        if required:
            raise SpecError(f"{url}: cannot fetch the spec: {type(exc).__name__}: {exc}") from None
        return None, url
    if response.status_code != 200:
        if required and response.status_code != 404:
            raise SpecError(f"{url}: cannot fetch the spec: HTTP {response.status_code}")
        return None, url
    try:
        return parse(response.text, url), str(response.url)
    except SpecError:
        if required and _looks_like_spec_url(url):
            raise
        return None, url


def _looks_like_spec_url(url: str) -> bool:
    return urlsplit(url).path.lower().endswith((".json", ".yaml", ".yml"))


def _document(contents: Any, uri: str, client: httpx.Client, where: str) -> Document:
    if not isinstance(contents, dict):
        raise SpecError(f"{where}#: an OpenAPI document is an object, got {type(contents).__name__}")

    def retrieve(target: str) -> Resource:
        return _OPENAPI.create_resource(_retrieve(target, client))

    registry: Registry = Registry(retrieve=retrieve)  # type: ignore[call-arg]  # (see _OPENAPI)
    registry = registry.with_resource(uri, _OPENAPI.create_resource(contents))
    return Document(contents, uri, Location(uri, "", registry.resolver(base_uri=uri)))


def _retrieve(uri: str, client: httpx.Client) -> Any:
    if uri.startswith("file://"):
        path = Path(unquote(urlsplit(uri).path))
        return parse(path.read_text(encoding="utf-8"), str(path))
    if _is_url(uri):
        response = client.get(uri)
        response.raise_for_status()
        return parse(response.text, uri)
    raise LookupError(f"cannot retrieve {uri!r}")
