"""JSON Schema helpers: clean pydantic's output, and make `typing.TypedDict` usable on Python 3.11."""

from __future__ import annotations

import functools
import inspect
import operator
import sys
import types
import warnings
from typing import Annotated, Any, Literal, NotRequired, Required, get_args, get_origin, get_type_hints

import pydantic
import typing_extensions
from pydantic.json_schema import GenerateJsonSchema, PydanticJsonSchemaWarning

_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMAS = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")


def clean_schema(schema: Any) -> Any:
    """`schema` without pydantic's generated `title` keywords (property names called "title" stay)."""
    if not isinstance(schema, dict):
        return schema
    cleaned: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            cleaned[key] = {name: clean_schema(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            cleaned[key] = [clean_schema(sub) for sub in value]
        elif key in _SCHEMAS:
            cleaned[key] = clean_schema(value)
        else:
            cleaned[key] = value
    return cleaned


class SchemaGenerator(GenerateJsonSchema):
    """pydantic's JSON Schema generator, leaving out a default it cannot write whatever goes wrong: pydantic puts
    the default in its warning, so a default whose `repr` raises failed the whole tool."""

    def default_schema(self, schema: Any) -> Any:
        try:
            return super().default_schema(schema)
        except Exception:
            return self.generate_inner(schema["schema"])


def output_schema(annotation: Any) -> dict[str, Any] | None:
    """The JSON Schema of a return annotation, or None when there is none or it has no JSON form."""
    if annotation in (None, type(None), Any, inspect.Signature.empty):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PydanticJsonSchemaWarning)
            schema = pydantic.TypeAdapter(compatible(annotation)).json_schema(mode="serialization",
                                                                              schema_generator=SchemaGenerator)
    except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError, TypeError, NameError, RecursionError):
        return None
    return clean_schema(schema) or None


def compatible(annotation: Any) -> Any:
    """`annotation` with every `typing.TypedDict` replaced by a `typing_extensions` one.

    Pydantic refuses `typing.TypedDict` before Python 3.12; the validated value is a plain dict either way.
    """
    if sys.version_info >= (3, 12):
        return annotation
    return _rewrite(annotation)


def _rewrite(annotation: Any) -> Any:
    if typing_extensions.is_typeddict(annotation) and type(annotation).__module__ == "typing":
        return _rebuild_typeddict(annotation)
    args = get_args(annotation)
    origin = get_origin(annotation)
    if not args or origin is Literal:
        return annotation
    new = tuple(_rewrite(arg) for arg in args)
    if all(a is b for a, b in zip(new, args, strict=True)):
        return annotation
    if origin is Annotated:
        return Annotated[(new[0], *annotation.__metadata__)]
    if isinstance(annotation, types.UnionType):
        return functools.reduce(operator.or_, new)
    if isinstance(annotation, types.GenericAlias):
        return types.GenericAlias(origin, new)
    return annotation.copy_with(new)


_building: set[type] = set()


@functools.cache
def _rebuild_typeddict(typeddict: Any) -> Any:
    if typeddict in _building:  # a recursive TypedDict: left as it is, for pydantic to report
        return typeddict
    _building.add(typeddict)
    try:
        fields = {}
        for key, hint in get_type_hints(typeddict, include_extras=True).items():
            while get_origin(hint) in (Required, NotRequired):
                hint = get_args(hint)[0]
            hint = _rewrite(hint)
            fields[key] = Required[hint] if key in typeddict.__required_keys__ else NotRequired[hint]
    finally:
        _building.discard(typeddict)
    rebuilt = typing_extensions.TypedDict(typeddict.__name__, fields)  # type: ignore[misc]  # built at run time
    rebuilt.__doc__ = typeddict.__doc__
    rebuilt.__module__ = typeddict.__module__
    return rebuilt
