"""ToolRegistry: names, namespaces, selection, batches and the execute hook."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import logging
import math
import sys
import time

import pytest
from toolwire import (
    Config,
    ErrorKind,
    ExecutorConfig,
    Image,
    Resource,
    Text,
    Tool,
    ToolCall,
    ToolCallError,
    ToolOutput,
    ToolRegistry,
    ToolResult,
    hookimpl,
)


def call(call_id: str, name: str, arguments: str = '{"a": 1, "b": 2}') -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def test_namespaces_use_the_configured_separator(serial, make_tool) -> None:
    registry = ToolRegistry(executor=serial, separator="-")
    registry.add(make_tool(), namespace="calc")
    assert "calc-add" in registry
    assert registry.get("calc-add").namespace == "calc"
    assert [r.value for r in registry.execute_tool_calls([call("1", "calc-add")])] == [3]


def test_names_are_made_valid_for_every_provider(serial, make_tool) -> None:
    registry = ToolRegistry(executor=serial)
    [tool] = registry.add(make_tool("x" * 70), namespace="a.b")
    assert len(tool.name) == 64
    assert all(c.isalnum() or c in "_-" for c in tool.name)
    [other] = registry.add(make_tool("x" * 71), namespace="a.b")
    assert other.name != tool.name


def test_a_name_collision_is_an_error_unless_replace(serial, make_tool) -> None:
    registry = ToolRegistry(executor=serial)
    registry.add(make_tool())
    with pytest.raises(ValueError, match=r"'add' is already registered; pass replace=True to replace it \(or give "
                                         r"these tools a namespace=, which prefixes their names\)$"):
        registry.add(make_tool())
    with pytest.raises(ValueError, match=r"'a_add' is already registered; pass replace=True to replace it$"):
        registry.add(make_tool(), namespace="a")
        registry.add(make_tool(), namespace="a")
    replacement = make_tool()
    registry.add(replacement, replace=True)
    assert registry.get("add").invoker is replacement.invoker
    with pytest.raises(ValueError, match=r"two tools named 'x' were given together .*; give each its own name"):
        registry.add([make_tool("x"), make_tool("x")])
    assert "x" not in registry


def test_a_ready_made_tool_whose_parameters_are_not_json_schema_is_refused_at_once(serial, make_tool) -> None:
    registry = ToolRegistry(executor=serial)
    broken = dataclasses.replace(make_tool("broken"), parameters={"type": "object", "properties": {"a": {"type": 3}}})
    with pytest.raises(ValueError, match=r"^the parameters of the tool 'broken' are not valid JSON Schema \(at "
                                         r"'properties/a/type': .*\): a model provider would refuse every request"):
        registry.add([make_tool("fine"), broken])  # every request listing it failed at the provider
    assert "fine" not in registry and "broken" not in registry


def test_tools_whose_names_become_one_when_made_valid_are_told_apart(serial, make_tool) -> None:
    registry = ToolRegistry(executor=serial)
    dotted, spaced, plain = registry.add([make_tool("get.user"), make_tool("get user"), make_tool("get_user")])
    assert dotted.name == "get_user" and spaced.name.startswith("get_user_") and plain.name.startswith("get_user_")
    assert len({dotted.name, spaced.name, plain.name}) == 3 and all(t.name in registry for t in (dotted, spaced, plain))


def test_unregister_by_name_and_namespace(serial, make_tool) -> None:
    registry = ToolRegistry(executor=serial)
    registry.add([make_tool("a"), make_tool("b")], namespace="n")
    registry.add(make_tool("c"))
    assert registry.unregister("c") == ["c"]
    assert sorted(registry.unregister(namespace="n")) == ["n_a", "n_b"]
    assert len(registry) == 0
    with pytest.raises(KeyError, match="no tool named 'zzz'"):
        registry.unregister("zzz")


def test_enable_and_disable_by_name_namespace_and_tag(serial, make_tool) -> None:
    registry = ToolRegistry(executor=serial)
    registry.add(make_tool("a", tags=frozenset({"math"})))
    registry.add(make_tool("b"), namespace="n", tags=["io"])
    registry.disable(tag="math")
    registry.disable(namespace="n")
    assert registry.schemas() == []
    [a, b] = registry.execute_tool_calls([call("1", "a"), call("2", "n_b")])
    assert a.error.kind is ErrorKind.DISABLED and b.error.kind is ErrorKind.DISABLED
    registry.enable("a")
    assert [s["function"]["name"] for s in registry.schemas()] == ["a"]
    registry.enable(tag="io")
    assert [t.name for t in registry.list(enabled=True)] == ["a", "n_b"]


def test_include_and_exclude_globs_select_loaded_tools(serial, make_tool) -> None:
    registry = ToolRegistry(executor=serial)

    class Loader:
        def load(self, source: list[str]):
            return [make_tool(name) for name in source]

    from toolwire import LoaderSpec

    class Offers:
        @hookimpl
        def toolwire_loaders(self):
            return [LoaderSpec("list", Loader)]

    registry.plugins.register(Offers(), name="list-loader")
    registry.load("list", ["get_a", "get_b", "set_a"], include="get_*", exclude=["*_b"])
    assert [t.name for t in registry] == ["get_a"]


def test_one_result_per_call_in_order_with_duplicate_and_empty_ids(serial, make_tool) -> None:
    registry = ToolRegistry(executor=serial)
    registry.add(make_tool())
    calls = [
        call("x", "add"),
        call("x", "add", '{"a": 5, "b": 5}'),
        call("", "add", '{"a": "7", "b": "1"}'),
        call("y", "missing"),
        call("", "add", "{not json"),
        call("z", "add", '{"a": 1}'),
        call("w", "add", '{"a": 1, "b": 2, "c": 3}'),
        call("v", "add", '{"a": "one", "b": 2}'),
        ToolCall("u", "add", {"a": 2, "b": 2}),
    ]
    results = registry.execute_tool_calls(calls)
    assert [r.call_id for r in results] == ["x", "x", "", "y", "", "z", "w", "v", "u"]
    assert [r.value for r in results[:3]] == [3, 10, 8]
    kinds = [r.error.kind.value if r.error else None for r in results]
    invalid = "invalid_arguments"
    assert kinds == [None, None, None, "unknown_tool", invalid, invalid, invalid, invalid, None]
    assert "missing required argument 'b'" in results[5].content
    assert "unexpected argument 'c'" in results[6].content
    assert "argument 'a' should be of type integer" in results[7].content
    assert "not valid JSON (key must be a string at line 1 column 2)" in results[4].content
    assert serial.batches == [["x", "x", "", "u"]]  # only valid calls reach the backend


def test_values_become_text_for_the_model(serial, make_tool) -> None:
    registry = ToolRegistry(executor=serial)
    registry.add(make_tool("echo"))
    [result] = registry.execute_tool_calls([call("1", "echo", '{"k": [1, "two", null]}')])
    assert result.value == {"k": [1, "two", None]}
    assert result.content == '{"k":[1,"two",null]}'


def test_the_async_twin_gives_the_same_results(serial, make_tool) -> None:
    registry = ToolRegistry(executor=serial)
    registry.add(make_tool())

    async def main() -> list[ToolResult]:
        return await registry.aexecute_tool_calls([call("1", "add"), call("2", "nope")])

    ok, missing = asyncio.run(main())
    assert ok.value == 3 and missing.error.kind is ErrorKind.UNKNOWN_TOOL


def test_execute_wrappers_see_every_batch_and_may_rewrite_it(serial, make_tool) -> None:
    registry = ToolRegistry(executor=serial)
    registry.add(make_tool())
    seen: list[tuple[int, list[bool]]] = []

    class Audit:
        @hookimpl(wrapper=True)
        def toolwire_execute(self, batch):
            batch.calls = [c for c in batch.calls if c.id != "drop"]
            results = yield
            seen.append((len(batch.calls), [r.is_error for r in results]))
            return results

    registry.plugins.register(Audit(), name="audit")
    results = registry.execute_tool_calls([call("keep", "add"), call("drop", "add"), call("bad", "nope")])
    assert [r.call_id for r in results] == ["keep", "bad"]
    assert seen == [(2, [False, True])]


def test_close_closes_backends_and_the_context_manager_closes(serial, make_tool) -> None:
    with ToolRegistry(executor=serial) as registry:
        registry.add(make_tool())
        registry.execute_tool_calls([call("1", "add")])
    assert serial.closed


def test_a_closed_registry_refuses_batches_instead_of_starting_backends_nobody_closes(make_tool) -> None:
    """After `close()`, a batch or `warm()` is an error that says what to do. (They used to start the backend
    again, whose workers nothing would close.)"""
    registry = ToolRegistry(executor="thread")
    registry.add(make_tool())
    registry.execute_tool_calls([call("1", "add")])
    registry.close()
    for use in (lambda: registry.execute_tool_calls([call("2", "add")]), registry.warm,
                lambda: asyncio.run(registry.aexecute_tool_calls([call("3", "add")]))):
        with pytest.raises(RuntimeError, match=r"ToolRegistry is closed.*create a new one"):
            use()
    registry.close()  # twice is fine


def test_register_without_a_known_loader_is_a_type_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLWIRE_DISABLE_PLUGIN_AUTOLOAD", "1")
    with pytest.raises(TypeError, match="no installed loader recognises"):
        ToolRegistry().register(lambda: 1)


def test_nulls_a_strict_model_sends_for_omitted_optionals_are_dropped(serial) -> None:
    from toolwire import Tool

    schema = {
        "type": "object",
        "properties": {
            "text": {"type": "string"},
            "options": {
                "type": "object",
                "properties": {"tag": {"type": "string"}, "note": {"type": ["string", "null"]}},
            },
        },
        "required": ["text"],
    }
    registry = ToolRegistry(executor=serial)
    registry.add(Tool("echo", "Echoes.", schema, lambda **kwargs: kwargs))
    arguments = '{"text": "hi", "options": {"tag": null, "note": null}}'
    [result] = registry.execute_tool_calls([call("1", "echo", arguments)])
    assert result.value == {"text": "hi", "options": {"note": None}}  # `note` accepts null, so it stays


def test_a_misspelled_loader_option_says_which_were_meant() -> None:
    registry = ToolRegistry(executor="thread")
    with pytest.raises(TypeError, match=r"the native loader has no option 'nme' \(did you mean 'name'\?\); its "
                                        r"options: .*name"):
        registry.load("native", lambda: 1, nme="one")


@pytest.mark.parametrize("value", [0.0, -0.0, 1.5, 3.0, 0.0001, 1e-5, 1e16, 123456789012345.6, 1 / 3, 2**70, -7,
                                   "text", float("nan"), float("inf"), pytest.param(10**5000, id="5001-digits"),
                                   pytest.param(-(10**4300), id="-4301-digits")])
def test_a_values_text_is_its_json(value: object) -> None:  # an int past repr's 4300 digits too
    import pydantic_core

    registry = ToolRegistry(executor="thread")
    registry.load("native", lambda: value, name="give")
    [result] = registry.execute_tool_calls([ToolCall("1", "give", {})])
    expected = value if isinstance(value, str) else pydantic_core.to_json(value).decode()
    assert result.content == expected


def _cycle() -> dict:
    value: dict = {}
    value["self"] = value
    return value


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(("value", "reason"), [
    (b"\x89PNG\r\n\x1a\n\xff", "invalid utf-8 sequence of 1 bytes from index 0"),
    (_cycle(), "Circular reference detected (id repeated)"),
    (_nested(300), "Maximum serialization depth exceeded"),
    ([ToolCall], None),  # a class is written as its repr: fine
])
def test_a_value_that_cannot_be_written_as_json_is_its_calls_error_alone(value: object, reason: str | None) -> None:
    registry = ToolRegistry(executor="thread")
    registry.load("native", lambda: value, name="give")
    registry.load("native", lambda: "fine", name="other")
    results = registry.execute_tool_calls([ToolCall("1", "give", {}), ToolCall("2", "other", {})])
    assert results[1].value == "fine"
    if reason is None:
        assert results[0].error is None and results[0].content == f'["{ToolCall!r}"]'
        return
    assert results[0].error is not None and results[0].error.kind is ErrorKind.TOOL_ERROR
    assert results[0].content.startswith("'give' returned a value that cannot be written as JSON (Error serializing "
                                         "to JSON: ")
    assert reason in results[0].content and "return JSON-ready data" in results[0].content
    assert results[0].value is None


def test_a_cycle_is_found_at_once_not_at_the_recursion_limit() -> None:
    from toolwire._json_ready import valid_texts

    headroom = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 60)  # a few frames more than this test needs: no room to recurse
    try:  # mending a cycle recursed to the limit, where a finalizer running meanwhile failed too (a flaky CI run)
        for cyclic in (_cycle(), [_cycle()]):
            with pytest.raises(ValueError, match="a reference cycle, or nesting deeper than JSON is written"):
                valid_texts(cyclic)
    finally:
        sys.setrecursionlimit(headroom)
    with pytest.raises(ValueError, match="a reference cycle, or nesting deeper than JSON is written"):
        valid_texts(_nested(400))  # past what pydantic-core writes, stopped well short of the recursion limit
    shared = ["\ud800"]
    assert valid_texts([shared, {"k": shared}]) == [["\ufffd"], {"k": ["\ufffd"]}]  # shared, not a cycle


def test_text_reaches_the_model_as_valid_unicode_and_the_program_as_it_was() -> None:
    def fail() -> None:
        raise ValueError("no file named b'\udcff'")

    registry = ToolRegistry(executor="thread")
    registry.load("native", lambda: "name\udcff.txt", name="listing")
    registry.load("native", fail, name="fail")
    registry.load("native", lambda: ToolOutput({"n": 1}, (Text("a\ud800"),)), name="blocks")
    listing, failed, blocks = registry.execute_tool_calls(
        [ToolCall("1", "listing", {}), ToolCall("2", "fail", {}), ToolCall("3", "blocks", {})])
    assert listing.value == "name\udcff.txt" and listing.content == "name\ufffd.txt"
    assert failed.content == "ValueError: no file named b'\ufffd'" == failed.error.message
    assert blocks.content == (Text("a\ufffd"),) and blocks.value == {"n": 1}
    for result in (listing, failed, blocks):
        json.dumps(result.as_dict(), ensure_ascii=False).encode()
    assert listing.as_dict()["value"] == "name\ufffd.txt"


def test_a_mended_error_message_keeps_the_rest_of_the_error() -> None:
    """Mending a message's text dropped its `retry_after` (and would drop a question)."""
    def busy() -> None:
        raise ToolCallError("busy with b'\udcff'", "transport", retry_after=3.0, input_required={"inputRequests": {}})

    registry = ToolRegistry(executor="thread")
    registry.load("native", busy, name="busy")
    [result] = registry.execute_tool_calls([ToolCall("1", "busy", {})])
    assert result.error is not None and result.error.message == "busy with b'\ufffd'"
    assert (result.error.retry_after, result.error.input_required) == (3.0, {"inputRequests": {}})



def test_text_inside_a_value_reaches_the_model_mended_and_the_program_as_it_was() -> None:
    files = {"dir": ["ok.txt", "caf\udce9.txt"], "count": 2}  # os.listdir of a name that is not UTF-8
    registry = ToolRegistry(executor="thread")
    registry.load("native", lambda: files, name="listing")
    registry.load("native", lambda: ToolOutput(files, (Text("2 files"),)), name="output")
    listing, output = registry.execute_tool_calls([ToolCall("1", "listing", {}), ToolCall("2", "output", {})])
    assert listing.error is None and listing.value is files
    assert listing.content == '{"dir":["ok.txt","caf\ufffd.txt"],"count":2}'
    assert output.error is None and output.value is files
    for result in (listing, output):
        assert result.as_dict()["value"] == {"dir": ["ok.txt", "caf\ufffd.txt"], "count": 2}


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_a_blank_error_message_still_tells_the_model_something(backend: str) -> None:
    def blank(text: str) -> None:
        raise ToolCallError(text, kind="transport")

    with ToolRegistry(executor=backend) as registry:
        registry.load("native", blank, name="blank")
        results = registry.execute_tool_calls([ToolCall(str(i), "blank", {"text": text})
                                               for i, text in enumerate(["", " \n"])])
    assert [(r.error.kind, r.content) for r in results] == [("transport", "the tool failed without saying why")] * 2


def test_tool_output_content_is_checked_where_the_tool_makes_it() -> None:
    assert ToolOutput(1, [Text("a")]).content == ToolOutput(1, Text("a")).content == (Text("a"),)
    for content, message in [
        ("abc", "ToolOutput content is a tuple of content blocks (Text, Image, Audio, Resource), got str 'abc'"),
        (("abc",), "ToolOutput content[0] is str 'abc', not a content block (Text, Image, Audio, Resource); wrap "
                   "text as Text(str 'abc')"),
        ((Text("a"), {"type": "text"}), "ToolOutput content[1] is dict {'type': 'text'}, not a content block"),
        ((Text(5),), "ToolOutput content[0]: Text.text must be str, got int 5"),
        ((Image("iVBOR", "image/png"),), "ToolOutput content[0]: Image.data must be bytes, got str 'iVBOR'"),
        ((Resource("file:///a", text=b"x"),), "ToolOutput content[0]: Resource.text must be str or NoneType"),
    ]:
        with pytest.raises(TypeError) as raised:
            ToolOutput(None, content)
        assert str(raised.value).startswith(message)

    registry = ToolRegistry(executor="thread")
    registry.load("native", lambda: ToolOutput(None, ["abc"]), name="bad")
    registry.load("native", lambda: ToolOutput(None, [Text("fine")]), name="good")
    bad, good = registry.execute_tool_calls([ToolCall("1", "bad", {}), ToolCall("2", "good", {})])
    assert bad.error is not None and bad.content.startswith("TypeError: ToolOutput content[0] is str 'abc'")
    assert good.content == (Text("fine"),)


def test_a_tools_changed_callback_that_fails_is_logged_and_the_others_hear_the_change(
        caplog: pytest.LogCaptureFixture, make_tool) -> None:
    registry = ToolRegistry(executor="thread")
    heard: list[tuple[str, ...]] = []

    def broken(changes: object) -> None:
        raise RuntimeError("the client is gone")

    registry.on_tools_changed(broken)
    registry.on_tools_changed(lambda changes: heard.append(changes.added))
    registry.add(make_tool("add"))
    assert heard == [("add",)] and "add" in registry
    assert "a callback of on_tools_changed failed" in caplog.text


def test_a_listener_that_fails_is_logged_and_the_batch_goes_on(caplog: pytest.LogCaptureFixture, make_tool) -> None:
    def listener(index: int, result: ToolResult) -> None:
        if index == 1:
            raise RuntimeError("listener broke")
        heard.append(index)

    heard: list[int] = []
    registry = ToolRegistry(config=Config(executor=ExecutorConfig("thread", workers=1)))  # listeners told in turn
    registry.add(make_tool("add"))
    calls = [ToolCall(str(i), "add", {"a": i, "b": 1}) for i in range(3)] + [ToolCall("x", "missing", {})]
    with caplog.at_level(logging.ERROR, logger="toolwire"):
        results = registry.execute_batch(registry.batch(calls, on_result=listener))
    assert [r.content for r in results[:3]] == ["1", "2", "3"] and results[3].error.kind is ErrorKind.UNKNOWN_TOOL
    assert sorted(heard) == [0, 2, 3]
    assert "on_result failed for call 1 (result 1); the batch goes on" in caplog.text


def test_a_batch_ends_after_its_listener_has_heard_every_result(make_tool) -> None:
    def listener(index: int, result: ToolResult) -> None:
        if index == 0:
            time.sleep(0.5)  # the other calls end meanwhile, on another worker thread
        heard.append(index)

    heard: list[int] = []
    registry = ToolRegistry(config=Config(executor=ExecutorConfig("thread", workers=4)))
    registry.add(make_tool("add"))
    calls = [ToolCall(str(i), "add", {"a": i, "b": 1}) for i in range(4)]
    results = registry.execute_batch(registry.batch(calls, on_result=listener))
    assert sorted(heard) == [0, 1, 2, 3] and [r.content for r in results] == ["1", "2", "3", "4"]


def test_a_tools_broken_escapes_are_mended_so_that_every_request_listing_it_encodes() -> None:
    registry = ToolRegistry(executor="thread")
    schema = {"type": "object", "properties": {"x": {"type": "string", "description": "an \udcff x"}}}
    registry.add(Tool("t", "what t does \ud800", schema, lambda **arguments: arguments))
    tool = registry.get("t")
    assert tool.description == "what t does \ufffd"
    assert tool.parameters["properties"]["x"]["description"] == "an \ufffd x"
    for dialect in ("openai-chat", "openai-responses", "anthropic", "gemini"):
        json.dumps(registry.schemas(dialect), ensure_ascii=False).encode()  # as the providers' clients send them
    [result] = registry.execute_tool_calls([ToolCall("1", "t", {"x": "y"})])
    assert result.value == {"x": "y"}


def test_numbers_json_has_not_are_left_out_of_a_tools_schemas_and_the_functions_defaults_apply() -> None:
    def top(values: list[float], limit: float = math.inf, floor: float = -math.inf) -> float:
        return min(max(values), limit) if max(values) > floor else floor

    registry = ToolRegistry(executor="thread")
    registry.register(top)
    registry.add(Tool("t", "t", {"type": "object", "properties": {"x": {"enum": [1.0, math.nan]}}}, lambda x: x))
    assert registry.get("top").parameters["properties"]["limit"] == {"type": "number"}
    assert registry.get("t").parameters["properties"]["x"] == {"enum": [1.0]}
    for dialect in ("openai-chat", "openai-responses", "anthropic", "gemini"):
        json.dumps(registry.schemas(dialect), allow_nan=False)  # JSON as the providers' APIs read it
    [result] = registry.execute_tool_calls([ToolCall("1", "top", {"values": [1, 5]})])
    assert result.value == 5


async def _slow(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


def test_an_async_batch_whose_caller_gave_up_leaves_no_unread_error(caplog: pytest.LogCaptureFixture) -> None:
    """A batch keeps running after its awaiting task is cancelled; when the caller's loop then shuts down, the
    batch ends with that loop's cancellation, which nobody awaits: asyncio logged it as "Future exception was
    never retrieved" (a done callback reading it was not enough: a loop that closes runs no more callbacks; that
    happened about once in 40 give-ups, so the test gives up 400 times)."""
    import gc

    registry = ToolRegistry(executor="thread")
    registry.register(_slow)

    async def give_up() -> None:
        task = asyncio.create_task(registry.aexecute_tool_calls([ToolCall("1", "_slow", {"seconds": 5})]))
        await asyncio.sleep(0.005)
        task.cancel()

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        with registry:
            for _ in range(400):
                asyncio.run(give_up())
        gc.collect()  # once, the registry closed: a full collection per give-up costs seconds in a whole suite's heap
    assert "never retrieved" not in caplog.text
