"""Whatever a tool raises is that call's error, and every other call of the batch gets its result: hypothesis
draws exceptions of every kind (outside `Exception`'s tree too: `KeyboardInterrupt`, `SystemExit`,
`GeneratorExit`, a `CancelledError` of the tool's own), with messages of any text (lone surrogates, blank) or
none, or a `__str__` that raises, raised by sync and async tools on the thread and process backends.

Properties: one result per call, in order, the plain call beside them correct; each raising call is an error
with a message the model can read (not blank, valid JSON as UTF-8), of the kind its exception says, never
`crashed` and never its deadline's `timeout`; the next batch works.
"""

from __future__ import annotations

import base64
import json
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from toolwire import ErrorKind, ToolCall, ToolRegistry

BASES = ["Exception", "ValueError", "OSError", "UnicodeError", "RecursionError", "TimeoutError", "MemoryError",
         "BaseException", "KeyboardInterrupt", "SystemExit", "GeneratorExit", "CancelledError", "ToolCallError"]
KINDS = [kind.value for kind in ErrorKind]

messages = st.one_of(
    st.text(max_size=12), st.sampled_from(["", " ", "\n", "\ud800", "a\udcffb", "💥"]),
    st.none(), st.integers(), st.binary(max_size=4), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
specs = st.tuples(st.sampled_from(BASES), messages, st.booleans(), st.sampled_from(KINDS))


@pytest.fixture(scope="module", params=["thread", "process"])
def registry(request: pytest.FixtureRequest, registry_of_tools: Any) -> Iterator[ToolRegistry]:
    with registry_of_tools(request.param, ["raised", "raised_async", "numbers"]) as registry:
        yield registry


def expected_kinds(spec: tuple[str, Any, bool, str]) -> set[ErrorKind]:
    base, _, _, kind = spec
    if base == "ToolCallError":
        return {ErrorKind(kind)}
    if base == "TimeoutError":
        return {ErrorKind.TIMEOUT}
    if base == "MemoryError":  # on the process backend, a worker out of memory is replaced
        return {ErrorKind.TOOL_ERROR, ErrorKind.RESOURCE_EXHAUSTED}
    return {ErrorKind.TOOL_ERROR}


@settings(max_examples=100)
@given(drawn=st.lists(st.tuples(specs, st.booleans()), min_size=1, max_size=5))
@example(drawn=[(("TimeoutError", " ", False, "tool_error"), False),  # a blank message said nothing to the model
                (("ValueError", "\n", True, "tool_error"), True), (("CancelledError", None, False, "tool_error"), True),
                (("ToolCallError", "", False, "transport"), False),
                (("KeyboardInterrupt", "\ud800", False, "tool_error"), True)])
def test_whatever_a_tool_raises_is_its_calls_error_alone(registry: ToolRegistry,
                                                        drawn: list[tuple[tuple[str, Any, bool, str], bool]]) -> None:
    calls = [ToolCall(f"c{i}", "raised_async" if is_async else "raised",
                      {"pickled": base64.b64encode(pickle.dumps(spec)).decode()})
             for i, (spec, is_async) in enumerate(drawn)]
    *failed, plain = registry.execute_tool_calls([*calls, ToolCall("plain", "numbers", {"a": 2})], timeout=20)
    assert [r.call_id for r in failed] == [c.id for c in calls] and plain.value == 3.0
    for (spec, _), result in zip(drawn, failed, strict=True):
        assert result.error is not None, result
        assert result.error.kind in expected_kinds(spec), (spec, result.error)
        assert result.error.message.strip(), (spec, result.error)
        assert "did not finish within" not in result.error.message, (spec, result.error)
        json.dumps(result.as_dict(), ensure_ascii=False).encode()
    assert registry.execute_tool_calls([ToolCall("again", "numbers", {"a": 1})])[0].value == 2.0
