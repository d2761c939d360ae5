"""No value a tool returns can break a batch or a response (decision 0046): bytes that are not UTF-8, text with
lone surrogates, reference cycles, nesting past what JSON writers go to, objects whose `repr` raises, inside
any containers, alone or in a `ToolOutput`, iterators returned unread and coroutines nobody awaited (alone or
inside a value), on the thread and process backends.

Properties: one result per call, in order; a value that can be written as JSON (text is mended, never refused)
is a success, any other a `tool_error` that says so; every result encodes as UTF-8 JSON in `as_dict`, in every
dialect's messages and as an MCP tool result.
"""

from __future__ import annotations

import base64
import json
import pickle
import re
from collections import abc
from collections.abc import Iterator
from typing import Any

import pydantic_core
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from toolwire import Audio, ErrorKind, Image, Resource, Text, ToolOutput, ToolRegistry

DIALECTS = ["openai-chat", "openai-responses", "anthropic", "gemini"]

text = st.one_of(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=12),
                 st.sampled_from(["\ud800", "a\udcffb", "\udfff\ud800", "💥"]))


def unprintable() -> Any:
    from tools_under_test import Unprintable  # importable by the workers too, so that it can travel

    return Unprintable()


def unawaited() -> Any:
    from tools_under_test import Unawaited  # a coroutine once unpickled where the tool runs

    return Unawaited()


leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(2**300), 2**300),
    st.floats(allow_nan=True, allow_infinity=True), text, st.binary(max_size=6), st.complex_numbers(max_magnitude=9),
    st.dates(), st.builds(unprintable), st.builds(unawaited),
)
keys = st.one_of(text, st.integers(), st.none(), st.tuples(st.integers(), st.integers()))
values = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.tuples(inner, inner), st.dictionaries(keys, inner, max_size=3),
    st.frozensets(st.one_of(st.integers(), text), max_size=3),
    st.builds(iter, st.lists(inner, max_size=2)),  # inside a value: refused unread as well
), max_leaves=8)


@st.composite
def cycle(draw: st.DrawFn) -> Any:
    container: Any = draw(st.sampled_from([[], {}]))
    if isinstance(container, list):
        container.append(container)
    else:
        container["self"] = container
    return draw(st.sampled_from([container, [1, container], {"a": container}]))


@st.composite
def deep(draw: st.DrawFn) -> Any:
    value: Any = draw(leaves)
    for _ in range(draw(st.sampled_from([250, 254, 255, 300]))):
        value = [value] if draw(st.booleans()) else {"k": value}
    return value


blocks = st.one_of(
    st.builds(Text, text), st.builds(Image, st.binary(max_size=8), text), st.builds(Audio, st.binary(max_size=8), text),
    st.builds(Resource, text, st.none() | text, st.none() | text, st.none() | st.binary(max_size=8)),
)


@st.composite
def output(draw: st.DrawFn) -> ToolOutput:
    return ToolOutput(draw(st.one_of(st.none(), values, cycle())), tuple(draw(st.lists(blocks, max_size=3))))


iterators = st.builds(iter, st.lists(values, max_size=3))  # returned, not yielded: refused unread (decision 0063)
returns = st.one_of(values, cycle(), deep(), output(), iterators,
                    st.builds(ToolOutput, iterators, st.lists(blocks, max_size=2).map(tuple)))


@pytest.fixture(scope="module", params=["thread", "process"])
def registry(request: pytest.FixtureRequest, registry_of_tools: Any) -> Iterator[ToolRegistry]:
    with registry_of_tools(request.param, ["returned", "numbers"]) as registry:
        yield registry


def writable(value: Any) -> bool:
    """Whether JSON can carry `value`: text always can (it is mended, in dicts, lists and tuples too), anything
    else when pydantic-core writes it."""
    if isinstance(value, ToolOutput):
        value = value.value
    if isinstance(value, str):
        return True
    if holds_lazy(value):
        return False
    for mend in (False, True):
        try:
            pydantic_core.to_json(mended(value) if mend else value, fallback=repr)
        except (ValueError, RecursionError):
            continue
        return True
    return False


def holds_lazy(value: Any, path: frozenset[int] = frozenset()) -> bool:
    """Whether `value` is or holds an iterator or a coroutine to be (each container once along a path: cycles
    end)."""
    if isinstance(value, abc.Iterator) or is_unawaited(value):
        return True
    if not isinstance(value, dict | list | tuple | frozenset) or id(value) in path:
        return False
    inner = value.values() if isinstance(value, dict) else value
    return any(holds_lazy(item, path | {id(value)}) for item in inner)


def is_unawaited(value: Any) -> bool:
    return type(value).__name__ == "Unawaited"


def mended(value: Any, path: frozenset[int] = frozenset()) -> Any:
    """`value` with "?" for each lone surrogate in the text of its dicts (keys too), lists and tuples; a
    `ValueError` for a cycle (found at once: recursing to the interpreter's limit let a finalizer that ran
    meanwhile fail in pytest's unraisable-exception hook, which failed a CI run)."""
    if isinstance(value, str):
        return re.sub("[\ud800-\udfff]", "?", value)
    if isinstance(value, dict | list | tuple):
        if id(value) in path:
            raise ValueError("a reference cycle")
        path = path | {id(value)}
    if isinstance(value, dict):
        return {mended(key) if isinstance(key, str) else key: mended(inner, path) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [mended(inner, path) for inner in value]
    return value


# A value holding several coroutines is refused naming the first, which is closed; the others warn as Python does.
@pytest.mark.filterwarnings("ignore:coroutine '_later' was never awaited:RuntimeWarning")
@settings(max_examples=150)
@given(drawn=st.lists(returns, min_size=1, max_size=4))
@example(drawn=[{"\ud800": iter([])}])  # the refusal names the key the iterator is under: mended text
def test_whatever_a_tool_returns_every_result_encodes(registry: ToolRegistry, drawn: list[Any]) -> None:
    calls = [{"id": f"c{i}", "type": "function",
              "function": {"name": "returned", "arguments": json.dumps({"pickled": base64.b64encode(
                  pickle.dumps(value)).decode()})}} for i, value in enumerate(drawn)]
    calls.append({"id": "plain", "type": "function", "function": {"name": "numbers", "arguments": '{"a": 2}'}})
    results = registry.execute_tool_calls(calls, timeout=20)
    assert [r.call_id for r in results] == [c["id"] for c in calls]
    assert results[-1].value == 3.0
    for value, result in zip(drawn, results, strict=False):
        if is_unawaited(value):  # a coroutine a plain function returns is awaited (decision 0068)
            assert result.value == "awaited", result
        elif writable(value):
            assert result.error is None, result.error
        else:
            assert result.error is not None and result.error.kind is ErrorKind.TOOL_ERROR
            message = result.error.message
            assert "cannot be" in message or (  # written as JSON, or sent back from the worker
                "returned an iterator" in message and "return a list" in message) or (
                "returned an awaitable" in message and "async def" in message), message
    from toolwire_mcp._server.shapes import mcp_result

    tools = {tool.name: tool for tool in registry.list()}
    for result in results:
        json.dumps(result.as_dict(), ensure_ascii=False).encode()
        mcp_result(result, tools[result.name]).model_dump_json()
    for dialect in DIALECTS[:3]:
        json.dumps(registry.tool_messages(results, format=dialect), ensure_ascii=False).encode()
    from google.genai import types  # Gemini's messages carry raw bytes, which its SDK encodes

    for message in registry.tool_messages(results, format="gemini"):
        types.Content.model_validate(message).model_dump_json()
