"""The whole loop with each provider's real SDK types and a scripted stand-in model (no network):
register -> schemas -> the model's response object -> execute -> tool_messages -> the next request,
every request validated against the SDK's own request types."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from typing import Any, Literal

import anthropic.types as anthropic
import pydantic
import pytest
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
from google.genai import types as genai
from openai.types.chat import ChatCompletion
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming
from openai.types.responses import Response
from openai.types.responses.response_create_params import ResponseCreateParamsNonStreaming
from toolwire import ToolRegistry


def get_weather(city: str, unit: Literal["c", "f"] = "c") -> dict[str, Any]:
    """The current weather in a city."""
    return {"city": city, "temperature": 21 if unit == "c" else 70, "unit": unit}


def add(a: int, b: int, note: str | None = None) -> int:
    """Add two integers."""
    return a + b


@pytest.fixture
def registry() -> Iterator[ToolRegistry]:
    with ToolRegistry(executor="thread") as reg:
        reg.register(get_weather)
        reg.register(add)
        yield reg


def _materialise(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _materialise(item) for key, item in value.items()}
    if isinstance(value, str | bytes):
        return value
    if isinstance(value, list | tuple) or type(value).__name__ == "ValidatorIterator":
        return [_materialise(item) for item in value]
    return value


def sdk_valid(sdk_type: Any, request: dict[str, Any]) -> None:
    """`request` validates against the SDK's TypedDict, nested iterables included, with nothing dropped."""
    adapter = pydantic.TypeAdapter(sdk_type)
    assert _materialise(adapter.validate_python(request)) == _materialise(request)


# Each stand-in model answers turn 1 with three calls (two good, one broken) and turn 2, after reading the
# results in the provider's own shape, with text naming what it read.

GOOD_CALLS = [("get_weather", {"city": "Paris"}), ("add", {"a": 2, "b": 3})]
FINAL = "Paris is 21c; 2 + 3 = 5; the third call failed."


def _final_text(seen: list[str]) -> str:
    weather, total, failure = seen
    assert json.loads(weather) == {"city": "Paris", "temperature": 21, "unit": "c"}
    assert total == "5"
    assert failure.startswith(("invalid_arguments", "unknown_tool"))
    return FINAL


def openai_chat_model(request: dict[str, Any]) -> ChatCompletion:
    sdk_valid(CompletionCreateParamsNonStreaming, request)
    tool_messages = [m for m in request["messages"] if m["role"] == "tool"]
    if not tool_messages:
        calls = [
            {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
            for i, (n, a) in enumerate(GOOD_CALLS)
        ]
        calls.append(
            {"id": "call_bad", "type": "function", "function": {"name": "add", "arguments": '{"a": 1,'}}
        )
        message = {"role": "assistant", "content": None, "tool_calls": calls}
    else:
        assert [m["tool_call_id"] for m in tool_messages] == ["call_0", "call_1", "call_bad"]
        message = {"role": "assistant", "content": _final_text([m["content"] for m in tool_messages])}
    return ChatCompletion.model_validate(
        {
            "id": "cmpl",
            "object": "chat.completion",
            "created": 0,
            "model": request["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
        }
    )


def openai_responses_model(request: dict[str, Any]) -> Response:
    sdk_valid(ResponseCreateParamsNonStreaming, request)
    outputs = [i for i in request["input"] if i.get("type") == "function_call_output"]
    if not outputs:
        output: list[dict[str, Any]] = [{"type": "reasoning", "id": "rs_1", "summary": []}]
        output += [
            {
                "type": "function_call",
                "id": f"fc_{i}",
                "call_id": f"call_{i}",
                "name": n,
                "arguments": json.dumps(a),
                "status": "completed",
            }
            for i, (n, a) in enumerate(GOOD_CALLS)
        ]
        output.append(
            {
                "type": "function_call",
                "id": "fc_bad",
                "call_id": "call_bad",
                "name": "add",
                "arguments": "not json",
                "status": "completed",
            }
        )
    else:
        assert [o["call_id"] for o in outputs] == ["call_0", "call_1", "call_bad"]
        text = _final_text([o["output"] for o in outputs])
        output = [
            {
                "type": "message",
                "id": "m_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ]
    return Response.model_validate(
        {
            "id": "resp",
            "object": "response",
            "created_at": 0,
            "model": request["model"],
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        }
    )


def anthropic_model(request: dict[str, Any]) -> anthropic.Message:
    sdk_valid(MessageCreateParamsNonStreaming, request)
    last = request["messages"][-1]
    results = [b for b in last["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]
    if not results:
        content: list[dict[str, Any]] = [{"type": "text", "text": "Let me check."}]
        content += [
            {"type": "tool_use", "id": f"toolu_{i}", "name": n, "input": a}
            for i, (n, a) in enumerate(GOOD_CALLS)
        ]
        content.append({"type": "tool_use", "id": "toolu_bad", "name": "subtract", "input": {}})
    else:
        assert [b["tool_use_id"] for b in results] == ["toolu_0", "toolu_1", "toolu_bad"]
        assert [b.get("is_error", False) for b in results] == [False, False, True]
        content = [{"type": "text", "text": _final_text([b["content"] for b in results])}]
    return anthropic.Message.model_validate(
        {
            "id": "msg",
            "type": "message",
            "role": "assistant",
            "model": request["model"],
            "content": content,
            "stop_reason": "tool_use" if not results else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }
    )


def gemini_model(request: dict[str, Any]) -> genai.GenerateContentResponse:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config = genai.GenerateContentConfig.model_validate({"tools": request["tools"]})
        contents = [genai.Content.model_validate(c) for c in request["contents"]]
    assert {d.name for d in config.tools[0].function_declarations} == {"add", "get_weather"}
    responses = [p.function_response for p in contents[-1].parts if p.function_response is not None]
    if not responses:
        parts = [genai.Part(function_call=genai.FunctionCall(name=n, args=a)) for n, a in GOOD_CALLS]
        parts.append(genai.Part(function_call=genai.FunctionCall(name="subtract", args={})))
    else:
        assert [r.name for r in responses] == ["get_weather", "add", "subtract"]
        assert all(r.id is None for r in responses)  # the calls had none
        seen = [
            json.dumps(responses[0].response["output"]),
            str(responses[1].response["output"]),
            responses[2].response["error"],
        ]
        parts = [genai.Part(text=_final_text(seen))]
    return genai.GenerateContentResponse(
        candidates=[genai.Candidate(content=genai.Content(role="model", parts=parts))]
    )


def _chat_loop(registry: ToolRegistry, strict: bool) -> str:
    request: dict[str, Any] = {
        "model": "gpt-test",
        "tools": registry.schemas("openai-chat", strict=strict),
        "messages": [{"role": "user", "content": "Weather in Paris, and 2 + 3?"}],
    }
    while True:
        completion = openai_chat_model(request)
        results = registry.execute_tool_calls(completion)
        if not results:
            return completion.choices[0].message.content
        request["messages"] += registry.tool_messages(
            completion, results, format="openai-chat", include_assistant=True
        )


def _responses_loop(registry: ToolRegistry, strict: bool) -> str:
    request: dict[str, Any] = {
        "model": "gpt-test",
        "tools": registry.schemas("openai-responses", strict=strict),
        "input": [{"role": "user", "content": "Weather in Paris, and 2 + 3?"}],
    }
    while True:
        response = openai_responses_model(request)
        results = registry.execute_tool_calls(response)
        if not results:
            return response.output_text
        request["input"] += [item.model_dump(exclude_none=True) for item in response.output]
        request["input"] += registry.tool_messages(response, results, format="openai-responses")


def _anthropic_loop(registry: ToolRegistry, strict: bool) -> str:
    request: dict[str, Any] = {
        "model": "claude-test",
        "max_tokens": 1024,
        "tools": registry.schemas("anthropic", strict=strict),
        "messages": [{"role": "user", "content": "Weather in Paris, and 2 + 3?"}],
    }
    while True:
        message = anthropic_model(request)
        results = registry.execute_tool_calls(message)
        if not results:
            return message.content[0].text
        request["messages"].append(
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]}
        )
        request["messages"] += registry.tool_messages(message, results, format="anthropic")


def _gemini_loop(registry: ToolRegistry, strict: bool) -> str:
    request: dict[str, Any] = {
        "tools": registry.schemas("gemini"),
        "contents": [{"role": "user", "parts": [{"text": "Weather in Paris, and 2 + 3?"}]}],
    }
    while True:
        response = gemini_model(request)
        results = registry.execute_tool_calls(response)
        if not results:
            return response.text
        request["contents"].append(response.candidates[0].content.model_dump(exclude_none=True))
        request["contents"] += registry.tool_messages(response, results, format="gemini")


LOOPS: dict[str, Callable[[ToolRegistry, bool], str]] = {
    "openai-chat": _chat_loop,
    "openai-responses": _responses_loop,
    "anthropic": _anthropic_loop,
    "gemini": _gemini_loop,
}


@pytest.mark.parametrize("strict", [False, True], ids=["plain", "strict"])
@pytest.mark.parametrize("provider", sorted(LOOPS))
def test_a_two_turn_loop_closes_without_a_converter(
    registry: ToolRegistry, provider: str, strict: bool
) -> None:
    if provider == "gemini" and strict:
        pytest.skip("gemini has no strict mode")
    assert LOOPS[provider](registry, strict) == FINAL


def test_a_strict_model_may_send_null_for_what_it_leaves_out(registry: ToolRegistry) -> None:
    (add_schema,) = [
        s for s in registry.schemas("openai-chat", strict=True) if s["function"]["name"] == "add"
    ]
    assert add_schema["function"]["parameters"]["required"] == ["a", "b", "note"]
    call = {
        "id": "c",
        "type": "function",
        "function": {"name": "add", "arguments": '{"a": 1, "b": 2, "note": null}'},
    }
    assert [r.value for r in registry.execute_tool_calls([call])] == [3]
