"""What an operation sends, and how a call's arguments become that request.

Serialisation follows the OpenAPI 3 parameter styles (`simple`, `label`, `matrix`, `form`,
`spaceDelimited`, `pipeDelimited`, `deepObject`; Swagger 2.0 `collectionFormat`s map onto them). Every
value is percent-encoded for its place, so a path value stays inside its segment and a query value
inside its parameter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from toolwire import ErrorKind, ToolCallError

__all__ = ["Body", "Operation", "Param", "Prepared", "prepare"]


@dataclass(frozen=True, slots=True)
class Param:
    """A path, query, header or cookie parameter: its argument name (`key`) and its name on the wire."""

    key: str
    name: str
    location: str
    style: str
    explode: bool
    allow_reserved: bool = False
    as_json: bool = False


@dataclass(frozen=True, slots=True)
class Body:
    """The request body: its media type, and either the one argument holding it (`key`) or the
    arguments that are its fields (`fields`: argument name -> field name)."""

    media_type: str
    key: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    files: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation: method, path template, parameters, body and the security alternatives it accepts."""

    method: str
    path: str
    params: tuple[Param, ...] = ()
    body: Body | None = None
    security: tuple[tuple[str, ...], ...] = ()


@dataclass(slots=True)
class Prepared:
    """A request ready for httpx: the path and query (encoded), headers, cookies and body."""

    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[tuple[str, str]] = field(default_factory=list)
    content: bytes | None = None
    data: dict[str, Any] | None = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None

    def target(self) -> str:
        """The path and query string, encoded."""
        if not self.query:
            return self.path
        return self.path + "?" + "&".join(f"{name}={value}" for name, value in self.query)


def prepare(operation: Operation, arguments: Mapping[str, Any]) -> Prepared:
    """The request `operation` sends for these (validated) arguments."""
    path = operation.path
    prepared = Prepared(path)
    for param in operation.params:
        if param.key not in arguments or arguments[param.key] is None:
            if param.location == "path":
                raise ToolCallError(f"the path parameter '{param.key}' is required", ErrorKind.INVALID_ARGUMENTS)
            continue
        value = arguments[param.key]
        if param.as_json:
            value = json.dumps(value, separators=(",", ":"))
        if param.location == "path":
            path = path.replace("{" + param.name + "}", _path_value(param, value))
        elif param.location == "query":
            prepared.query.extend(_query_pairs(param, value))
        elif param.location == "header":
            prepared.headers[param.name] = _header_value(param.name, value, param.explode)
        else:
            prepared.cookies.append((param.name, _simple(value, param.explode, _cookie_octets)))
    _check_segments(operation, path)
    prepared.path = path
    if operation.body is not None:
        _body(operation.body, arguments, prepared)
    return prepared


def _check_segments(operation: Operation, path: str) -> None:
    """Refuse path values that would send the request to another path: a segment they fill that ends up empty,
    `.` or `..` (`/items/{id}/parts` as `/items//parts`, `/items/{id}` as `/items/`, a label `.` dropped as
    the current directory). A value's own `/` is always percent-encoded, so the segments line up."""
    for template, segment in zip(operation.path.split("/"), path.split("/"), strict=True):
        if "{" in template and segment in ("", ".", ".."):
            names = [param.key for param in operation.params if param.location == "path"
                     and "{" + param.name + "}" in template]
            raise ToolCallError(f"the path parameter {' and '.join(map(repr, names))} leaves its part of the path "
                                f"{'empty' if not segment else repr(segment)}, so the request would go to another "
                                "path; give it a value", ErrorKind.INVALID_ARGUMENTS)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"))


_COOKIE_SAFE = "!#$&'()*+-./:<=>?@[]^_`{|}~"  # RFC 6265 cookie-octets, less '%' (which starts an escape)


def _cookie_octets(value: Any) -> str:
    return quote(_text(value), safe=_COOKIE_SAFE)


def _segment(value: Any) -> str:
    text = quote(_text(value), safe="")
    return text.replace(".", "%2E") if text in (".", "..") else text


def _pairs(value: Mapping[str, Any], encode: Any) -> list[tuple[str, str]]:
    return [(encode(k), encode(v)) for k, v in value.items() if v is not None]


def _simple(value: Any, explode: bool, encode: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(encode(v) for v in value)
    if isinstance(value, Mapping):
        pairs = _pairs(value, encode)
        return ",".join(f"{k}={v}" if explode else f"{k},{v}" for k, v in pairs)
    return encode(value)


def _path_value(param: Param, value: Any) -> str:
    if param.style == "label":
        separator = "." if param.explode else ","
        if isinstance(value, Mapping):
            items = [f"{k}={v}" if param.explode else f"{k},{v}" for k, v in _pairs(value, _segment)]
            return "." + separator.join(items)
        items = [_segment(v) for v in value] if isinstance(value, list | tuple) else [_segment(value)]
        return "." + separator.join(items)
    if param.style == "matrix":
        name = quote(param.name, safe="")
        if isinstance(value, list | tuple):
            if param.explode:
                return "".join(f";{name}={_segment(v)}" for v in value)
            return f";{name}=" + ",".join(_segment(v) for v in value)
        if isinstance(value, Mapping):
            if param.explode:
                return "".join(f";{k}={v}" for k, v in _pairs(value, _segment))
            return f";{name}=" + ",".join(f"{k},{v}" for k, v in _pairs(value, _segment))
        return f";{name}={_segment(value)}"
    return _simple(value, param.explode, _segment)


_RESERVED_SAFE = "/?:@!$'()*+,;[]"  # RFC 3986 reserved characters, less those that would end the parameter
_DELIMITERS = {"spaceDelimited": "%20", "pipeDelimited": "|", "tabDelimited": "%09"}
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
"""A character an HTTP header value cannot hold: a control character other than a tab."""


def _query_pairs(param: Param, value: Any) -> list[tuple[str, str]]:
    safe = _RESERVED_SAFE if param.allow_reserved else ""

    def encode(item: Any) -> str:
        return quote(_text(item), safe=safe)

    name = quote(param.name, safe="[]")
    if param.style == "deepObject" and isinstance(value, Mapping):
        return [(f"{name}[{quote(str(k), safe='')}]", encode(v)) for k, v in value.items() if v is not None]
    if isinstance(value, list | tuple):
        if param.explode:
            return [(name, encode(v)) for v in value]
        return [(name, _DELIMITERS.get(param.style, ",").join(encode(v) for v in value))]
    if isinstance(value, Mapping):
        if param.explode:
            return [(quote(str(k), safe=""), encode(v)) for k, v in value.items() if v is not None]
        return [(name, ",".join(f"{quote(str(k), safe='')},{encode(v)}" for k, v in value.items()))]
    return [(name, encode(value))]


def _header_value(name: str, value: Any, explode: bool) -> str:
    """`value` as header `name` carries it (spaces around it dropped, as HTTP does); what a header cannot carry
    is the call's `invalid_arguments` error, not a `transport` error that a retry would repeat."""
    text = _simple(value, explode, _text).strip(" \t")
    if "\r" in text or "\n" in text:
        raise ToolCallError(f"the value of header '{name}' contains a line break", ErrorKind.INVALID_ARGUMENTS)
    if not text.isascii():
        raise ToolCallError(f"the value of header '{name}' is not ASCII text, which is all an HTTP header carries; "
                            "send it in ASCII", ErrorKind.INVALID_ARGUMENTS)
    if _CONTROL.search(text):
        raise ToolCallError(f"the value of header '{name}' holds a control character, which an HTTP header cannot "
                            "carry", ErrorKind.INVALID_ARGUMENTS)
    return text


def _body(body: Body, arguments: Mapping[str, Any], prepared: Prepared) -> None:
    if body.key is not None:
        if body.key not in arguments:
            return
        payload: Any = arguments[body.key]
    else:
        payload = {name: arguments[key] for key, name in body.fields if key in arguments}
        if not payload and not body.fields:
            return
    media = body.media_type
    if _is_json(media):
        prepared.content = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        prepared.headers["Content-Type"] = media
    elif media == "application/x-www-form-urlencoded":
        fields = payload if isinstance(payload, Mapping) else {"body": payload}
        prepared.content = "&".join(
            f"{quote(str(name), safe='')}={quote(_text(item), safe='')}"
            for name, value in fields.items() if value is not None
            for item in (value if isinstance(value, list | tuple) else [value])
        ).encode()
        prepared.headers["Content-Type"] = media
    elif media.startswith("multipart/"):
        fields = payload if isinstance(payload, Mapping) else {"body": payload}
        prepared.data = {}
        prepared.files = []
        for name, value in fields.items():
            if value is None:
                continue
            if name in body.files:
                for item in value if isinstance(value, list | tuple) else [value]:
                    data = item.encode() if isinstance(item, str) else _text(item).encode()
                    prepared.files.append((name, (name, data, "application/octet-stream")))
            else:
                prepared.data[name] = [_text(v) for v in value] if isinstance(value, list | tuple) else _text(value)
    else:
        prepared.content = payload.encode() if isinstance(payload, str) else _text(payload).encode()
        prepared.headers["Content-Type"] = media


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json") or media == "*/*" or "json" in media
