"""Tools that misbehave, next to tools that do not: each misbehaving call gets the right error kind, every
other call its right value, the next batch works, and nothing leaks (child processes, file descriptors).

The thread backend runs tools inside the host process, so a tool that segfaults, calls `os._exit` or
floods memory takes the host with it there: those faults are for the process backend (the one to use for
untrusted tools), the others run on both.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from toolwire import ErrorKind, ToolCall, ToolRegistry, load_config
from toolwire.testing import no_leaks


def hangs() -> str:
    time.sleep(60)
    return "never"


def segfaults() -> None:
    ctypes.string_at(0)


def exits() -> None:
    os._exit(7)


class Stubborn(Exception):
    def __reduce__(self) -> Any:
        raise TypeError("this exception refuses to be pickled")


def raises_unpicklable() -> None:
    raise Stubborn("the tool failed in its own way")


def returns_unpicklable() -> Any:
    return lambda: "functions do not pickle"


def floods_memory() -> int:
    hoard = []
    while True:
        hoard.append(bytearray(64 << 20))


def add(a: int, b: int) -> int:
    return a + b


FAULTS = {
    "hangs": (hangs, ErrorKind.TIMEOUT, ("thread", "process")),
    "raises_unpicklable": (raises_unpicklable, ErrorKind.TOOL_ERROR, ("thread", "process")),
    "returns_unpicklable": (returns_unpicklable, ErrorKind.TOOL_ERROR, ("thread", "process")),
    "segfaults": (segfaults, ErrorKind.CRASHED, ("process",)),
    "exits": (exits, ErrorKind.CRASHED, ("process",)),
    "floods_memory": (floods_memory, ErrorKind.RESOURCE_EXHAUSTED, ("process",)),
}
CASES = [pytest.param(backend, name, id=f"{backend}-{name}")
         for name, (_, _, backends) in FAULTS.items() for backend in backends]


@pytest.fixture
def leak_check() -> Iterator[None]:
    with no_leaks():
        yield


@pytest.mark.parametrize(("backend", "fault"), CASES)
def test_a_misbehaving_tool_costs_only_its_own_call(backend: str, fault: str, leak_check: None) -> None:
    function, kind, _ = FAULTS[fault]
    config = load_config(environ={"TOOLWIRE_EXECUTOR": backend, "TOOLWIRE_WORKERS": "2",
                                  "TOOLWIRE_EXECUTOR_MEMORY_LIMIT": '"1GiB"'} if backend == "process" else
                         {"TOOLWIRE_EXECUTOR": backend, "TOOLWIRE_WORKERS": "2"})
    with ToolRegistry(config=config) as registry:
        registry.load("native", function, name=fault)
        registry.register(add)
        calls = [ToolCall(str(i), "add", {"a": i, "b": 100}) for i in range(12)]
        calls.insert(5, ToolCall("bad", fault, {}))
        started = time.monotonic()
        results = registry.execute_tool_calls(calls, timeout=2.0 if fault == "hangs" else 20.0)
        assert time.monotonic() - started < 15
        bad = results.pop(5)
        if fault == "returns_unpicklable" and backend == "thread":  # nothing crosses a process: a value
            assert callable(bad.value) and bad.error is None
        else:
            assert bad.error is not None and bad.error.kind == kind, bad
            assert bad.error.message
        assert [r.value for r in results] == [i + 100 for i in range(12)], [r.error for r in results]
        after = registry.execute_tool_calls([ToolCall(str(i), "add", {"a": i, "b": i}) for i in range(6)])
        assert [r.value for r in after] == [2 * i for i in range(6)]
