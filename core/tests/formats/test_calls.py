"""Tool calls in: every provider's shapes, as dicts and as the SDKs' own objects, with no format named."""

from __future__ import annotations

import json
from typing import Any

import anthropic.types as anthropic
import pytest
from google.genai import types as genai
from openai.types.chat import ChatCompletion
from openai.types.responses import Response
from toolwire import ErrorKind, ToolCall, ToolRegistry
from toolwire.formats import GENERATED_ID_PREFIX

EXPECTED = [ToolCall("id_1", "plain", {"a": 1}), ToolCall("id_2", "with_enum", {"color": "green"})]


def chat_completion() -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "id_1",
                            "type": "function",
                            "function": {"name": "plain", "arguments": '{"a": 1}'},
                        },
                        {
                            "id": "id_2",
                            "type": "function",
                            "function": {"name": "with_enum", "arguments": '{"color": "green"}'},
                        },
                    ],
                },
            }
        ],
    }


def response() -> dict[str, Any]:
    return {
        "id": "r1",
        "object": "response",
        "created_at": 0,
        "model": "gpt-4o",
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {
                "type": "message",
                "id": "m1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Let me see.", "annotations": []}],
            },
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "id_1",
                "name": "plain",
                "arguments": '{"a":1}',
            },
            {
                "type": "function_call",
                "id": "fc_2",
                "call_id": "id_2",
                "name": "with_enum",
                "arguments": '{"color":"green"}',
            },
        ],
    }


def message() -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "text", "text": "Let me see."},
            {"type": "tool_use", "id": "id_1", "name": "plain", "input": {"a": 1}},
            {"type": "tool_use", "id": "id_2", "name": "with_enum", "input": {"color": "green"}},
        ],
    }


def gemini_response(ids: bool = True) -> dict[str, Any]:
    def call(call_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
        return {"function_call": {"name": name, "args": args, **({"id": call_id} if ids else {})}}

    return {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "Let me see."},
                        call("id_1", "plain", {"a": 1}),
                        call("id_2", "with_enum", {"color": "green"}),
                    ],
                }
            }
        ]
    }


SHAPES = {
    # name: (the whole response as a dict, its SDK object, the calls as dicts, the calls as SDK objects)
    "openai-chat": (
        chat_completion,
        lambda: ChatCompletion.model_validate(chat_completion()),
        lambda: chat_completion()["choices"][0]["message"]["tool_calls"],
        lambda: ChatCompletion.model_validate(chat_completion()).choices[0].message.tool_calls,
    ),
    "openai-responses": (
        response,
        lambda: Response.model_validate(response()),
        lambda: response()["output"],
        lambda: Response.model_validate(response()).output,
    ),
    "anthropic": (
        message,
        lambda: anthropic.Message.model_validate(message()),
        lambda: message()["content"],
        lambda: anthropic.Message.model_validate(message()).content,
    ),
    "gemini": (
        gemini_response,
        lambda: genai.GenerateContentResponse.model_validate(gemini_response()),
        lambda: gemini_response()["candidates"][0]["content"]["parts"],
        lambda: genai.GenerateContentResponse.model_validate(gemini_response()).candidates[0].content.parts,
    ),
}


@pytest.mark.parametrize("provider", sorted(SHAPES))
@pytest.mark.parametrize("shape", ["response dict", "response object", "call dicts", "call objects"])
def test_calls_are_found_in_every_shape(registry: ToolRegistry, provider: str, shape: str) -> None:
    index = ["response dict", "response object", "call dicts", "call objects"].index(shape)
    calls = SHAPES[provider][index]()
    results = registry.execute_tool_calls(calls)
    assert [(r.call_id, r.name, r.value, r.is_error) for r in results] == [
        ("id_1", "plain", 2.5, False),
        ("id_2", "with_enum", "green-1-fast", False),
    ]


def test_the_message_level_shapes_are_found_too(registry: ToolRegistry) -> None:
    chat_message = ChatCompletion.model_validate(chat_completion()).choices[0].message
    gemini_content = genai.GenerateContentResponse.model_validate(gemini_response()).candidates[0].content
    for calls in (
        chat_message,
        chat_message.model_dump(),
        gemini_content,
        gemini_content.model_dump(),
        [
            c.model_dump()
            for c in ChatCompletion.model_validate(chat_completion()).choices[0].message.tool_calls
        ],
    ):
        results = registry.execute_tool_calls(calls)
        assert [(r.call_id, r.is_error) for r in results] == [("id_1", False), ("id_2", False)]


def test_gemini_calls_without_ids_get_stable_distinct_ids(registry: ToolRegistry) -> None:
    payload = gemini_response(ids=False)
    parts = payload["candidates"][0]["content"]["parts"]
    parts.append(parts[1])  # the same call twice
    first = registry.execute_tool_calls(genai.GenerateContentResponse.model_validate(payload))
    second = registry.execute_tool_calls(payload)
    ids = [r.call_id for r in first]
    assert ids == [r.call_id for r in second]
    assert ids == [
        f"{GENERATED_ID_PREFIX}plain_1",
        f"{GENERATED_ID_PREFIX}with_enum_1",
        f"{GENERATED_ID_PREFIX}plain_2",
    ]


def test_gemini_calls_parsed_once_keep_their_ids_when_passed_again(registry: ToolRegistry) -> None:
    """The ids given to id-less calls are completed once: calls parsed (`parse_calls`) and then executed, or
    answered with `approvals=` by those ids, keep them (they became `twgen_plain_1_1`, and results no longer
    matched their calls). A new id-less call beside them takes a rank no call has."""
    payload = gemini_response(ids=False)
    calls = registry.parse_calls(payload)
    ids = [call.id for call in calls]
    assert ids == [f"{GENERATED_ID_PREFIX}plain_1", f"{GENERATED_ID_PREFIX}with_enum_1"]
    assert [result.call_id for result in registry.execute_tool_calls(calls)] == ids
    fresh = payload["candidates"][0]["content"]["parts"][1]
    assert [call.id for call in registry.parse_calls([*calls, fresh])] == [*ids, f"{GENERATED_ID_PREFIX}plain_2"]


def test_a_batch_of_mixed_providers_is_fine(registry: ToolRegistry) -> None:
    calls = [chat_completion()["choices"][0]["message"]["tool_calls"][0], message()["content"][3]]
    assert [r.value for r in registry.execute_tool_calls(calls)] == [2.5, "green-1-fast"]


def test_malformed_calls_are_their_own_invalid_arguments_results(registry: ToolRegistry) -> None:
    calls = [
        {"id": "ok", "type": "function", "function": {"name": "plain", "arguments": '{"a": 2}'}},
        {"id": "no_name", "type": "function", "function": {"arguments": "{}"}},
        {"id": "bad_json", "type": "function", "function": {"name": "plain", "arguments": '{"a": 1'}},
        {"type": "function_call", "call_id": "not_object", "name": "plain", "arguments": "[1, 2]"},
        {"type": "tool_use", "id": "no_name_2", "input": {}},
        42,
        {"mystery": True},
    ]
    results = registry.execute_tool_calls(calls)
    assert results[0].value == 3.5 and not results[0].is_error
    assert [r.error.kind for r in results[1:]] == [ErrorKind.INVALID_ARGUMENTS] * 6
    assert [r.call_id for r in results] == ["ok", "no_name", "bad_json", "not_object", "no_name_2", "", ""]
    assert results[2].error.message.endswith('not valid JSON (EOF while parsing an object at line 1 column 7): {"a": 1')
    assert results[3].error.message.endswith("must be a JSON object, got: [1, 2]")
    assert results[5].error.message == ("the call has no tool name, or is not a call in a provider's shape (OpenAI "
                                        "chat or Responses, Anthropic, Gemini): 42")  # it said "no tool name" alone


def test_a_response_without_calls_is_an_empty_batch(registry: ToolRegistry) -> None:
    text_only = chat_completion()
    text_only["choices"][0]["message"] = {"role": "assistant", "content": "Done.", "tool_calls": None}
    assert registry.execute_tool_calls(ChatCompletion.model_validate(text_only)) == []
    assert (
        registry.execute_tool_calls(
            {"candidates": [{"content": {"role": "model", "parts": [{"text": "x"}]}}]}
        )
        == []
    )


def test_arguments_are_parsed_once_as_json(registry: ToolRegistry) -> None:
    raw = chat_completion()["choices"][0]["message"]["tool_calls"][0]
    (result,) = registry.execute_tool_calls([raw])
    assert json.loads(raw["function"]["arguments"]) == {"a": 1} and result.value == 2.5
