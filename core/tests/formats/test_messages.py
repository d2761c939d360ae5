"""Results back: each provider's own message shapes, checked against the SDKs' request types."""

from __future__ import annotations

import base64
import json
from typing import Any

import pydantic
import pytest
from anthropic.types import MessageParam
from google.genai import types as genai
from openai.types.chat import ChatCompletionMessageParam
from openai.types.responses import ResponseInputItemParam
from toolwire import Image, Resource, Text, ToolCallError, ToolOutput, ToolRegistry
from toolwire.formats import GENERATED_ID_PREFIX

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
PDF = b"%PDF-1.4 tiny"


def chart() -> ToolOutput:
    """Draw a chart."""
    return ToolOutput(
        content=(
            Text("the chart"),
            Image(PNG, "image/png"),
            Resource("file:///r.pdf", "application/pdf", data=PDF),
        )
    )


def lookup(key: str) -> dict[str, Any]:
    """Look a key up."""
    return {"key": key, "values": [1, 2]}


def broken() -> str:
    """Always fails."""
    raise ToolCallError("the service is down")


CALLS = [
    {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"key": "k"}'}},
    {"id": "c2", "type": "function", "function": {"name": "broken", "arguments": "{}"}},
    {"id": "c3", "type": "function", "function": {"name": "chart", "arguments": "{}"}},
    {"id": "c4", "type": "function", "function": {"name": "nope", "arguments": "{}"}},
]


@pytest.fixture
def results(registry: ToolRegistry):
    for function in (chart, lookup, broken):
        registry.register(function)
    return registry.execute_tool_calls(CALLS)


def test_openai_chat(registry: ToolRegistry, results, sdk_valid) -> None:
    messages = registry.tool_messages(CALLS, results, include_assistant=True)  # the calls' shape
    sdk_valid(list[ChatCompletionMessageParam], messages)
    assistant, *tools, attachments = messages
    assert assistant["tool_calls"][0] == {
        "id": "c1",
        "type": "function",
        "function": {"name": "lookup", "arguments": '{"key": "k"}'},
    }
    assert [m["tool_call_id"] for m in tools] == ["c1", "c2", "c3", "c4"]
    assert json.loads(tools[0]["content"]) == {"key": "k", "values": [1, 2]}
    assert tools[1]["content"] == "tool_error: the service is down"
    assert tools[3]["content"].startswith("unknown_tool: no tool named 'nope'")
    assert attachments["role"] == "user"
    assert attachments["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()},
    }
    assert attachments["content"][2]["file"]["filename"] == "r.pdf"
    assert registry.tool_messages(CALLS[:1], results[:1])[0]["role"] == "tool"  # no assistant by default


def test_openai_responses(registry: ToolRegistry, results, sdk_valid) -> None:
    items = registry.tool_messages(registry.parse_calls(CALLS), results, format="openai-responses",
                                   include_assistant=True)
    sdk_valid(list[ResponseInputItemParam], items)
    assert [i["type"] for i in items] == ["function_call"] * 4 + ["function_call_output"] * 4
    outputs = items[4:]
    assert json.loads(outputs[0]["output"]) == {"key": "k", "values": [1, 2]}
    assert outputs[1]["output"] == "tool_error: the service is down"
    assert [part["type"] for part in outputs[2]["output"]] == ["input_text", "input_image", "input_file"]


def test_anthropic(registry: ToolRegistry, results, sdk_valid) -> None:
    messages = registry.tool_messages(results, format="anthropic")  # the results alone do
    sdk_valid(list[MessageParam], messages)
    (message,) = messages
    assert message["role"] == "user"
    blocks = message["content"]
    assert [b["tool_use_id"] for b in blocks] == ["c1", "c2", "c3", "c4"]
    assert [b.get("is_error", False) for b in blocks] == [False, True, False, True]
    assert [part["type"] for part in blocks[2]["content"]] == ["text", "image", "document"]
    assert blocks[2]["content"][1]["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": base64.b64encode(PNG).decode(),
    }


def test_gemini(registry: ToolRegistry, results) -> None:
    contents = registry.tool_messages(registry.parse_calls(CALLS), results, format="gemini", include_assistant=True)
    model_turn, user_turn = (genai.Content.model_validate(c) for c in contents)
    assert model_turn.role == "model" and model_turn.parts[0].function_call.args == {"key": "k"}
    responses = [part.function_response for part in user_turn.parts]
    assert [r.id for r in responses] == ["c1", "c2", "c3", "c4"]
    assert responses[0].response == {"output": {"key": "k", "values": [1, 2]}}
    assert responses[1].response == {"error": "tool_error: the service is down"}
    assert responses[2].response == {"output": "the chart"}
    assert [(p.inline_data.mime_type, p.inline_data.data) for p in responses[2].parts] == [
        ("image/png", PNG),
        ("application/pdf", PDF),
    ]


def test_gemini_leaves_generated_ids_out(registry: ToolRegistry) -> None:
    calls = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"function_call": {"name": "plain", "args": {"a": 1}}}]}}
        ]
    }
    results = registry.execute_tool_calls(calls)
    assert results[0].call_id.startswith(GENERATED_ID_PREFIX)
    (content,) = registry.tool_messages(calls, results, format="gemini")
    assert content["parts"] == [{"function_response": {"name": "plain", "response": {"output": 2.5}}}]


def test_the_sdk_check_catches_wrong_shapes(sdk_valid) -> None:
    with pytest.raises(pydantic.ValidationError):  # no tool_call_id
        sdk_valid(list[ChatCompletionMessageParam], [{"role": "tool", "content": "x"}])
    with pytest.raises(AssertionError):  # a misspelt key is dropped by the SDK type
        sdk_valid(
            list[MessageParam],
            [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a", "is_eror": True}]}],
        )


def test_the_dialect_comes_from_the_calls_shape(registry: ToolRegistry, results) -> None:
    anthropic_calls = [{"type": "tool_use", "id": c["id"], "name": c["function"]["name"], "input": {}}
                       for c in CALLS]
    [message] = registry.tool_messages(anthropic_calls, results)  # no format: Anthropic's, not OpenAI's
    assert message["role"] == "user" and message["content"][0]["type"] == "tool_result"
    assert registry.tool_messages(CALLS, results)[0]["role"] == "tool"


def test_a_format_that_contradicts_the_calls_is_refused(registry: ToolRegistry, results) -> None:
    anthropic_calls = [{"type": "tool_use", "id": "c1", "name": "lookup", "input": {"key": "k"}}]
    with pytest.raises(ValueError, match="these calls are in the 'anthropic' shape"):
        registry.tool_messages(anthropic_calls, results[:1], format="openai-chat")


def test_the_results_alone_are_enough(registry: ToolRegistry, results) -> None:
    messages = registry.tool_messages(results)
    assert [m["tool_call_id"] for m in messages if m["role"] == "tool"] == ["c1", "c2", "c3", "c4"]
    with pytest.raises(ValueError, match="pass the calls too"):
        registry.tool_messages(results, format="anthropic", include_assistant=True)
