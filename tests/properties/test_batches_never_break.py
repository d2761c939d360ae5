"""No input can break a batch (issue 18): calls of every shape the dialects accept and of shapes none
accepts, with ids, names and arguments drawn from hostile text and near-JSON, against tools covering the
native loader's types, on the thread and process backends and back through every dialect.

Properties: exactly one result per call, in order, ids preserved; never an exception; never a hang; every
error has a kind and a message; arguments that are valid are never refused.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from toolwire import ErrorKind, ToolRegistry

DIALECTS = ["openai-chat", "openai-responses", "anthropic", "gemini"]
TOOL_NAMES = ["numbers", "text", "collections", "choices", "model", "anything", "variadic"]
CALL_TIMEOUT_S = 20.0

# -- text nobody thought of ------------------------------------------------------------------------------

hostile_text = st.one_of(
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=30),  # surrogates included
    st.sampled_from(["", "\x00", "\u202e\u202dabc", "\ud800", "\udfff\ud800", "💥", "a\x00b", " ", "\n"]),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True), hostile_text,
)
json_values = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)),
    max_leaves=12,
)


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"k": value}
    return {"data": value}


@st.composite
def near_json(draw: st.DrawFn) -> str:
    """JSON text, mostly broken: truncated, trailing garbage, NaN and Infinity, duplicate keys, deep."""
    base = draw(st.dictionaries(hostile_text, json_values, max_size=4))
    try:
        text = json.dumps(base, ensure_ascii=draw(st.booleans()), allow_nan=True)
    except ValueError:
        text = "{}"
    choice = draw(st.integers(0, 8))
    if choice == 0:
        return text[: draw(st.integers(0, len(text)))]
    if choice == 1:
        return text + draw(st.sampled_from([" x", "}", "]", ",", "\x00", " {}"]))
    if choice == 2:
        return '{"a": NaN, "b": Infinity, "c": -Infinity}'
    if choice == 3:
        return '{"a": 1, "a": "two", "a": [3]}'
    if choice == 4:
        depth = draw(st.sampled_from([63, 64, 65, 200, 2000, 20_000]))
        return '{"data": ' + "[" * depth + "]" * depth + "}"
    if choice == 5:
        return json.dumps(nested(draw(st.sampled_from([62, 63, 64, 65, 1000]))))
    if choice == 6:
        return draw(hostile_text)
    if choice == 7:
        return '{"value": "' + "y" * draw(st.sampled_from([1, 1_000_000])) + '"}'
    return text


arguments = st.one_of(
    st.dictionaries(hostile_text, json_values, max_size=4),
    st.builds(nested, st.sampled_from([10, 63, 64, 65, 500, 1500])),
    near_json(),
    json_values,
)
names = st.one_of(st.sampled_from([*TOOL_NAMES, "missing", ""]), hostile_text)
ids = st.one_of(hostile_text, st.integers(), st.none())


# -- calls of every shape ------------------------------------------------------------------------------


def as_text(value: Any) -> Any:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        return str(value)


@st.composite
def one_call(draw: st.DrawFn) -> Any:
    """One item holding exactly one call (or nothing any dialect knows: then one unrecognised call)."""
    call_id, name, args = draw(ids), draw(names), draw(arguments)
    shape = draw(st.sampled_from(["chat", "chat-sdk", "responses", "responses-sdk", "anthropic", "anthropic-sdk",
                                  "gemini", "gemini-sdk", "garbage"]))
    if shape == "chat":
        return {"id": call_id, "type": "function", "function": {"name": name, "arguments": as_text(args)}}
    if shape == "chat-sdk":
        from openai.types.chat.chat_completion_message_function_tool_call import (
            ChatCompletionMessageFunctionToolCall,
            Function,
        )

        return ChatCompletionMessageFunctionToolCall.model_construct(
            id=call_id, type="function", function=Function.model_construct(name=name, arguments=as_text(args)))
    if shape == "responses":
        return {"type": "function_call", "call_id": call_id, "name": name, "arguments": as_text(args)}
    if shape == "responses-sdk":
        from openai.types.responses import ResponseFunctionToolCall

        return ResponseFunctionToolCall.model_construct(type="function_call", call_id=call_id, name=name,
                                                        arguments=as_text(args))
    if shape == "anthropic":
        return {"type": "tool_use", "id": call_id, "name": name, "input": args}
    if shape == "anthropic-sdk":
        from anthropic.types import ToolUseBlock

        return ToolUseBlock.model_construct(type="tool_use", id=call_id, name=name, input=args)
    if shape == "gemini":
        return {"function_call": {"id": call_id, "name": name, "args": args}}
    if shape == "gemini-sdk":
        from google.genai import types

        return types.FunctionCall.model_construct(id=call_id, name=name, args=args)
    return draw(st.one_of(st.integers(), st.none(), st.just({"weird": True}), st.just([]), hostile_text,
                          st.just({"function": "not a dict"})))


batches = st.lists(one_call(), min_size=1, max_size=8)


# -- the registry under test -----------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["thread", "process"])
def registry(request: pytest.FixtureRequest, registry_of_tools: Any) -> Iterator[ToolRegistry]:
    with registry_of_tools(request.param) as registry:
        yield registry


def flat(items: list[Any], registry: ToolRegistry) -> list[Any]:
    return registry.parse_calls(items)


@given(items=batches)
def test_every_call_gets_exactly_one_result_in_order(registry: ToolRegistry, items: list[Any]) -> None:
    expected = flat(items, registry)
    assert len(expected) == len(items)  # each item holds one call (or is one unrecognised call)
    results = registry.execute_tool_calls(items, timeout=CALL_TIMEOUT_S)
    assert [(r.call_id, r.name) for r in results] == [(c.id, c.name) for c in expected]
    for result in results:
        assert result.is_error == (result.error is not None)
        if result.error is not None:
            assert result.error.kind in ErrorKind and result.error.message.strip()
            assert result.error.kind is not ErrorKind.TIMEOUT, result.error  # no tool here can hang
    registry.tool_messages(items, results)  # in the shape the calls came in (one of them, when mixed)
    registry.tool_messages(items, results, include_assistant=True)
    calls = registry.parse_calls(items)
    for dialect in DIALECTS:
        registry.tool_messages(calls, results, format=dialect, include_assistant=True)
        registry.tool_messages(results, format=dialect)


@given(items=batches)
def test_parsed_calls_parse_to_themselves(registry: ToolRegistry, items: list[Any]) -> None:
    """What `parse_calls` gives is a batch of its own: passed again (to run it, or to answer its approvals by
    id), each call keeps its id and name (Gemini's generated ids were completed a second time)."""
    calls = registry.parse_calls(items)
    assert [(c.id, c.name) for c in registry.parse_calls(calls)] == [(c.id, c.name) for c in calls]


valid_arguments = st.one_of(
    st.builds(lambda a, b, flag: ("numbers", {"a": a, "b": b, "flag": flag}),
              st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False), st.booleans()),
    st.builds(lambda value, count: ("text", {"value": value, "count": count}),
              st.text(max_size=50), st.integers(-5, 5)),
    st.builds(lambda items, mapping: ("collections", {"items": items, "mapping": mapping}),
              st.lists(st.integers(), max_size=5), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)),
    st.builds(lambda color, mode: ("choices", {"color": color, "mode": mode}),
              st.sampled_from(["red", "green"]), st.sampled_from(["fast", "slow"])),
    st.builds(lambda x, y: ("model", {"point": {"x": x, "y": y}}), st.integers(), st.floats(-1e9, 1e9)),
    st.builds(lambda data: ("anything", {"data": data}), json_values.filter(lambda v: not _has_nan(v))),
)


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value) or math.isinf(value)
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nan(v) for v in value)
    return False


@settings(max_examples=200)
@given(calls=st.lists(valid_arguments, min_size=1, max_size=6), as_json=st.booleans())
def test_nothing_that_validates_is_refused(registry: ToolRegistry, calls: list[tuple], as_json: bool) -> None:
    items = [{"id": f"c{i}", "type": "function",
              "function": {"name": name, "arguments": json.dumps(args) if as_json else args}}
             for i, (name, args) in enumerate(calls)]
    results = registry.execute_tool_calls(items, timeout=CALL_TIMEOUT_S)
    assert [r.error for r in results] == [None] * len(calls), [r.error for r in results]


def test_the_surrogate_reproduction_returns_two_results(registry: ToolRegistry) -> None:
    results = registry.execute_tool_calls([
        {"id": "x", "type": "function", "function": {"name": "text", "arguments": '{"value": "\ud800"}'}},
        {"id": "y", "type": "function", "function": {"name": "text", "arguments": '{"value": "x"}'}},
    ])
    assert [r.call_id for r in results] == ["x", "y"] and results[1].value == "x"
    assert results[0].value == "\ud800" or results[0].error.kind == ErrorKind.INVALID_ARGUMENTS


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_deep_nesting_is_refused_as_too_deep(registry: ToolRegistry, depth: int) -> None:
    deep = nested(depth)
    text = '{"data": ' + "[" * depth + "]" * depth + "}"
    results = registry.execute_tool_calls([
        {"type": "tool_use", "id": "parsed", "name": "anything", "input": deep},
        {"id": "text", "type": "function", "function": {"name": "anything", "arguments": text}},
        {"id": "ok", "type": "function", "function": {"name": "anything", "arguments": '{"data": 1}'}},
    ])
    for result in results[:2]:
        assert result.error.kind == ErrorKind.INVALID_ARGUMENTS
        assert "nest deeper than 64 levels" in result.content
    assert results[2].value == "ok"
    parsed = registry.parse_calls([{"type": "tool_use", "id": "parsed", "name": "anything", "input": deep}])
    for dialect in DIALECTS:  # the calls go back to the model too, deep arguments and all
        registry.tool_messages(parsed, results[:1], format=dialect, include_assistant=True)
