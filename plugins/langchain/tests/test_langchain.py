"""LangChain both ways, offline. Into LangChain: `create_agent` with LangChain's own fake chat model (taught
to accept tools) runs a turn of several calls through LangGraph's ToolNode, on toolwire's process backend.
Into toolwire: LangChain tools (sync, async-only, failing, a toolkit) loaded and run on the process backend."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import (
    BaseToolkit,
    InjectedToolArg,
    InjectedToolCallId,
    StructuredTool,
    ToolException,
    tool,
)
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from toolwire import Image, Resource, Text, ToolCall, ToolRegistry, load_config
from toolwire.testing import PIXEL, AcceptAll, BatchSizes, add, conformance_tools, media, registry_of
from toolwire_langchain import langchain_tools

TURN = [("ok", "add", {"a": 20, "b": 22}), ("bad", "add", {"a": "twenty", "b": 22}),
        ("stuck", "hang", {"seconds": 30}), ("pid1", "pid", {}), ("pid2", "pid", {})]


class ScriptedChatModel(FakeMessagesListChatModel):
    """LangChain's fake chat model, accepting the tools an agent binds (it answers from its script)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self


def scripted(turn: list[tuple[str, str, dict[str, Any]]]) -> ScriptedChatModel:
    calls = [{"id": call_id, "name": name, "args": args, "type": "tool_call"} for call_id, name, args in turn]
    return ScriptedChatModel(responses=[AIMessage(content="", tool_calls=calls), AIMessage(content="done")])


@pytest.fixture
def process_registry() -> Iterator[ToolRegistry]:
    with registry_of(["add", "hang", "pid"], EXECUTOR="process", WORKERS="2", TIMEOUT="1") as registry:
        yield registry


def tool_messages(state: dict[str, Any]) -> dict[str, ToolMessage]:
    return {message.tool_call_id: message for message in state["messages"] if isinstance(message, ToolMessage)}


def test_create_agent_runs_a_turn_as_one_batch_on_the_process_backend_and_errors_reach_the_model(
    process_registry: ToolRegistry,
) -> None:
    process_registry.plugins.register(sizes := BatchSizes(), name="sizes")
    agent = create_agent(scripted(TURN), tools=langchain_tools(process_registry))
    started = time.monotonic()
    state = asyncio.run(agent.ainvoke({"messages": [HumanMessage("go")]}))
    assert time.monotonic() - started < 15  # the hanging call was stopped at its 1 s deadline
    replies = tool_messages(state)
    assert (replies["ok"].content, replies["ok"].status) == ("42", "success")
    assert replies["bad"].status == "error" and "argument 'a' should be of type integer" in replies["bad"].content
    assert replies["stuck"].status == "error" and replies["stuck"].content.startswith("timeout:")
    assert os.getpid() not in {int(replies["pid1"].content), int(replies["pid2"].content)}
    assert state["messages"][-1].content == "done"
    assert sizes.sizes[-1] == len(TURN)  # the whole turn went out as one batch


def test_the_sync_path_runs_each_call_on_the_backend_too(process_registry: ToolRegistry) -> None:
    agent = create_agent(scripted(TURN[:2] + TURN[3:4]), tools=langchain_tools(process_registry))
    replies = tool_messages(agent.invoke({"messages": [HumanMessage("go")]}))
    assert replies["ok"].content == "42" and replies["bad"].status == "error"
    assert int(replies["pid1"].content) != os.getpid()


def test_a_call_keeps_the_models_call_id() -> None:
    """toolwire's call ids were the adapter's own (`langchain-7`), so results, policies and traces did not
    name the model's call."""
    with registry_of(["which_call"], EXECUTOR="thread") as registry:
        agent = create_agent(scripted([("m1", "which_call", {}), ("m2", "which_call", {})]),
                             tools=langchain_tools(registry))
        sync = tool_messages(agent.invoke({"messages": [HumanMessage("go")]}))
        agent = create_agent(scripted([("m3", "which_call", {})]), tools=langchain_tools(registry))
        together = tool_messages(asyncio.run(agent.ainvoke({"messages": [HumanMessage("go")]})))
    assert [sync["m1"].content, sync["m2"].content, together["m3"].content] == ["m1", "m2", "m3"]


def test_what_a_tool_asks_goes_to_the_registrys_answer_and_the_call_finishes_in_the_turn() -> None:
    """A tool that asks its user (an MCP server's elicitation, here `toolwire.testing.ask`), on the sync and the
    async path: the registry's `answer` answers it and the model reads the finished call, not the question."""
    with ToolRegistry(executor="thread", answer=(answers := AcceptAll())) as registry:
        registry.add(next(tool for tool in conformance_tools() if tool.name == "ask"))
        agent = create_agent(scripted([("s1", "ask", {"question": "Sure?"})]), tools=langchain_tools(registry))
        sync = tool_messages(agent.invoke({"messages": [HumanMessage("go")]}))
        agent = create_agent(scripted([("a1", "ask", {"question": "Sure?"})]), tools=langchain_tools(registry))
        together = tool_messages(asyncio.run(agent.ainvoke({"messages": [HumanMessage("go")]})))
    assert answers.asked == [["s1"], ["a1"]]
    for reply in (sync["s1"], together["a1"]):
        assert json.loads(reply.content) == {"inputResponses": {"q": {"action": "accept"}}}


def written(path: str, text: str) -> str:
    """Write `text` to the file `path` (a call that must not run before it is approved)."""
    Path(path).write_text(text)
    return text


def approval_registry() -> ToolRegistry:
    registry = ToolRegistry(executor="thread")
    registry.register(written)
    registry.register(add)
    registry.add_policy(match="written", requires_approval=True)
    return registry


@pytest.mark.parametrize("path", ["sync", "async"])
def test_with_defer_approvals_a_held_call_pauses_the_agent_until_a_decision_resumes_it(path: str,
                                                                                        tmp_path: Path) -> None:
    files = {name: str(tmp_path / name) for name in ("c1", "c2", "edited", "c3")}
    turn = [("c1", "written", {"path": files["c1"], "text": "one"}),
            ("c2", "written", {"path": files["c2"], "text": "two"}),
            ("c3", "written", {"path": files["c3"], "text": "three"}), ("c4", "add", {"a": 2, "b": 3})]
    with approval_registry() as registry:
        agent = create_agent(scripted(turn), tools=langchain_tools(registry, defer_approvals=True),
                             checkpointer=InMemorySaver())
        config: Any = {"configurable": {"thread_id": path}}

        def run(given: Any) -> dict[str, Any]:
            if path == "sync":
                return agent.invoke(given, config)
            return asyncio.run(agent.ainvoke(given, config))

        paused = run({"messages": [HumanMessage("go")]})
        asked = {interruption.value["tool_call_id"]: interruption for interruption in paused["__interrupt__"]}
        assert sorted(asked) == ["c1", "c2", "c3"] and not any(Path(f).exists() for f in files.values())
        assert asked["c2"].value == {
            "type": "tool_approval", "tool_call_id": "c2", "name": "written", "args": turn[1][2],
            "description": f'Tool execution requires approval\n\nTool: written\nArgs: {json.dumps(turn[1][2])}'}
        assert tool_messages(paused)["c4"].content == "5"  # a call nobody holds ran at once
        done = run(Command(resume={
            asked["c1"].id: {"type": "approve"},
            asked["c2"].id: {"type": "edit", "edited_action": {"name": "written",
                                                              "args": {"path": files["edited"], "text": "2"}}},
            asked["c3"].id: {"type": "reject", "message": "not that file"}}))
    replies = tool_messages(done)
    assert (replies["c1"].status, replies["c1"].content, replies["c2"].content) == ("success", "one", "2")
    assert replies["c3"].status == "error" and replies["c3"].content.startswith("denied: ") \
        and replies["c3"].content.endswith(": not that file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c1", "edited"]
    assert done["messages"][-1].content == "done"


def test_a_held_call_resumes_with_toolwires_own_answers_or_a_persons_reply(tmp_path: Path) -> None:
    answers: list[Any] = [True, "no: it is Sunday", {"path": str(tmp_path / "other"), "text": "x"},
                          {"decisions": [{"type": "approve"}]}, {"type": "respond", "message": "I did it myself"}]
    replies = []
    with approval_registry() as registry:
        for index, answer in enumerate(answers):
            call = ("c", "written", {"path": str(tmp_path / f"f{index}"), "text": "y"})
            agent = create_agent(scripted([call]), tools=langchain_tools(registry, defer_approvals=True),
                                 checkpointer=InMemorySaver())
            config: Any = {"configurable": {"thread_id": str(index)}}
            assert agent.invoke({"messages": [HumanMessage("go")]}, config)["__interrupt__"]
            replies.append(tool_messages(agent.invoke(Command(resume=answer), config))["c"])
    assert [(reply.status, reply.content) for reply in replies] == [
        ("success", "y"),
        ("error", "denied: the user did not approve this call of 'written', so it did not run: no: it is Sunday"),
        ("success", "x"), ("success", "y"), ("success", "I did it myself")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f0", "f3", "other"]


def test_a_decision_it_cannot_read_says_what_it_takes(tmp_path: Path) -> None:
    with approval_registry() as registry:
        agent = create_agent(scripted([("c", "written", {"path": str(tmp_path / "f"), "text": "y"})]),
                             tools=langchain_tools(registry, defer_approvals=True), checkpointer=InMemorySaver())
        config: Any = {"configurable": {"thread_id": "t"}}
        agent.invoke({"messages": [HumanMessage("go")]}, config)
        renamed = {"type": "edit", "edited_action": {"name": "add", "args": {"a": 1, "b": 2}}}
        with pytest.raises(ValueError, match=r"resume a held call of 'written' with a decision: .*the arguments may "
                                             r"change, not the tool.*got \{'type': 'edit'"):
            agent.invoke(Command(resume=renamed), config)
    assert list(tmp_path.iterdir()) == []


def test_without_defer_approvals_a_held_call_tells_the_model_approval_is_pending(tmp_path: Path) -> None:
    with approval_registry() as registry:
        agent = create_agent(scripted([("c", "written", {"path": str(tmp_path / "f"), "text": "y"})]),
                             tools=langchain_tools(registry))
        reply = tool_messages(agent.invoke({"messages": [HumanMessage("go")]}))["c"]
    assert reply.status == "error" and reply.content.startswith("approval_pending: ")
    assert list(tmp_path.iterdir()) == []


def test_tools_keep_names_descriptions_and_schemas() -> None:
    with ToolRegistry(executor="thread") as registry:
        registry.register(add)
        [adder] = langchain_tools(registry)
    assert (adder.name, adder.description) == ("add", "Add two integers.")
    assert adder.tool_call_schema["properties"] == {"a": {"type": "integer"}, "b": {"type": "integer"}}


def test_references_langchain_cannot_follow_are_inlined_or_dropped_and_the_calls_still_validate() -> None:
    """zod-to-json-schema writes pointers such as `#/properties/a~1b`; LangChain's converter splits a pointer on
    `/` and raised for it (and for one that leads nowhere), failing `bind_tools` for every tool."""
    from langchain_core.utils.function_calling import convert_to_openai_tool
    from toolwire import Tool

    schema = {"type": "object", "properties": {
        "a/b": {"type": "string"}, "escaped": {"$ref": "#/properties/a~1b"},
        "spaced": {"$ref": "#/$defs/with%20space"}, "nowhere": {"$ref": "#/$defs/Missing", "description": "N."},
        "plain": {"$ref": "#/$defs/with space"}, "remote": {"$ref": "other.json#/x"}},
        "required": ["escaped"], "$defs": {"with space": {"type": "integer"}}}
    with ToolRegistry(executor="thread") as registry:
        registry.add(Tool("odd", "Odd references.", schema, invoker=lambda **kwargs: kwargs))
        [odd] = langchain_tools(registry)
        converted = convert_to_openai_tool(odd)["function"]["parameters"]["properties"]
        assert converted == {"a/b": {"type": "string"}, "escaped": {"type": "string"}, "spaced": {"type": "integer"},
                             "nowhere": {"description": "N."}, "plain": {"type": "integer"}, "remote": {}}
        assert odd.invoke({"escaped": "x", "spaced": 3}) == {"escaped": "x", "spaced": 3}
        refused = odd.invoke({"escaped": 5})  # handle_tool_error: the error, as the model reads it
        assert refused.startswith("invalid_arguments:") and "'escaped'" in refused


def test_what_langchain_would_take_for_a_reference_is_left_out_and_the_calls_still_validate() -> None:
    """LangChain's converter takes any object with a `$ref` key for a reference: a property named `$ref` and a
    default holding such an object made it raise (failing `bind_tools` for every tool), and an enum value it
    could follow was turned into part of the schema."""
    from langchain_core.utils.function_calling import convert_to_openai_tool
    from toolwire import Tool

    schema = {"type": "object", "properties": {
        "$ref": {"type": "string"}, "x": {"type": "integer"},
        "nested": {"type": "object", "properties": {"$ref": {"type": "string"}, "y": {"type": "integer"}}},
        "shape": {"type": "object", "default": {"$ref": "x"}, "description": "S."},
        "pick": {"enum": [{"$ref": "#/properties/x"}, "plain"]}, "fixed": {"const": {"$ref": 3}}},
        "required": ["$ref", "x"]}
    with ToolRegistry(executor="thread") as registry:
        registry.add(Tool("odd", "Odd keys.", schema, invoker=lambda **kwargs: kwargs))
        [odd] = langchain_tools(registry)
        parameters = convert_to_openai_tool(odd)["function"]["parameters"]
        assert parameters["required"] == ["x"]
        assert parameters["properties"] == {
            "x": {"type": "integer"}, "nested": {"type": "object", "properties": {"y": {"type": "integer"}}},
            "shape": {"type": "object", "description": "S."}, "pick": {}, "fixed": {}}
        assert odd.invoke({"$ref": "r", "x": 1}) == {"$ref": "r", "x": 1}
        refused = odd.invoke({"x": 1})
        assert refused.startswith("invalid_arguments:") and "'$ref'" in refused


def test_a_tool_taking_one_of_two_shapes_is_offered_without_a_root_union() -> None:
    """Anthropic refuses a root `oneOf` for every request that lists the tool, and LangChain passes the
    schema on as it is: the tool offers it flattened, and toolwire validates against the tool's own."""
    from toolwire import Tool

    shapes = {"type": "object", "oneOf": [
        {"properties": {"id": {"type": "string"}}, "required": ["id"], "additionalProperties": False},
        {"properties": {"path": {"type": "string"}}, "required": ["path"], "additionalProperties": False}]}
    with ToolRegistry(executor="thread") as registry:
        registry.add(Tool("fetch", "Fetch by id or path.", shapes, invoker=lambda **kwargs: kwargs))
        [fetch] = langchain_tools(registry)
        assert not {"allOf", "anyOf", "oneOf"} & fetch.tool_call_schema.keys()
        assert set(fetch.tool_call_schema["properties"]) == {"id", "path"}
        assert fetch.invoke({"path": "a/b"}) == {"path": "a/b"}
        assert "'oneOf'" in fetch.invoke({"id": "7", "path": "a"})


# -- into toolwire ----------------------------------------------------------------------------------------


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@tool
def where() -> int:
    """The process running the tool."""
    return os.getpid()


@tool
async def shout(text: str) -> str:
    """Upper-case the text (async only)."""
    await asyncio.sleep(0)
    return text.upper()


@tool
def refuse(reason: str) -> str:
    """Always fails."""
    raise ToolException(reason)


class Kit(BaseToolkit):
    def get_tools(self) -> list[Any]:
        return [where, shout]


@pytest.mark.parametrize("backend", ["process", "dask"])
def test_langchain_tools_and_toolkits_run_in_workers(backend: str) -> None:
    if backend == "dask":
        pytest.importorskip("toolwire_dask")
    environ = {"TOOLWIRE_EXECUTOR": backend, "TOOLWIRE_WORKERS": "1"}
    with ToolRegistry(config=load_config(environ=environ)) as registry:
        registry.register([multiply, refuse])
        registry.load("langchain", Kit())
        assert registry.get("multiply").parameters["properties"] == {"a": {"type": "integer"},
                                                                     "b": {"type": "integer"}}
        assert registry.get("multiply").description == "Multiply two integers."
        results = registry.execute_tool_calls([
            {"type": "tool_use", "id": "m", "name": "multiply", "input": {"a": 6, "b": 7}},
            {"type": "tool_use", "id": "w", "name": "where", "input": {}},
            {"type": "tool_use", "id": "s", "name": "shout", "input": {"text": "hi"}},
            {"type": "tool_use", "id": "r", "name": "refuse", "input": {"reason": "not today"}},
            {"type": "tool_use", "id": "x", "name": "multiply", "input": {"a": "six", "b": 7}},
        ], timeout=60)
    value = {result.call_id: result.value for result in results}
    assert value["m"] == 42 and value["s"] == "HI"
    assert value["w"] != os.getpid()
    assert "not today" in str(results[3].error)
    assert results[4].error is not None and results[4].error.kind.value == "invalid_arguments"


def test_a_tool_whose_argument_model_is_pydantic_v1_and_local_runs_in_a_worker() -> None:
    from pydantic.v1 import BaseModel as ModelV1  # LangChain still takes v1 models as `args_schema`

    class Pair(ModelV1):
        a: int
        b: int

    def total(a: int, b: int) -> int:
        return a + b

    summed = StructuredTool.from_function(total, name="total", description="Adds.", args_schema=Pair)
    with ToolRegistry(executor="process") as registry:
        registry.load("langchain", [summed])
        good, bad = registry.execute_tool_calls([ToolCall("1", "total", {"a": 1, "b": 2}),
                                                 ToolCall("2", "total", {"a": "one", "b": 2})], timeout=60)
    assert good.value == 3, good
    assert bad.error is not None and bad.error.kind.value == "invalid_arguments"


@tool
def stamp(text: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> str:
    """Stamp a text with the id of the call (which LangChain injects)."""
    return f"{text} #{tool_call_id}"


@tool(response_format="content_and_artifact")
def search(query: str) -> tuple[str, dict[str, Any]]:
    """A summary for the model, the whole hits for the program."""
    return f"2 hits for {query}", {"hits": [{"id": 1}, {"id": 2}]}


@tool
def greet(name: str, user: Annotated[str, InjectedToolArg]) -> str:
    """Greet on behalf of a user the agent injects."""
    return f"{user} greets {name}"


@tool
def handled(tool_call_id: Annotated[str, InjectedToolCallId]) -> str:
    """Fails, and LangChain turns the failure into its answer."""
    raise ToolException("no luck")


handled.handle_tool_error = True


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_injected_call_ids_artifacts_and_arguments_only_an_agent_has(backend: str) -> None:
    with ToolRegistry(executor=backend) as registry:
        registry.register([stamp, search, greet, handled, multiply])
        assert registry.get("stamp").parameters["properties"] == {"text": {"type": "string"}}  # the model's part
        results = registry.execute_tool_calls([
            {"type": "tool_use", "id": "toolu_1", "name": "stamp", "input": {"text": "seen"}},
            {"type": "tool_use", "id": "toolu_2", "name": "search", "input": {"query": "cats"}},
            {"type": "tool_use", "id": "toolu_3", "name": "greet", "input": {"name": "Ada"}},
            {"type": "tool_use", "id": "toolu_4", "name": "handled", "input": {}},
            {"type": "tool_use", "id": "toolu_5", "name": "multiply", "input": {"a": 6, "b": 7}},
        ], timeout=60)
    stamped, found, greeted, failed, product = results
    assert stamped.value == "seen #toolu_1"  # LangChain refused to run it without the call's id
    assert found.value == {"hits": [{"id": 1}, {"id": 2}]} and found.content == (Text("2 hits for cats"),)
    assert greeted.error is not None and greeted.content == (
        "'greet' takes 'user', which LangChain's agents inject (InjectedToolArg) and toolwire cannot: "
        "load a tool that has these values already (one whose function closes over them)")
    assert failed.error is not None and failed.error.message == "no luck"
    assert product.value == 42


def test_the_loader_says_what_it_takes() -> None:
    with ToolRegistry(executor="thread") as registry, pytest.raises(TypeError, match="BaseTool or BaseToolkit"):
        registry.load("langchain", [multiply, print])


def test_arguments_named_as_langchains_own_reach_the_tool() -> None:
    """LangChain passes its callback manager as `run_manager` to a `_run` that names one, over the model's
    argument of that name, and a `self` argument met the method's own `self` (TypeError, the turn lost)."""

    def echo(run_manager: str, self: str, config: str = "-", callbacks: str = "-") -> str:
        return "/".join((run_manager, self, config, callbacks))

    arguments = {"run_manager": "a", "self": "b", "config": "c", "callbacks": "d"}
    with ToolRegistry(executor="thread") as registry:
        registry.register(echo)
        [tool] = langchain_tools(registry)
        agent = create_agent(scripted([("1", "echo", arguments)]), tools=[tool])
        replies = tool_messages(agent.invoke({"messages": [HumanMessage("go")]}))
        assert tool.invoke(arguments) == asyncio.run(tool.ainvoke(arguments)) == "a/b/c/d"
    assert (replies["1"].content, replies["1"].status) == ("a/b/c/d", "success")


def test_values_a_model_cannot_take_as_they_are_reach_it_as_json_data() -> None:
    with registry_of(["undecodable_name", "opaque"], EXECUTOR="thread") as registry:
        agent = create_agent(scripted([("name", "undecodable_name", {}), ("thing", "opaque", {})]),
                             tools=langchain_tools(registry))
        replies = tool_messages(agent.invoke({"messages": [HumanMessage("go")]}))
    assert (replies["name"].content, replies["name"].status) == ("report-\ufffd.txt", "success")
    assert replies["thing"].status == "success" and "Opaque()" in replies["thing"].content
    for reply in replies.values():
        reply.model_dump_json()  # what a provider's client sends


def test_the_model_reads_a_tools_own_content_and_the_result_cap_holds() -> None:
    with ToolRegistry(executor="thread", max_result_chars=100) as registry:
        registry.add([tool for tool in conformance_tools() if tool.name in ("rich", "echo")])
        agent = create_agent(scripted([("own", "rich", {"text": "hi"}), ("long", "echo", {"value": list(range(500))})]),
                             tools=langchain_tools(registry))
        replies = tool_messages(asyncio.run(agent.ainvoke({"messages": [HumanMessage("go")]})))
    assert replies["own"].content == "hi"  # the model read the value meant for the program, {"text": "hi"}
    long = replies["long"].content
    assert long.startswith("[0,1,2,3,") and "characters; the first 100 are shown" in long
    assert len(long) < 300  # it read all 500 numbers, past max_result_chars


def test_images_audio_and_files_reach_the_model_as_langchain_content_blocks() -> None:
    with ToolRegistry(executor="thread") as registry:
        registry.register(media)
        agent = create_agent(scripted([("m1", "media", {"title": "sales"})]), tools=langchain_tools(registry))
        reply = tool_messages(asyncio.run(agent.ainvoke({"messages": [HumanMessage("go")]})))["m1"]
    assert reply.status == "success"  # its content was "the chart sales\n[image: image/png]\n..."
    blocks = [{key: value for key, value in block.items() if key != "id"} for block in reply.content]
    assert blocks == [
        {"type": "text", "text": "the chart sales"},
        {"type": "image", "base64": base64.b64encode(PIXEL).decode(), "mime_type": "image/png"},
        {"type": "text", "text": "[audio (audio/wav) not shown]"},  # a tool message has no audio block
        {"type": "file", "base64": base64.b64encode(b"%PDF-1.4 report").decode(), "mime_type": "application/pdf",
         "extras": {"filename": "report.pdf"}}]
    reply.model_dump_json()  # what a provider's client sends


@tool
def snapshot(title: str) -> list[Any]:
    """A picture and a page, as LangChain content blocks."""
    return [{"type": "text", "text": title},
            {"type": "image", "base64": base64.b64encode(PIXEL).decode(), "mime_type": "image/png"},
            {"type": "file", "base64": base64.b64encode(b"%PDF").decode(), "mime_type": "application/pdf",
             "extras": {"filename": "page.pdf"}}]


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_content_blocks_a_langchain_tool_returns_are_toolwires_blocks(backend: str) -> None:
    with ToolRegistry(executor=backend) as registry:
        registry.register(snapshot)
        [result] = registry.execute_tool_calls([{"type": "tool_use", "id": "s", "name": "snapshot",
                                                 "input": {"title": "home"}}], timeout=60)
    # the model got the blocks as JSON text, the image's base64 and all
    assert result.content == (Text("home"), Image(PIXEL, "image/png"),
                              Resource("file:///page.pdf", "application/pdf", data=b"%PDF"))


def test_media_goes_through_langchain_and_back_unchanged() -> None:
    with ToolRegistry(executor="thread") as inner, ToolRegistry(executor="thread") as outer:
        inner.register(media)
        outer.load("langchain", langchain_tools(inner))
        [result] = outer.execute_tool_calls([{"type": "tool_use", "id": "m", "name": "media",
                                              "input": {"title": "sales"}}])
    assert result.content == (Text("the chart sales"), Image(PIXEL, "image/png"), Text("[audio (audio/wav) not shown]"),
                              Resource("file:///report.pdf", "application/pdf", data=b"%PDF-1.4 report"))


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                               st.sampled_from(["type", "message", "edited_action", "name", "args", "decisions", "x"]),
                               inner | st.sampled_from(["approve", "edit", "reject", "respond", "written"]),
                               max_size=4),
                           max_leaves=10)


@given(json_values)
def test_any_resume_value_is_an_answer_or_a_value_error_saying_what_it_takes(decision: Any) -> None:
    from toolwire_langchain._tools import _decided, _Responded

    try:
        answer = _decided(decision, "written")
    except ValueError as exc:
        assert "resume a held call of 'written'" in str(exc)
        return
    assert isinstance(answer, bool | str | dict | _Responded)
