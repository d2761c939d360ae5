"""The schema rewrites on hand-written JSON Schemas (what OpenAPI and MCP tools bring)."""

from __future__ import annotations

import warnings

import pytest
from google.genai import types as genai
from toolwire import Tool, ToolCall, ToolRegistry
from toolwire.formats import SchemaConversionError, omit_strict_nulls

from .conftest import Serial

MCP_LIKE = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "minLength": 1, "format": "email"},
        "limit": {"type": ["integer", "null"], "default": 10},
        "kind": {"oneOf": [{"const": "a"}, {"const": "b"}]},
        "point": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}]},
        "either": {"type": ["string", "integer"]},
        "filters": {
            "allOf": [
                {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]},
                {"properties": {"y": {"type": "integer"}}},
            ]
        },
        "anything": {},
    },
    "required": ["query"],
    "additionalProperties": False,
}


def _registry(parameters: dict) -> ToolRegistry:
    registry = ToolRegistry(executor=Serial())
    registry.add(Tool("search", "Search.", parameters, invoker=lambda **kwargs: kwargs))
    return registry


def test_gemini_rewrites_what_it_does_not_support() -> None:
    with _registry(MCP_LIKE) as registry:
        (tool,) = registry.schemas("gemini")
    properties = tool["function_declarations"][0]["parameters"]["properties"]
    assert properties == {
        "query": {"min_length": 1, "type": "STRING", "description": '(format: "email")'},
        "limit": {"default": 10, "nullable": True, "type": "INTEGER"},
        "kind": {"any_of": [{"type": "STRING", "enum": ["a"]}, {"type": "STRING", "enum": ["b"]}]},
        "point": {"type": "ARRAY", "items": {"type": "NUMBER"}},
        "either": {"any_of": [{"type": "STRING"}, {"type": "INTEGER"}]},
        "filters": {
            "type": "OBJECT",
            "properties": {"x": {"type": "STRING"}, "y": {"type": "INTEGER"}},
            "required": ["x"],
        },
        "anything": {
            "any_of": [{"type": "STRING"}, {"type": "NUMBER"}, {"type": "BOOLEAN"}, {"type": "OBJECT"}]
        },
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        genai.Tool.model_validate(tool)


def test_gemini_leaves_out_a_property_that_must_never_be_given() -> None:
    schema = {"type": "object", "properties": {"any": True, "never": False, "n": {"type": "integer"}},
              "required": ["never"]}
    with _registry(schema) as registry:
        (tool,) = registry.schemas("gemini")
    parameters = tool["function_declarations"][0]["parameters"]
    assert sorted(parameters["properties"]) == ["any", "n"]  # `false` read as "anything", as `true` is
    assert "required" not in parameters
    genai.Tool.model_validate(tool)


def test_strict_names_every_problem_of_a_tool() -> None:
    with _registry(MCP_LIKE) as registry, pytest.raises(SchemaConversionError) as caught:
        registry.schemas("openai-responses", strict=True)
    assert caught.value.problems == {
        "search": [
            "/properties/point: a tuple (prefixItems) cannot be strict",
            "/properties/anything: a value of any type cannot be strict",
        ]
    }


@pytest.mark.parametrize("dialect", ["openai-chat", "openai-responses", "anthropic", "gemini"])
def test_strict_auto_makes_strict_each_tool_that_can_be(dialect: str) -> None:
    with _registry(MCP_LIKE) as registry:
        registry.add(Tool("add", "Add.", {"type": "object", "properties": {"a": {"type": "integer"}}},
                          invoker=lambda **kwargs: kwargs))
        loose, auto = registry.schemas(dialect), registry.schemas(dialect, strict="auto")
        if dialect == "gemini":  # no strict mode: strict nowhere
            assert auto == loose
            return
        [strict_add] = [tool for tool in auto if "search" not in str(tool)]
        assert auto == [strict_add, loose[1]]  # sorted by name: add, search
        registry.disable("search")
        assert registry.schemas(dialect, strict=True) == [strict_add]
        with pytest.raises(ValueError, match="strict must be True, False or 'auto', not 'yes'"):
            registry.schemas(dialect, strict="yes")  # type: ignore[arg-type]


def test_strict_rewrites_the_rest() -> None:
    schema = {k: v for k, v in MCP_LIKE["properties"].items() if k not in ("point", "anything")}
    with _registry({"type": "object", "properties": schema, "required": ["query"]}) as registry:
        (tool,) = registry.schemas("openai-responses", strict=True)
    assert tool["parameters"] == {
        "type": "object",
        "properties": {
            "query": {"format": "email", "description": "(minLength: 1)", "type": "string"},
            "limit": {"description": "(default: 10)", "type": ["integer", "null"]},
            "kind": {"anyOf": [{"const": "a"}, {"const": "b"}, {"type": "null"}]},
            "either": {"type": ["string", "integer", "null"]},
            "filters": {
                "type": ["object", "null"],
                "properties": {"x": {"type": "string"}, "y": {"type": ["integer", "null"]}},
                "required": ["x", "y"],
                "additionalProperties": False,
            },
        },
        "required": ["query", "limit", "kind", "either", "filters"],
        "additionalProperties": False,
    }


def test_anthropic_strict_is_its_narrower_subset() -> None:
    """No list of types, no bounds (hints instead), `minItems` of 0 or 1 only, its own string formats, every
    definition under `$defs`: what its SDK's `transform_schema` leaves as it is (the property test checks that)."""
    schema = {"type": "object", "required": ["query", "tags"], "properties": {
        "query": {"type": "string", "format": "email", "minLength": 1, "pattern": "^a"},
        "size": {"type": "integer", "minimum": 1, "maximum": 9},
        "tags": {"type": "array", "items": {"type": "string", "format": "color"}, "minItems": 1, "maxItems": 3},
        "either": {"type": ["string", "object"], "properties": {"x": {"type": "string"}}, "required": ["x"]},
        "mode": {"type": "string", "enum": ["fast", "slow"]},
        "old": {"$ref": "#/definitions/Old"}},
        "definitions": {"Old": {"type": "integer", "multipleOf": 2}}}
    with _registry(schema) as registry:
        (tool,) = registry.schemas("anthropic", strict=True)
    assert tool["input_schema"] == {
        "type": "object",
        "properties": {
            "query": {"format": "email", "description": '(minLength: 1, pattern: "^a")', "type": "string"},
            "size": {"description": "(minimum: 1, maximum: 9)", "anyOf": [{"type": "integer"}, {"type": "null"}]},
            "tags": {"minItems": 1, "description": "(maxItems: 3)", "type": "array",
                     "items": {"description": '(format: "color")', "type": "string"}},
            "either": {"anyOf": [
                {"type": "string"}, {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"],
                                     "additionalProperties": False}, {"type": "null"}]},
            "mode": {"anyOf": [{"enum": ["fast", "slow"]}, {"type": "null"}]},
            "old": {"anyOf": [{"$ref": "#/$defs/Old"}, {"type": "null"}]},
        },
        "required": ["query", "size", "tags", "either", "mode", "old"],
        "additionalProperties": False,
        "$defs": {"Old": {"description": "(multipleOf: 2)", "type": "integer"}},
    }


def test_a_parameterless_tool_is_an_empty_object_everywhere() -> None:
    with _registry({}) as registry:
        assert registry.schemas("openai-chat", strict=True)[0]["function"]["parameters"] == {
            "type": "object",
            "properties": {},
            "required": [],
            "additionalProperties": False,
        }
        assert registry.schemas("anthropic")[0]["input_schema"] == {"type": "object", "properties": {}}
        assert registry.schemas("gemini") == [
            {"function_declarations": [{"name": "search", "description": "Search."}]}
        ]


def test_omit_strict_nulls_keeps_nulls_the_schema_accepts() -> None:
    arguments = {"query": "q", "limit": None, "kind": None, "filters": {"x": "1", "y": None}, "extra": None}
    assert omit_strict_nulls(MCP_LIKE, arguments) == {
        "query": "q",
        "limit": None,
        "filters": {"x": "1"},
        "extra": None,
    }


def test_omit_strict_nulls_drops_a_null_any_part_of_the_schema_refuses() -> None:
    schema = {
        "type": "object",
        "$defs": {"Pet": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "properties": {
            "size": {"type": "string", "enum": ["S", "M", None]},  # the type refuses null, whatever enum lists
            "owner": {"allOf": [{"$ref": "#/$defs/Pet"}], "nullable": True},  # OpenAPI 3.0's nullable reference
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
    }
    strict_call = {"size": None, "owner": None, "note": None}  # a strict-mode model leaving all three out
    assert omit_strict_nulls(schema, strict_call) == {"note": None}
    with _registry(schema) as registry:  # both nulls were kept, and the tool's validator refused the call
        (result,) = registry.execute_tool_calls([ToolCall("c1", "search", strict_call)])
        assert (result.error, result.value) == (None, {"note": None})


def test_a_reference_into_a_list_of_schemas_resolves() -> None:
    """zod-to-json-schema points at a schema it reused wherever it first wrote it, inside `anyOf` too."""
    place = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    schema = {"type": "object", "properties": {"from": {"anyOf": [place, {"type": "null"}]},
                                               "to": {"$ref": "#/properties/from/anyOf/0"}}, "required": ["to"]}
    with _registry(schema) as registry:  # each was a SchemaConversionError: cannot resolve the $ref
        (gemini,) = registry.schemas("gemini")
        assert gemini["function_declarations"][0]["parameters"]["properties"]["to"]["required"] == ["city"]
        assert registry.schemas("openai-chat", strict=True)[0]["function"]["parameters"]["required"] == ["from", "to"]


UNION_ROOT = {  # what zod-to-json-schema writes for an MCP tool taking "an id or a path" (a root union)
    "type": "object",
    "oneOf": [
        {"type": "object", "properties": {"id": {"type": "string"}, "ref": {"type": "string"}}, "required": ["id"],
         "additionalProperties": False},
        {"type": "object", "properties": {"path": {"type": "string"}, "ref": {"$ref": "#/oneOf/0/properties/ref"}},
         "required": ["path"], "additionalProperties": False},
    ],
    "allOf": [{"properties": {"verbose": {"type": "boolean"}}}],
}


def test_anthropic_and_strict_schemas_have_no_variants_at_the_root() -> None:
    with _registry(UNION_ROOT) as registry:
        anthropic = registry.schemas("anthropic")[0]["input_schema"]
        strict = registry.schemas("openai-chat", strict=True)[0]["function"]["parameters"]
        plain = registry.schemas("openai-chat")[0]["function"]["parameters"]
    for root in (anthropic, strict):  # the Messages API refuses any of them there ("at the top level")
        assert not {"allOf", "anyOf", "oneOf"} & root.keys()
        assert set(root["properties"]) == {"verbose", "id", "ref", "path"}
        assert 'the arguments must match exactly one of these: [{"properties": ["id", "ref"], "required": ["id"]' \
            in root["description"]
    assert anthropic["properties"]["ref"] == {"type": "string"}  # the reference into a variant, inlined
    assert "required" not in anthropic  # no argument is required by every variant
    assert strict["required"] == ["verbose", "id", "ref", "path"]
    assert strict["properties"]["path"] == {"type": ["string", "null"]}
    assert plain["oneOf"] == UNION_ROOT["oneOf"]  # OpenAI takes them as they are when not strict


def test_a_strict_models_call_of_a_root_union_runs_and_a_call_breaking_it_says_how() -> None:
    strict_call = {"verbose": None, "id": None, "ref": None, "path": "src/app.py"}
    assert omit_strict_nulls(UNION_ROOT, strict_call) == {"path": "src/app.py"}
    with _registry(UNION_ROOT) as registry:
        ok, both = registry.execute_tool_calls([
            ToolCall("1", "search", strict_call), ToolCall("2", "search", {"id": "7", "path": "src/app.py"})])
    assert ok.value == {"path": "src/app.py"}
    assert both.is_error and "is not valid under any of the schemas listed in the 'oneOf' keyword" in both.content


def test_a_call_valid_as_sent_is_never_refused_for_its_nulls() -> None:
    open_variants = {"type": "object", "oneOf": [  # without `b`, the call would match both variants
        {"properties": {"a": {"type": "string"}}, "required": ["a"]}, {"properties": {"b": {"type": "string"}}}]}
    with _registry(open_variants) as registry:
        sent, cleared = registry.execute_tool_calls([ToolCall("1", "search", {"a": "x", "b": None}),
                                                     ToolCall("2", "search", {"a": "x"})])
    assert sent.value == {"a": "x", "b": None}
    assert cleared.is_error and "valid under more than one of the schemas listed in the 'oneOf'" in cleared.content
