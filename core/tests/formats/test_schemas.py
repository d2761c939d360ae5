"""Schemas out: every dialect, strict and not, checked against the provider SDKs' own request types."""

from __future__ import annotations

import json
import warnings
from typing import Any

import jsonschema
import pytest
from anthropic.types import ToolParam
from google.genai import types as genai
from openai.types.chat import ChatCompletionFunctionToolParam
from openai.types.responses import FunctionToolParam
from toolwire import ToolRegistry
from toolwire.formats import SchemaConversionError, omit_strict_nulls

from .conftest import ALL_TOOLS, STRICT_ARGUMENTS, STRICT_OK, VALID_ARGUMENTS, Serial

JSON_SCHEMA_DIALECTS = {
    "openai-chat": (ChatCompletionFunctionToolParam, lambda s: s["function"]["parameters"]),
    "openai-responses": (FunctionToolParam, lambda s: s["parameters"]),
    "anthropic": (ToolParam, lambda s: s["input_schema"]),
}
STRICT_UNSUPPORTED = {
    "default",
    "minLength",
    "maxLength",
    "minProperties",
    "maxProperties",
    "allOf",
    "oneOf",
    "not",
    "patternProperties",
    "prefixItems",
}


def _nodes(schema: Any) -> list[dict[str, Any]]:
    """Every schema object inside `schema` (properties, items, anyOf, $defs)."""
    found = []
    if isinstance(schema, dict):
        found.append(schema)
        for key in ("properties", "$defs"):
            for child in (schema.get(key) or {}).values():
                found.extend(_nodes(child))
        for key in ("items",):
            found.extend(_nodes(schema.get(key)))
        for key in ("anyOf", "any_of"):
            for child in schema.get(key) or ():
                found.extend(_nodes(child))
    return found


def _name(schema: dict[str, Any]) -> str:
    return schema.get("name") or schema["function"]["name"]


@pytest.mark.parametrize("format", sorted(JSON_SCHEMA_DIALECTS))
def test_json_schema_dialects_match_the_sdk_types(registry: ToolRegistry, sdk_valid, format: str) -> None:
    sdk_type, parameters_of = JSON_SCHEMA_DIALECTS[format]
    schemas = registry.schemas(format=format)
    assert [_name(s) for s in schemas] == sorted(f.__name__ for f in ALL_TOOLS)
    for schema in schemas:
        sdk_valid(sdk_type, schema)
        parameters = parameters_of(schema)
        jsonschema.Draft202012Validator.check_schema(parameters)
        jsonschema.validate(VALID_ARGUMENTS[_name(schema)], parameters)


@pytest.mark.parametrize("format", sorted(JSON_SCHEMA_DIALECTS))
def test_strict_schemas_close_every_object_and_require_every_property(
    registry: ToolRegistry, sdk_valid, format: str
) -> None:
    sdk_type, parameters_of = JSON_SCHEMA_DIALECTS[format]
    registry.disable("with_dict")
    strict_ok = STRICT_OK
    if format == "anthropic":  # its strict mode takes no recursive schema
        registry.disable("with_tree")
        strict_ok = [tool for tool in STRICT_OK if tool.__name__ != "with_tree"]
    schemas = registry.schemas(format=format, strict=True)
    assert [_name(s) for s in schemas] == sorted(f.__name__ for f in strict_ok)
    for schema in schemas:
        sdk_valid(sdk_type, schema)
        assert (schema.get("strict") or schema.get("function", {}).get("strict")) is True
        parameters = parameters_of(schema)
        jsonschema.Draft202012Validator.check_schema(parameters)
        jsonschema.validate(STRICT_ARGUMENTS[_name(schema)], parameters)
        for node in _nodes(parameters):
            assert not (STRICT_UNSUPPORTED & node.keys()), node
            if "properties" in node:
                assert node["additionalProperties"] is False
                assert node["required"] == list(node["properties"])
            if "$ref" in node:
                assert list(node) == ["$ref"]


@pytest.mark.parametrize("name", ["with_model", "with_tree"])
def test_nulls_for_omitted_optionals_are_dropped_before_validation(registry: ToolRegistry, name: str) -> None:
    tool = registry.get(name)
    with pytest.raises(ValueError):  # a nested null for an optional, non-nullable field
        tool.validator(STRICT_ARGUMENTS[name])
    arguments = omit_strict_nulls(tool.parameters, STRICT_ARGUMENTS[name])
    tool.invoker(**tool.validator(arguments))


def test_a_null_the_tool_accepts_is_kept(registry: ToolRegistry) -> None:
    tool = registry.get("with_model")
    arguments = omit_strict_nulls(tool.parameters, STRICT_ARGUMENTS["with_model"])
    assert arguments["person"]["address"] == {"street": "1 Way", "city": "London", "zip": None}
    assert arguments["note"] is None
    assert "tags" not in arguments["person"]


def test_strict_optional_parameters_become_nullable(registry: ToolRegistry) -> None:
    registry.disable("with_dict")
    (schema,) = [s for s in registry.schemas("openai-chat", strict=True) if _name(s) == "with_enum"]
    properties = schema["function"]["parameters"]["properties"]
    assert properties["color"] == {"$ref": "#/$defs/Color"}
    assert properties["priority"] == {
        "description": "(default: 1)",
        "enum": [1, 2, None],
        "type": ["integer", "null"],
    }
    assert properties["mode"] == {
        "description": '(default: "fast")',
        "enum": ["fast", "slow", None],
        "type": ["string", "null"],
    }


@pytest.mark.parametrize("format", sorted(JSON_SCHEMA_DIALECTS))
def test_a_tool_that_cannot_be_strict_is_named_with_the_reason(registry: ToolRegistry, format: str) -> None:
    with pytest.raises(SchemaConversionError) as caught:
        registry.schemas(format=format, strict=True)
    recursive = {"with_tree": ["/$defs/Node: a recursive schema cannot be strict for Anthropic"]}
    assert caught.value.problems == {
        "with_dict": [
            "/properties/meta: an object with free-form keys (additionalProperties) cannot be strict"
        ],
        **(recursive if format == "anthropic" else {}),
    }
    assert f"for '{format} (strict)':\n  with_dict: /properties/meta:" in str(caught.value)


def test_gemini_schemas_match_the_sdk_types(registry: ToolRegistry) -> None:
    registry.disable("with_tree")
    (tool,) = registry.schemas(format="gemini")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unknown `type` only warns in the SDK
        validated = genai.Tool.model_validate(tool)
    declarations = {d.name: d for d in validated.function_declarations}
    assert sorted(declarations) == sorted(f.__name__ for f in ALL_TOOLS if f.__name__ != "with_tree")
    assert declarations["no_args"].parameters is None
    for declaration in tool["function_declarations"]:
        for node in _nodes(declaration.get("parameters")):
            assert not (
                {"$ref", "$defs", "additionalProperties", "additional_properties", "anyOf"} & node.keys()
            )
            assert isinstance(node.get("type", ""), str)
            assert all(isinstance(value, str) for value in node.get("enum", ()))


def test_gemini_inlines_refs_and_turns_null_variants_into_nullable(registry: ToolRegistry) -> None:
    registry.disable("with_tree")
    (tool,) = registry.schemas(format="gemini")
    declarations = {d["name"]: d for d in tool["function_declarations"]}
    person = declarations["with_model"]["parameters"]["properties"]["person"]
    assert person["properties"]["address"]["properties"]["zip"] == {
        "default": None,
        "nullable": True,
        "type": "STRING",
    }
    assert declarations["with_model"]["parameters"]["properties"]["note"]["nullable"] is True
    priority = declarations["with_enum"]["parameters"]["properties"]["priority"]
    assert priority == {"default": 1, "type": "INTEGER", "format": "enum", "enum": ["1", "2"]}
    assert declarations["with_dict"]["parameters"]["properties"]["meta"] == {"type": "OBJECT"}


def test_gemini_reports_recursive_schemas(registry: ToolRegistry) -> None:
    with pytest.raises(SchemaConversionError) as caught:
        registry.schemas(format="gemini")
    assert list(caught.value.problems) == ["with_tree"]
    assert "recursive" in caught.value.problems["with_tree"][0]
    assert "#/$defs/Node -> #/$defs/Node" in caught.value.problems["with_tree"][0]


def test_gemini_has_no_strict_mode(registry: ToolRegistry) -> None:
    with pytest.raises(ValueError, match="no strict mode"):
        registry.schemas(format="gemini", strict=True)


@pytest.mark.parametrize("format", ["openai-chat", "openai-responses", "anthropic", "gemini"])
@pytest.mark.parametrize("strict", [False, True])
def test_output_is_the_same_whatever_the_registration_order(format: str, strict: bool) -> None:
    if format == "gemini" and strict:
        pytest.skip("gemini has no strict mode")
    tools = [f for f in STRICT_OK if f.__name__ != "with_tree"]
    outputs = []
    for order in (tools, tools[::-1]):
        with ToolRegistry(executor=Serial()) as reg:
            for function in order:
                reg.register(function)
            outputs.append(json.dumps(reg.schemas(format=format, strict=strict)))
    assert outputs[0] == outputs[1]


def test_unknown_format_lists_the_installed_ones(registry: ToolRegistry) -> None:
    with pytest.raises(LookupError, match="anthropic, gemini, openai-chat, openai-responses"):
        registry.schemas(format="bedrock")
