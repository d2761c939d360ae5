"""A tool's arguments before they become its schema: where each goes, and the name it gets.

Every path, query, header and cookie parameter is a top-level argument under its own name, and so is
every field of an object request body (JSON, form or multipart); any other body is one argument, `body`.
When two places share a name (a path `id` and a body `id`), each of the clashing arguments is prefixed
with its place (`path_id`, `body_id`) and its description says where it goes. Names are made valid
property names for every provider (`^[a-zA-Z0-9_.-]{1,64}$`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from toolwire_openapi._client.request import Param

__all__ = ["Argument", "BodyFound", "body_arguments", "choose_media", "described", "file_fields", "name_arguments"]

_KEY_INVALID = re.compile(r"[^a-zA-Z0-9_.-]+")
_MEDIA_PREFERENCE = ("json", "application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
_NOTHING: dict[str, Any] = {"not": {}}
"""`additionalProperties: false` as `normalize` leaves it."""

BodyFound = tuple[str, dict[str, Any], bool, frozenset[str], str]
"""A request body as a spec describes it: media type, schema, required, file fields, description."""


@dataclass(slots=True)
class Argument:
    """One argument before naming: where it goes, its wire name, schema and whether it is required."""

    place: str  # path, query, header, cookie, body (a field), payload (the whole body); Swagger: formData
    name: str
    schema: dict[str, Any]
    required: bool
    param: Param | None = None
    key: str = ""


def described(schema: dict[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    """`schema` with the parameter's description and deprecation."""
    if raw.get("description"):
        schema = {**schema, "description": str(raw["description"]).strip()}
    if raw.get("deprecated"):
        schema = {**schema, "deprecated": True}
    return schema


def choose_media(offered: Iterable[str]) -> str:
    """The media type to send, of those a body offers: JSON first, then forms, then plain text."""
    offered = [str(m) for m in offered]
    for wanted in _MEDIA_PREFERENCE:
        for media in offered:
            if (wanted == "json" and (media == "application/json" or media.endswith("+json"))) or media == wanted:
                return media
    for media in offered:
        if "json" in media:
            return media
    return offered[0]


def file_fields(schema: Mapping[str, Any]) -> frozenset[str]:
    """The fields of a multipart body that carry files."""
    def binary(prop: Any) -> bool:
        if not isinstance(prop, Mapping):
            return False
        if prop.get("type") == "array":
            return binary(prop.get("items"))
        return prop.get("format") in ("binary", "base64") or "contentMediaType" in prop

    return frozenset(name for name, prop in (schema.get("properties") or {}).items() if binary(prop))


def body_arguments(media: str, schema: dict[str, Any], required: bool, description: str) -> list[Argument]:
    """The arguments a body becomes: its fields, or one `body` argument when it has no fields to flatten."""
    if not _flattenable(media, schema):
        if description:
            schema = {**schema, "description": description}
        return [Argument("payload", "body", schema, required)]
    needed = set(schema.get("required") or ()) if required else set()
    return [Argument("body", str(name), sub, name in needed) for name, sub in schema["properties"].items()]


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


def name_arguments(arguments: list[Argument]) -> None:
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
