"""Any valid JSON Schema a tool declares (an MCP server's, an OpenAPI operation's):

- gives each provider's declaration, or a `SchemaConversionError` naming the tool and the place: never another
  exception, which would fail every request that lists the registry's tools (Gemini's declarations are
  checked with the google-genai SDK's own types, OpenAI's strict ones with the OpenAI Agents SDK's strict-schema
  check, Anthropic's strict ones are what the Anthropic SDK's `transform_schema` leaves as they are; Anthropic's
  and strict ones have no `allOf`, `anyOf` or `oneOf` at the root, which the APIs refuse);
- lets arguments through exactly when the schema does (jsonschema-rs is the reference), after the lossless
  coercions the validator makes ("3" -> 3), and never anything the schema refuses.
"""

from __future__ import annotations

import json
import re
import warnings
from typing import Any

import jsonschema_rs
from agents.strict_schema import ensure_strict_json_schema
from anthropic import transform_schema
from google.genai import types as genai
from hypothesis import assume, event, example, given
from hypothesis import strategies as st
from toolwire import Tool, ToolRegistry
from toolwire._validation import SchemaValidator, _standard
from toolwire.formats import SchemaConversionError, schema_problem
from toolwire.tools import ToolSource

FORMATS = ("openai-chat", "openai-responses", "anthropic", "gemini")
DEFINITIONS = ("A", "B", "Node")

names = st.one_of(st.sampled_from(["a", "b", "type", "properties", "$ref", "items", "required", "nullable",
                                   "format", "with space", "ünï", "x" * 70]),
                  st.text(min_size=1, max_size=8))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5))
leaf_types = st.sampled_from(["string", "integer", "number", "boolean", "null", "object", "array"])


@st.composite
def leaves(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["typed", "any", "bool", "enum", "const", "types", "ref"]))
    if kind == "any":
        return {}
    if kind == "bool":
        return draw(st.booleans())
    if kind == "enum":
        return {"enum": draw(st.lists(scalars, max_size=4, unique_by=json.dumps))}
    if kind == "const":
        return {"const": draw(scalars)}
    if kind == "types":
        return {"type": draw(st.lists(leaf_types, min_size=1, max_size=3, unique=True))}
    if kind == "ref":
        return {"$ref": draw(st.sampled_from([*(f"#/$defs/{name}" for name in DEFINITIONS), "#", "#/$defs/Missing",
                                              "#/properties/a", "#/properties/a/anyOf/0", "#/$defs/A/items",
                                              "#/definitions/Old", "other.json#/x"]))}
    schema: dict[str, Any] = {"type": draw(leaf_types)}
    extras = {
        "description": st.text(max_size=10), "title": st.text(max_size=5),
        "default": scalars | st.fixed_dictionaries({"$ref": st.sampled_from(["x", "#/properties/a", "#"])}),
        "format": st.sampled_from(["date-time", "date", "email", "uri", "uuid", "int64", "enum", "odd"]),
        "minimum": st.integers(-5, 5), "maximum": st.integers(5, 10), "minLength": st.integers(0, 3),
        "maxLength": st.integers(3, 9), "pattern": st.sampled_from(["^[a-z]+$", "\\d", "("]),
        "examples": st.lists(scalars, max_size=2), "nullable": st.booleans(),
        "enum": st.lists(scalars, min_size=1, max_size=3, unique_by=json.dumps),
    }
    for key in draw(st.lists(st.sampled_from(sorted(extras)), max_size=3, unique=True)):
        schema[key] = draw(extras[key])
    return schema


def compounds(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    objects = st.builds(
        lambda properties, required, additional, typed: {
            **({"type": "object"} if typed else {}), "properties": properties,
            **({"required": required} if required is not None else {}),
            **({"additionalProperties": additional} if additional is not None else {})},
        st.dictionaries(names, inner, max_size=4),
        st.none() | st.lists(names, max_size=3, unique=True),
        st.none() | st.booleans() | inner,
        st.booleans(),
    )
    arrays = st.builds(lambda items, prefix: {"type": "array", **({"items": items} if items is not None else {}),
                                              **({"prefixItems": prefix} if prefix else {})},
                       st.none() | inner, st.lists(inner, max_size=2))
    combined = st.builds(lambda key, options: {key: options}, st.sampled_from(["anyOf", "oneOf", "allOf"]),
                         st.lists(inner, min_size=1, max_size=3))
    negated = st.builds(lambda schema: {"not": schema}, inner)
    return st.one_of(objects, arrays, combined, negated)


subschemas = st.recursive(leaves(), compounds, max_leaves=12)


plain = st.one_of(
    st.builds(lambda kind, described: {"type": kind, **({"description": "d"} if described else {})},
              leaf_types | st.lists(leaf_types, min_size=1, max_size=2, unique=True), st.booleans()),
    st.builds(lambda kind: {"type": kind, "nullable": True}, leaf_types))
"""What tools mostly declare: a type, a description."""


@st.composite
def parameters(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object",
                              "properties": draw(st.dictionaries(names, plain | subschemas, max_size=5))}
    if draw(st.booleans()):
        schema["required"] = draw(st.lists(st.sampled_from(sorted(schema["properties"]) or ["a"]), unique=True))
    if draw(st.booleans()):
        schema["additionalProperties"] = draw(st.booleans() | plain | subschemas)
    if draw(st.booleans()):
        schema["$defs"] = {name: draw(subschemas) for name in DEFINITIONS}
    top = {
        "minProperties": st.integers(0, 2),
        "maxProperties": st.integers(1, 3),
        "patternProperties": st.dictionaries(st.sampled_from(["^a", "x$", "."]), plain | subschemas, max_size=2),
        "propertyNames": plain | subschemas,
        "dependentRequired": st.dictionaries(names, st.lists(names, max_size=2, unique=True)),
        "if": subschemas, "then": subschemas, "else": subschemas,
        "anyOf": st.lists(subschemas, min_size=1, max_size=2),
    }
    for key in draw(st.lists(st.sampled_from(sorted(top)), max_size=2, unique=True)):
        schema[key] = draw(top[key])
    if draw(st.booleans()):
        schema["definitions"] = {"Old": draw(subschemas)}
    return schema


def _tool(schema: dict[str, Any]) -> Tool:
    return Tool("t", "A tool with an unusual schema.", schema, lambda **kwargs: kwargs, source=ToolSource("test"))


@given(parameters())
@example({"type": "object", "properties": {}, "definitions": {  # a string's vacuous `properties`, closed as an object
    "Old": {"type": "array", "items": {"allOf": [{"type": "string"}, {"properties": {}}]}}}})
@example({"type": "object", "properties": {}, "definitions": {"Old": {"allOf": [{"const": None}, {"properties": {}}]}}})
@example({"type": "object", "properties": {}, "definitions": {"Old": {"allOf": [
    {"const": None}, {"type": "array", "items": {"const": None}}]}}})
@example({"type": "object", "properties": {}, "$defs": {"Node": {"type": "integer", "format": "date-time"}}})
def test_every_valid_schema_converts_or_says_why(schema: dict[str, Any]) -> None:
    with ToolRegistry(executor="thread") as registry:
        try:
            registry.add(_tool(schema))
        except ValueError:
            assume(False)  # not valid JSON Schema: refused when added, with the reason (tested elsewhere)
        for format in FORMATS:
            for strict in (False, True) if format != "gemini" else (False,):
                try:
                    declarations = registry.schemas(format, strict=strict)
                except SchemaConversionError as exc:
                    assert list(exc.problems) == ["t"] and all(exc.problems["t"]), exc
                    event(f"{format}{' (strict)' if strict else ''}: cannot convert")
                    continue
                event(f"{format}{' (strict)' if strict else ''}: converted")
                json.dumps(declarations, allow_nan=False)
                if format != "gemini":
                    sent = _parameters(format, declarations[0])
                    assert schema_problem(sent) is None, (format, strict, sent)
                    if strict or format == "anthropic":
                        assert not {"allOf", "anyOf", "oneOf"} & sent.keys(), (format, strict, sent)
                    if strict:
                        _assert_strict(sent)
                    if strict and format == "anthropic":  # nothing it would still change or move to a description
                        assert transform_schema(json.loads(json.dumps(sent))) == sent, sent
                    elif strict:
                        ensure_strict_json_schema(json.loads(json.dumps(sent)))  # raises what it cannot take
                if format == "gemini":
                    with warnings.catch_warnings():
                        warnings.simplefilter("error")  # an unknown `type` only warns in the SDK
                        genai.Tool.model_validate(declarations[0])


def _parameters(format: str, declaration: dict[str, Any]) -> dict[str, Any]:
    if format == "openai-chat":
        return declaration["function"]["parameters"]
    return declaration["parameters" if format == "openai-responses" else "input_schema"]


_STRICT_KEYS = {"type", "properties", "required", "additionalProperties", "items", "anyOf", "allOf", "$ref", "$defs",
                "definitions", "title", "description", "enum", "const", "pattern", "format", "multipleOf",
                "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems"}


def _assert_strict(node: Any) -> None:
    """OpenAI's strict subset, everywhere in the schema: known keywords only, every object closed with every
    property required."""
    assert isinstance(node, dict) and node.keys() <= _STRICT_KEYS, node
    if "properties" in node:
        assert node["additionalProperties"] is False and node["required"] == list(node["properties"]), node
    children = [*node.get("properties", {}).values(), *node.get("anyOf", ()), *node.get("allOf", ()),
                *node.get("$defs", {}).values(),
                *node.get("definitions", {}).values(), *([node["items"]] if "items" in node else [])]
    for child in children:
        _assert_strict(child)


json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3), max_leaves=8)
arguments_values = json_values | st.sampled_from(["3", "-1", "2.5", "1e3", "true", "False", "x", ""])


@given(parameters(), st.data())
def test_arguments_pass_exactly_when_the_schema_lets_them(schema: dict[str, Any], data: st.DataObject) -> None:
    assume(schema_problem(schema) is None)
    try:  # the reference: the schema as the validator reads it (OpenAPI's nullable, `pattern` left to the server)
        reference = jsonschema_rs.validator_for(_standard(schema), validate_formats=True)
    except (jsonschema_rs.ValidationError, ValueError):
        assume(False)  # an unresolvable $ref: the top-level checks stand alone (decision 0039)
    names = [*sorted(schema["properties"]), "zz_extra"]
    arguments = data.draw(st.dictionaries(st.sampled_from(names), arguments_values, max_size=4))
    try:
        checked = SchemaValidator(schema)(arguments)
    except ValueError as exc:
        assert not reference.is_valid(arguments), f"refused valid arguments: {exc}"
        event("refused")
        return
    assert reference.is_valid(checked), f"let through {checked!r}: {reference.iter_errors(checked)!r}"
    if reference.is_valid(arguments):
        assert checked == arguments
        event("valid as they came")
    else:
        event("valid once coerced")


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [ref for key, value in node.items()
                for ref in ([value] if key == "$ref" and isinstance(value, str) else _references(value))]
    return [ref for item in node for ref in _references(item)] if isinstance(node, list) else []


def _resolves(document: Any, ref: str) -> bool:
    node = document
    for token in ref.removeprefix("#").split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False
    return True


def _dangling_dropped(document: dict[str, Any]) -> dict[str, Any]:
    """`document` without the local `$ref`s that do not resolve in it (drawn often; rejecting them cost time)."""
    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: strip(value) for key, value in node.items()
                    if not (key == "$ref" and isinstance(value, str) and value.startswith("#")
                            and not _resolves(document, value))}
        return [strip(item) for item in node] if isinstance(node, list) else node

    return strip(document)


@given(parameters(), parameters())
def test_the_served_document_resolves_every_reference_a_tools_schemas_make(
        schema: dict[str, Any], output: dict[str, Any]) -> None:
    """`toolwire serve http` moves a tool's schemas into one OpenAPI document: what resolved in them resolves
    there, and every component name is one OpenAPI allows."""
    from toolwire_openapi._server.shapes import openapi_document

    schema, output = _dangling_dropped(schema), _dangling_dropped(output)
    assume(schema_problem(schema) is None and schema_problem(output) is None)
    tool = Tool("t", "T.", schema, lambda **kwargs: kwargs, source=ToolSource("test"), output_schema=output)
    document = openapi_document([tool], title="t", version="1", secured=False)
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", name) for name in document["components"]["schemas"])
    assert [ref for ref in _references(document) if ref.startswith("#") and not _resolves(document, ref)] == []


@given(parameters())
def test_langchain_binds_every_tool(schema: dict[str, Any]) -> None:
    """LangChain's `convert_to_openai_tool` (what `bind_tools` runs on each tool) follows references itself and
    raised for ones it cannot read, and for what it took for one (a property named `$ref`, a default holding an
    object with a `$ref` key), failing every tool bound with it: toolwire-langchain hands it none of those."""
    from langchain_core.utils.function_calling import convert_to_openai_tool
    from toolwire_langchain import langchain_tools

    with ToolRegistry(executor="thread") as registry:
        try:
            registry.add(_tool(schema))
        except ValueError:
            assume(False)
        (tool,) = langchain_tools(registry)
    converted = convert_to_openai_tool(tool)["function"]["parameters"]
    assert converted.get("type") == "object"
    json.dumps(converted, allow_nan=False)
