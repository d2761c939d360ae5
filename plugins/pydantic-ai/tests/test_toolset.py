"""A pydantic-ai agent whose tools are a toolwire registry, driven offline by pydantic-ai's own test
models: `FunctionModel` scripts a turn of several calls (one invalid, one that hangs past its deadline
on the process backend); `TestModel` calls every tool with arguments it makes up from the schemas."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_ai import Agent
from pydantic_ai.messages import BinaryContent, ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.test import TestModel
from toolwire import Tool, ToolRegistry
from toolwire.testing import PIXEL, AcceptAll, BatchSizes, add, conformance_tools, media, pid, registry_of
from toolwire_pydantic_ai import registry_toolset


@pytest.fixture
def process_registry() -> Iterator[ToolRegistry]:
    with registry_of(["add", "hang", "pid"], EXECUTOR="process", WORKERS="2", TIMEOUT="1") as registry:
        yield registry


def scripted_turn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """First request: five calls at once. Next: report what came back, part by part."""
    if len(messages) == 1:
        return ModelResponse(parts=[
            ToolCallPart("add", {"a": 20, "b": 22}, tool_call_id="ok"),
            ToolCallPart("add", {"a": "twenty", "b": 22}, tool_call_id="bad"),
            ToolCallPart("hang", {"seconds": 30}, tool_call_id="stuck"),
            ToolCallPart("pid", {}, tool_call_id="pid1"),
            ToolCallPart("pid", {}, tool_call_id="pid2"),
        ])
    seen = {}
    for part in messages[-1].parts:
        call_id = getattr(part, "tool_call_id", None)
        if call_id is not None:
            seen[call_id] = [type(part).__name__, getattr(part, "outcome", None), str(part.content)]
    return ModelResponse(parts=[TextPart(json.dumps(seen))])


def test_a_turns_calls_run_as_one_batch_on_the_process_backend_and_errors_reach_the_model(
    process_registry: ToolRegistry,
) -> None:
    sizes = BatchSizes()
    process_registry.plugins.register(sizes, name="sizes")
    workers = set(process_registry.executor().worker_pids())  # type: ignore[attr-defined]
    agent = Agent(FunctionModel(scripted_turn), toolsets=[registry_toolset(process_registry)])
    started = time.monotonic()
    result = agent.run_sync("go")
    assert time.monotonic() - started < 15  # the hanging call was stopped at its 1 s deadline
    seen = json.loads(result.output)
    assert seen["ok"] == ["ToolReturnPart", "success", "42"], seen
    assert seen["bad"][0] in ("RetryPromptPart", "ToolReturnPart") and seen["bad"][1] in (None, "retried")
    assert "argument 'a' should be of type integer" in seen["bad"][2]
    assert seen["stuck"][1] == "failed" and "timeout" in seen["stuck"][2]
    pids = {int(seen["pid1"][2]), int(seen["pid2"][2])}
    assert pids <= workers | set(process_registry.executor().worker_pids())  # type: ignore[attr-defined]
    assert os.getpid() not in pids
    assert sizes.sizes[0] == 5  # the turn's five calls went out as one batch (the invalid one is refused in it)


def test_tools_keep_their_names_descriptions_and_schemas_and_testmodel_calls_them() -> None:
    with ToolRegistry(executor="thread") as registry:
        registry.register(add)
        registry.register(pid)
        model = TestModel()
        result = Agent(model, toolsets=[registry_toolset(registry)]).run_sync("go")
    tools = {tool.name: tool for tool in model.last_model_request_parameters.function_tools}
    assert tools["add"].description == "Add two integers."
    assert tools["add"].parameters_json_schema["properties"] == {"a": {"type": "integer"}, "b": {"type": "integer"}}
    assert '"pid":' in result.output and str(os.getpid()) in result.output  # thread backend: this process


def test_a_tool_taking_one_of_two_shapes_is_offered_without_a_root_union_and_its_calls_validate() -> None:
    """A root `oneOf` (zod-to-json-schema's root union) makes Anthropic refuse every request that lists the tool;
    pydantic-ai sends a toolset's schemas as they are, so the toolset offers them flattened."""
    shapes = {"type": "object", "oneOf": [
        {"properties": {"id": {"type": "string"}}, "required": ["id"], "additionalProperties": False},
        {"properties": {"path": {"type": "string"}}, "required": ["path"], "additionalProperties": False}]}

    def turn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        [offered] = info.function_tools
        assert not {"allOf", "anyOf", "oneOf"} & offered.parameters_json_schema.keys()
        assert set(offered.parameters_json_schema["properties"]) == {"id", "path"}
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("fetch", {"path": "a/b"}, tool_call_id="ok"),
                                        ToolCallPart("fetch", {"id": "7", "path": "a"}, tool_call_id="both")])
        parts = {p.tool_call_id: p for p in messages[-1].parts if hasattr(p, "tool_call_id")}
        return ModelResponse(parts=[TextPart(f"{parts['ok'].content} | {parts['both'].content}")])

    with ToolRegistry(executor="thread") as registry:
        registry.add(Tool("fetch", "Fetch by id or path.", shapes, invoker=lambda **kwargs: kwargs))
        output = Agent(FunctionModel(turn), toolsets=[registry_toolset(registry)]).run_sync("go").output
    ok, both = output.split(" | ")
    assert ok == "{'path': 'a/b'}"
    assert "'oneOf'" in both  # refused by toolwire against the tool's own schema, and retried by the model


def test_a_denied_call_is_a_failed_result_the_model_reads() -> None:
    def turn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("add", {"a": 1, "b": 2}, tool_call_id="c1")])
        [part] = [p for p in messages[-1].parts if getattr(p, "tool_call_id", None) == "c1"]
        return ModelResponse(parts=[TextPart(f"{part.outcome}: {part.content}")])

    def approve(calls: list[Any]) -> dict[str, str]:
        return {call.id: "additions are off today" for call in calls}

    with ToolRegistry(executor="thread", approve=approve) as registry:
        registry.register(add, requires_approval=True)
        output = Agent(FunctionModel(turn), toolsets=[registry_toolset(registry)]).run_sync("go").output
    assert output.startswith("failed: denied:") and "additions are off today" in output



def test_what_a_tool_asks_goes_to_the_registrys_answer_and_the_call_finishes_in_the_turn() -> None:
    """A tool that asks its user (an MCP server's elicitation, here `toolwire.testing.ask`): the registry's `answer`
    callback answers it and the model reads the finished call, not the question."""
    def turn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("ask", {"question": "Sure?"}, tool_call_id="c1")])
        [part] = [p for p in messages[-1].parts if getattr(p, "tool_call_id", None) == "c1"]
        return ModelResponse(parts=[TextPart(json.dumps(part.content))])

    with ToolRegistry(executor="thread", answer=(answers := AcceptAll())) as registry:
        registry.add(next(tool for tool in conformance_tools() if tool.name == "ask"))
        output = Agent(FunctionModel(turn), toolsets=[registry_toolset(registry)]).run_sync("go").output
    assert answers.asked == [["c1"]]
    assert json.loads(output) == {"inputResponses": {"q": {"action": "accept"}}}


def draft(topic: str) -> str:
    """Ask the host's model for a line about `topic` (as an MCP server's sampling does); return its reply."""
    from toolwire import ToolCallError
    from toolwire.executing import call_inputs

    answers = call_inputs()
    if answers is None:
        request = {"method": "sampling/createMessage", "params": {
            "systemPrompt": "You write one line.", "maxTokens": 12,
            "messages": [{"role": "user", "content": {"type": "text", "text": f"A line about {topic}"}},
                         {"role": "assistant", "content": {"type": "text", "text": "Shorter?"}},
                         {"role": "user", "content": [{"type": "text", "text": "Yes"}]}]}}
        raise ToolCallError("asks the host's model", "input_required",
                            input_required={"inputRequests": {"line": request}, "requestState": "asked"})
    assert answers["requestState"] == "asked"
    return str(answers["inputResponses"]["line"]["content"]["text"])


@pytest.mark.parametrize("sampling", [True, False])
def test_a_tools_request_for_the_hosts_model_is_answered_by_the_sampling_model(sampling: bool) -> None:
    """With `sampling_model`, a tool's sampling request goes to that pydantic-ai model (with the request's system
    prompt, messages and token limit) and the call finishes with its reply; without it, the model reads the
    request as the call's error."""
    asked: list[tuple[list[str], Any]] = []

    def sample(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        asked.append(([type(part).__name__ for message in messages for part in message.parts],
                      info.model_settings))
        return ModelResponse(parts=[TextPart("roses are red")])

    def turn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("draft", {"topic": "roses"}, tool_call_id="c1")])
        [part] = [p for p in messages[-1].parts if getattr(p, "tool_call_id", None) == "c1"]
        return ModelResponse(parts=[TextPart(str(part.content))])

    with ToolRegistry(executor="thread") as registry:
        registry.register(draft)
        toolset = registry_toolset(registry, sampling_model=FunctionModel(sample) if sampling else None)
        output = Agent(FunctionModel(turn), toolsets=[toolset]).run_sync("go").output
    if sampling:
        assert output == "roses are red"
        [(parts, settings)] = asked
        assert parts == ["SystemPromptPart", "UserPromptPart", "TextPart", "UserPromptPart"]
        assert settings is not None and settings.get("max_tokens") == 12
    else:
        assert output.startswith("input_required: asks the host's model") and asked == []


def test_calls_that_need_approval_can_go_through_pydantic_ais_deferred_approvals() -> None:
    """With `defer_approvals=True`, a call toolwire's policy holds for approval ends the run with pydantic-ai's
    `DeferredToolRequests`; the next run, given `DeferredToolResults`, runs the approved call (once, with the
    arguments a person edited if so) and tells the model of the denied one, which never runs. Without it the model
    only read "approval pending"."""
    from pydantic_ai import DeferredToolRequests, DeferredToolResults, ToolApproved, ToolDenied

    def turn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("add", {"a": 1, "b": 2}, tool_call_id="c1"),
                                        ToolCallPart("add", {"a": 3, "b": 4}, tool_call_id="c2"),
                                        ToolCallPart("pid", {}, tool_call_id="c3")])
        returns = {p.tool_call_id: f"{p.outcome}: {p.content}" for p in messages[-1].parts
                   if hasattr(p, "outcome")}
        return ModelResponse(parts=[TextPart(" | ".join(returns[i] for i in ("c1", "c2")))])

    ran: list[int] = []

    def transfer(a: int, b: int) -> int:
        """Move money."""
        ran.append(a)
        return a + b

    with ToolRegistry(executor="thread") as registry:
        registry.register(transfer, name="add", requires_approval=True)
        registry.register(pid)
        agent = Agent(FunctionModel(turn), toolsets=[registry_toolset(registry, defer_approvals=True)],
                      output_type=[str, DeferredToolRequests])
        first = agent.run_sync("go")
        assert isinstance(first.output, DeferredToolRequests)
        assert [(c.tool_call_id, c.args) for c in first.output.approvals] == [("c1", {"a": 1, "b": 2}),
                                                                             ("c2", {"a": 3, "b": 4})]
        answers = DeferredToolResults(approvals={"c1": True, "c2": ToolDenied("not that one")})
        second = agent.run_sync(message_history=first.all_messages(), deferred_tool_results=answers)
        edited = DeferredToolResults(approvals={"c1": ToolApproved(override_args={"a": 10, "b": "2"}),
                                                "c2": ToolDenied("no")})
        third = agent.run_sync(message_history=first.all_messages(), deferred_tool_results=edited)
    assert second.output == "success: 3 | denied: not that one"
    assert third.output == "success: 12 | denied: no"  # edited arguments are validated (and coerced) again
    assert ran == [1, 10]


def test_values_a_model_cannot_take_as_they_are_reach_it_as_json_data() -> None:
    with registry_of(["undecodable_name", "opaque"], EXECUTOR="thread") as registry:
        result = Agent(TestModel(), toolsets=[registry_toolset(registry)]).run_sync("go")
    # pydantic-ai's own serializer refused both (a lone surrogate; an object it does not know), failing the run
    assert json.loads(result.output) == {"undecodable_name": "report-\ufffd.txt", "opaque": {"thing": "Opaque()"}}


def test_images_audio_and_files_reach_the_model_as_pydantic_ai_binary_content() -> None:
    returned: list[Any] = []

    def turn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("media", {"title": "sales"}, tool_call_id="m1")])
        returned.extend(p.content for p in messages[-1].parts if getattr(p, "tool_call_id", None) == "m1")
        return ModelResponse(parts=[TextPart("seen")])

    with ToolRegistry(executor="thread") as registry:
        registry.register(media)
        Agent(FunctionModel(turn), toolsets=[registry_toolset(registry)]).run_sync("go")
    # the model read "[image: image/png]" and so on: no image, sound or document reached it
    assert returned == [["the chart sales", BinaryContent(data=PIXEL, media_type="image/png"),
                         BinaryContent(data=b"RIFF0000WAVE", media_type="audio/wav"),
                         BinaryContent(data=b"%PDF-1.4 report", media_type="application/pdf")]]


def test_the_model_reads_a_tools_own_content_and_the_result_cap_holds() -> None:
    returned: dict[str, Any] = {}

    def turn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("rich", {"text": "hi"}, tool_call_id="own"),
                                        ToolCallPart("echo", {"value": list(range(500))}, tool_call_id="long")])
        returned.update({p.tool_call_id: p.content for p in messages[-1].parts if hasattr(p, "tool_call_id")})
        return ModelResponse(parts=[TextPart("seen")])

    with ToolRegistry(executor="thread", max_result_chars=100) as registry:
        registry.add([tool for tool in conformance_tools() if tool.name in ("rich", "echo")])
        Agent(FunctionModel(turn), toolsets=[registry_toolset(registry)]).run_sync("go")
    assert returned["own"] == "hi"  # the model read the value meant for the program, {"text": "hi"}
    assert returned["long"].startswith("[0,1,2,3,") and "characters; the first 100 are shown" in returned["long"]
    assert len(returned["long"]) < 300  # it read all 500 numbers, past max_result_chars


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                 max_size=3), max_leaves=10)
_BLOCKS = st.fixed_dictionaries({"type": st.sampled_from(["text", "image", "audio", "tool_use"])},
                                optional={"text": _JSON, "data": st.sampled_from(["aGk=", "not base64!"]) | _JSON,
                                          "mimeType": st.sampled_from(["image/png", "audio/wav"]) | _JSON})
_MESSAGES = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]) | _JSON},
                                           optional={"content": _BLOCKS | st.lists(_BLOCKS, max_size=2) | _JSON}),
                     max_size=3)
_TEXT = st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=8)})
_TURNS = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]),
                                         "content": _TEXT | st.lists(_TEXT | _BLOCKS, min_size=1, max_size=2)}),
                  max_size=3).map(lambda turns: [*turns, {"role": "user", "content": {"type": "text", "text": "?"}}])
_ASKED = st.fixed_dictionaries({"method": st.just("sampling/createMessage"), "params": st.fixed_dictionaries(
    {"messages": _TURNS | _MESSAGES}, optional={"systemPrompt": st.text(max_size=5) | _JSON,
                                                 "maxTokens": st.integers() | _JSON, "temperature": _JSON})})
_QUESTIONS = st.fixed_dictionaries({"inputRequests": st.dictionaries(st.text(max_size=5), _ASKED, min_size=1,
                                                                     max_size=2)},
                                   optional={"requestState": _JSON}) | st.fixed_dictionaries({}, optional={
    "inputRequests": st.dictionaries(st.text(max_size=5), st.fixed_dictionaries(
        {"method": st.sampled_from(["sampling/createMessage", "elicitation/create"])},
        optional={"params": st.fixed_dictionaries({}, optional={
            "messages": _MESSAGES | _JSON, "systemPrompt": _JSON, "maxTokens": _JSON, "temperature": _JSON,
            "stopSequences": _JSON})}) | _JSON, max_size=2) | _JSON,
    "requestState": _JSON})


@settings(max_examples=60, deadline=None)
@given(question=_QUESTIONS)
def test_any_sampling_request_is_answered_in_the_mcp_shape_or_left_to_the_caller(question: dict[str, Any]) -> None:
    """Whatever a tool asks, `sampling_model` replies to each request in MCP's `CreateMessageResult` shape, or
    leaves the question (None): it never fails the call."""
    from toolwire_pydantic_ai._sampling import sampled_inputs

    model = FunctionModel(lambda messages, info: ModelResponse(parts=[TextPart("ok")]))
    inputs = asyncio.run(sampled_inputs(question, model))
    if inputs is not None:
        assert set(inputs["inputResponses"]) == set(question["inputRequests"])
        assert all(reply["content"] == {"type": "text", "text": "ok"} for reply in inputs["inputResponses"].values())
