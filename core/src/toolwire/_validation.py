"""Argument checks for tools that bring a JSON Schema but no validator of their own (OpenAPI, MCP).

Native tools validate with pydantic (their loader sets `Tool.validator`). For schema-only tools the core
first checks what the model most often gets wrong at the top level, with messages it acts on: the
arguments form an object, required ones are present, no unexpected ones (when the schema closes the
object), and primitive values have the declared type, coercing lossless strings ("3" -> 3, "true" ->
True). When the schema says more (nested objects, array items, enum and const, anyOf / oneOf / allOf,
bounds, formats), the whole schema is then checked with jsonschema-rs (decision 0039), with
the same coercions at any depth, and each problem is named by its path (`argument 'category.id': ...`).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from toolwire._schemas import DATA_KEYWORDS, SCHEMA_MAPS, Refs, mapped_references

log = logging.getLogger("toolwire")

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}


_SHALLOW = frozenset({"type", "description", "title", "default", "examples", "nullable", "deprecated",
                      "readOnly", "writeOnly", "example"})
"""Keywords of a property that the top-level check covers (or that constrain nothing)."""
_COERCION_ROUNDS = 8
"""How many times the whole-schema check coerces strings and looks again (each round fixes every
coercible value it reports)."""


class SchemaValidator:
    """A picklable validator for a JSON Schema of `type: object`."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        properties = dict(schema.get("properties") or {})
        deep = any(not isinstance(prop, Mapping) or set(prop) - _SHALLOW for prop in properties.values())
        # a boolean schema (`true`, `false`) has no top-level check: the whole-schema check decides
        self.properties: dict[str, Any] = {key: prop if isinstance(prop, Mapping) else {}
                                           for key, prop in properties.items()}
        self.required: tuple[str, ...] = tuple(schema.get("required") or ())
        extra = schema.get("additionalProperties")
        self.closed = extra is False
        self._exact = {key: _exact_types(prop) for key, prop in self.properties.items()}
        rest = set(schema) - {"type", "properties", "required", "description", "title"}
        if extra is None or isinstance(extra, bool):  # covered here; a schema for the other arguments is not
            rest.discard("additionalProperties")
        self._schema: dict[str, Any] | None = _standard(dict(schema)) if deep or rest else None
        self._whole: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_whole": None}  # compiled validators do not pickle: built again on use

    def __call__(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        problems: list[str] = []
        checked: dict[str, Any] = {}
        exact = self._exact
        for key, value in arguments.items():
            prop = self.properties.get(key)
            if prop is None:
                if self.closed:
                    problems.append(f"unexpected argument '{key}'")
                    continue
                checked[key] = value
                continue
            if type(value) in exact[key]:
                checked[key] = value
                continue
            checked[key], problem = _check(key, value, prop)
            if problem:
                problems.append(problem)
        problems.extend(f"missing required argument '{key}'" for key in self.required if key not in arguments)
        if problems:
            raise ValueError("; ".join(problems))
        if self._schema is not None:
            checked = self._check_whole(checked)
        return checked

    def _check_whole(self, arguments: dict[str, Any]) -> dict[str, Any]:
        whole = self._whole
        if whole is None:
            whole = self._whole = _compile(self._schema)
        if whole is False:
            return arguments
        copied = False
        for _ in range(_COERCION_ROUNDS):
            errors = list(whole.iter_errors(arguments))
            if not errors:
                return arguments
            fixes = [(list(e.instance_path), value) for e in errors
                     if e.instance_path and (value := _coerced(e)) is not _FAILED]
            if not fixes:
                break
            if not copied:
                arguments, copied = copy.deepcopy(arguments), True
            for path, value in fixes:
                _put(arguments, path, value)
        raise ValueError("; ".join(dict.fromkeys(_describe(error) for error in errors)))


_EXACT: dict[str, frozenset[type]] = {
    "string": frozenset({str}),
    "integer": frozenset({int}),
    "number": frozenset({int, float}),
    "boolean": frozenset({bool}),
    "array": frozenset({list, tuple}),
    "object": frozenset({dict}),
    "null": frozenset({type(None)}),
}


def _exact_types(prop: Mapping[str, Any]) -> frozenset[type]:
    """The exact value types that pass `_check` for `prop` as they are, for a check without calls."""
    declared = prop.get("type")
    if not isinstance(declared, str | list):
        return frozenset()
    names = [declared] if isinstance(declared, str) else declared
    return frozenset().union(*(_EXACT.get(name, frozenset()) for name in names))


def _check(key: str, value: Any, prop: Mapping[str, Any]) -> tuple[Any, str | None]:
    declared = prop.get("type")
    if declared is None:
        return value, None
    names = [declared] if isinstance(declared, str) else list(declared)
    if prop.get("nullable"):
        names.append("null")
    if any(_is(value, name) for name in names):
        return value, None
    if isinstance(value, str):
        for name in names:
            coerced = _coerce(value, name)
            if coerced is not _FAILED:
                return coerced, None
    return value, f"argument '{key}' should be of type {' or '.join(names)}, got {type(value).__name__}"


def _is(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(name, object))


_FAILED = object()


def _coerce(text: str, name: str) -> Any:
    try:
        if name == "integer":
            return int(text)
        if name == "number":
            return float(text)
    except ValueError:
        return _FAILED
    if name == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return _FAILED




def _standard(schema: Any) -> Any:
    """`schema` in JSON Schema 2020-12 terms: OpenAPI 3.0's `nullable` becomes a `null` type, draft 4's
    boolean `exclusiveMinimum`/`exclusiveMaximum` the numeric form. `pattern` is left to the tool's server:
    specs write regexes in dialects JSON Schema's ECMA-262 does not read (`/[a-z]/i`), and refusing every
    value a server would accept makes the tool unusable."""
    if isinstance(schema, list):
        return [_standard(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "pattern":
            continue
        if key in DATA_KEYWORDS:
            out[key] = value
        elif key in SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _standard(sub) for name, sub in value.items()}
        else:
            out[key] = _standard(value)
    if out.pop("nullable", False) is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(exclusive), bool) and out.pop(exclusive) and bound in out:
            out[exclusive] = out.pop(bound)
    return out


def _compile(schema: Any) -> Any:
    """A jsonschema-rs validator for `schema`, or False for a schema it cannot take (an invalid keyword): the
    top-level checks then stand alone, as the tool's server checks the rest. A reference it cannot resolve
    (one leading nowhere or to another document) stands for any value, and a local one it cannot read
    (`#/$defs/with space`) is written as a URI fragment, so that one such reference does not turn off the
    check of every other argument."""
    import jsonschema_rs

    try:
        return jsonschema_rs.validator_for(schema, validate_formats=True)
    except (jsonschema_rs.ValidationError, ValueError) as exc:
        failure = exc
    repaired = _resolvable(schema, Refs(schema))
    if repaired != schema:
        try:
            validator = jsonschema_rs.validator_for(repaired, validate_formats=True)
        except (jsonschema_rs.ValidationError, ValueError):
            pass
        else:
            log.info("checking arguments with the references that lead nowhere as any value: %s", failure)
            return validator
    log.info("checking arguments at the top level only: %s", failure)
    return False


_FRAGMENT_SAFE = "~!$&'()*+,;=:@"
"""What a JSON pointer token keeps unescaped in a URI fragment (RFC 3986 `pchar`, `~` for its own escapes)."""


def _resolvable(schema: Any, refs: Refs) -> Any:
    """`schema` with each local `$ref` written as a URI fragment, and each one `refs` cannot resolve left out."""

    def fragment(ref: Any, rest: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(ref, str) or refs.resolve(ref) is None:
            return rest
        tokens = unquote(ref[1:]).lstrip("/").split("/") if ref != "#" else []
        return {"$ref": "#" + "".join("/" + quote(token, safe=_FRAGMENT_SAFE) for token in tokens), **rest}

    return mapped_references(schema, fragment)


def _coerced(error: Any) -> Any:
    """The lossless coercion of a string that has the wrong type where the schema wants a number,
    integer or boolean; `_FAILED` for any other problem."""
    types = getattr(error.kind, "types", None)
    if not types or not isinstance(error.instance, str):
        return _FAILED
    for name in types:
        coerced = _coerce(error.instance, name)
        if coerced is not _FAILED:
            return coerced
    return _FAILED


def _put(arguments: Any, path: list[Any], value: Any) -> None:
    target = arguments
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


def _describe(error: Any) -> str:
    path = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in error.instance_path)
    return f"argument '{path.lstrip('.')}': {error.message}" if path else error.message
