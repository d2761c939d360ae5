"""An OpenAI Agents SDK agent whose tools are a toolwire registry, driven offline by a scripted `Model`
(the SDK's own model interface, answering with the SDK's own response items): one turn of several calls,
one with broken argument JSON, one invalid, one that hangs past its deadline on the process backend."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from agents import Agent, Model, ModelResponse, RunConfig, Runner, Usage
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText
from toolwire import Tool, ToolRegistry
from toolwire.formats import SchemaConversionError
from toolwire.testing import PIXEL, BatchSizes, add, conformance_tools, media, pid, registry_of
from toolwire_openai_agents import function_tools

TURN = [("ok", "add", '{"a": 20, "b": 22}'), ("broken", "add", '{"a": 20,'), ("bad", "add", '{"a": "x", "b": 1}'),
        ("stuck", "hang", '{"seconds": 30}'), ("pid1", "pid", ""), ("pid2", "pid", "{}")]


class ScriptedModel(Model):
    """First request: the calls of `turn` at once. Next: a message holding every call's output, as JSON."""

    def __init__(self, turn: list[tuple[str, str, str]]) -> None:
        self.turn = turn

    async def get_response(self, system_instructions: Any, input: Any, model_settings: Any, tools: Any,
                           *args: Any, **kwargs: Any) -> ModelResponse:
        outputs = {item["call_id"]: item["output"] for item in input
                   if isinstance(item, dict) and item.get("type") == "function_call_output"}
        if not outputs:
            output: list[Any] = [ResponseFunctionToolCall(type="function_call", call_id=call_id, name=name,
                                                          arguments=arguments)
                                 for call_id, name, arguments in self.turn]
        else:
            text = ResponseOutputText(type="output_text", text=json.dumps(outputs), annotations=[])
            output = [ResponseOutputMessage(id="m", type="message", role="assistant", status="completed",
                                            content=[text])]
        return ModelResponse(output=output, usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("the test runs without streaming")


@pytest.fixture
def process_registry() -> Iterator[ToolRegistry]:
    with registry_of(["add", "hang", "pid"], EXECUTOR="process", WORKERS="2", TIMEOUT="1") as registry:
        yield registry


def run(agent: Agent[Any]) -> Any:
    return asyncio.run(Runner.run(agent, "go", run_config=RunConfig(tracing_disabled=True))).final_output


def test_a_turns_calls_run_as_one_batch_on_the_process_backend_and_errors_reach_the_model(
    process_registry: ToolRegistry,
) -> None:
    process_registry.plugins.register(sizes := BatchSizes(), name="sizes")
    started = time.monotonic()
    outputs = json.loads(run(Agent(name="a", model=ScriptedModel(TURN), tools=function_tools(process_registry))))
    assert time.monotonic() - started < 15  # the hanging call was stopped at its 1 s deadline
    assert outputs["ok"] == "42"
    assert outputs["broken"].startswith("invalid_arguments:") and "not valid JSON" in outputs["broken"]
    assert "argument 'a' should be of type integer" in outputs["bad"]
    assert outputs["stuck"].startswith("timeout:")
    pids = {int(outputs["pid1"]), int(outputs["pid2"])}
    assert os.getpid() not in pids
    assert sizes.sizes[-1] == len(TURN)  # the whole turn went out as one batch


def test_tools_keep_names_descriptions_and_schemas_strict_on_request() -> None:
    with ToolRegistry(executor="thread") as registry:
        registry.register(add)
        [loose] = function_tools(registry)
        [strict] = function_tools(registry, strict=True)
    assert (loose.name, loose.description) == ("add", "Add two integers.")
    assert loose.params_json_schema["properties"] == {"a": {"type": "integer"}, "b": {"type": "integer"}}
    assert loose.strict_json_schema is False
    assert strict.strict_json_schema is True and strict.params_json_schema["additionalProperties"] is False
    assert sorted(strict.params_json_schema["required"]) == ["a", "b"]


def test_strict_auto_makes_strict_each_tool_that_can_be() -> None:
    def stash(record: dict[str, Any]) -> int:
        """Keep a free-form record (no strict schema can say "any keys")."""
        return len(record)

    with ToolRegistry(executor="thread") as registry:
        registry.register(add)
        registry.register(stash)
        strict_add, loose_stash = function_tools(registry, strict="auto")
        with pytest.raises(SchemaConversionError, match="stash"):
            function_tools(registry, strict=True)
    assert (strict_add.name, strict_add.strict_json_schema) == ("add", True)
    assert strict_add.params_json_schema["additionalProperties"] is False
    assert (loose_stash.name, loose_stash.strict_json_schema) == ("stash", False)
    assert loose_stash.params_json_schema == registry.get("stash").parameters


def test_a_denied_call_is_an_output_the_model_reads() -> None:
    def approve(calls: list[Any]) -> dict[str, str]:
        return {call.id: "additions are off today" for call in calls}

    with ToolRegistry(executor="thread", approve=approve) as registry:
        registry.register(add, requires_approval=True)
        model = ScriptedModel([("c1", "add", '{"a": 1, "b": 2}')])
        outputs = json.loads(run(Agent(name="a", model=model, tools=function_tools(registry))))
    assert outputs["c1"].startswith("denied:") and "additions are off today" in outputs["c1"]


def test_calls_that_need_approval_can_go_through_the_sdks_interruptions() -> None:
    """With `defer_approvals=True`, the tools toolwire's policy holds get the SDK's `needs_approval`: the run
    stops with one interruption per held call, and resuming the run's state runs the approved call (once) and
    tells the model the rejected one was not approved; a tool the policy does not hold runs at once."""
    ran: list[int] = []

    def transfer(a: int, b: int) -> int:
        """Move money."""
        ran.append(a)
        return a + b

    async def turns() -> tuple[Any, Any]:
        with ToolRegistry(executor="thread") as registry:
            registry.register(transfer, name="add", requires_approval=True)
            registry.register(pid)
            model = ScriptedModel([("c1", "add", '{"a": 1, "b": 2}'), ("c2", "add", '{"a": 3, "b": 4}'),
                                   ("c3", "pid", "{}")])
            agent = Agent(name="a", model=model, tools=function_tools(registry, defer_approvals=True))
            config = RunConfig(tracing_disabled=True)
            first = await Runner.run(agent, "go", run_config=config)
            state = first.to_state()
            for item in first.interruptions:
                (state.approve if item.raw_item.call_id == "c1" else state.reject)(item)
            return first, await Runner.run(agent, state, run_config=config)

    first, second = asyncio.run(turns())
    assert [item.raw_item.call_id for item in first.interruptions] == ["c1", "c2"]
    outputs = json.loads(second.final_output)
    assert (outputs["c1"], outputs["c3"]) == ("3", str(os.getpid()))
    assert "not approved" in outputs["c2"]
    assert ran == [1]


def test_values_a_model_cannot_take_as_they_are_reach_it_as_json_data() -> None:
    with registry_of(["undecodable_name", "opaque"], EXECUTOR="thread") as registry:
        model = ScriptedModel([("name", "undecodable_name", "{}"), ("thing", "opaque", "{}")])
        outputs = json.loads(run(Agent(name="a", model=model, tools=function_tools(registry))))
    assert outputs["name"] == "report-\ufffd.txt"
    assert outputs["thing"] in ("{'thing': 'Opaque()'}", '{"thing": "Opaque()"}')


def test_images_and_files_reach_the_model_as_the_sdks_image_and_file_outputs() -> None:
    with ToolRegistry(executor="thread") as registry:
        registry.register(media)
        model = ScriptedModel([("m1", "media", '{"title": "sales"}')])
        outputs = json.loads(run(Agent(name="a", model=model, tools=function_tools(registry))))
    pixel, pdf = base64.b64encode(PIXEL).decode(), base64.b64encode(b"%PDF-1.4 report").decode()
    assert outputs["m1"] == [  # the model read "[image: image/png]" and so on
        {"type": "input_text", "text": "the chart sales"},
        {"type": "input_image", "image_url": f"data:image/png;base64,{pixel}"},
        {"type": "input_text", "text": "[audio (audio/wav) not shown]"},  # the SDK has no audio output
        {"type": "input_file", "file_data": f"data:application/pdf;base64,{pdf}", "filename": "report.pdf"}]


def test_a_tool_taking_one_of_two_shapes_is_strict_too_and_a_strict_models_call_runs() -> None:
    """A root `oneOf` (zod-to-json-schema's root union) is refused by the SDK's strict check as it is: every
    tool of the registry would be lost to one such tool."""
    shapes = {"type": "object", "oneOf": [
        {"properties": {"id": {"type": "string"}}, "required": ["id"], "additionalProperties": False},
        {"properties": {"path": {"type": "string"}}, "required": ["path"], "additionalProperties": False}]}
    with ToolRegistry(executor="thread") as registry:
        registry.add(Tool("fetch", "Fetch by id or path.", shapes, invoker=lambda **kwargs: f"{kwargs}"))
        [strict] = function_tools(registry, strict=True)
        assert strict.params_json_schema["required"] == ["id", "path"]
        model = ScriptedModel([("c1", "fetch", '{"id": null, "path": "a/b"}'),
                               ("c2", "fetch", '{"id": "7", "path": "a"}')])
        outputs = json.loads(run(Agent(name="a", model=model, tools=[strict])))
    assert outputs["c1"] == "{'path': 'a/b'}"  # the strict model's null for `id` dropped
    assert outputs["c2"].startswith("invalid_arguments:") and "'oneOf'" in outputs["c2"]


def test_the_model_reads_a_tools_own_content_and_the_result_cap_holds() -> None:
    with ToolRegistry(executor="thread", max_result_chars=100) as registry:
        registry.add([tool for tool in conformance_tools() if tool.name in ("rich", "echo")])
        numbers = json.dumps({"value": list(range(500))})
        model = ScriptedModel([("own", "rich", '{"text": "hi"}'), ("long", "echo", numbers)])
        outputs = json.loads(run(Agent(name="a", model=model, tools=function_tools(registry))))
    assert outputs["own"] == "hi"  # the model read the value meant for the program, {"text": "hi"}
    assert outputs["long"].startswith("[0,1,2,3,") and "characters; the first 100 are shown" in outputs["long"]
    assert len(outputs["long"]) < 300  # it read all 500 numbers, past max_result_chars
