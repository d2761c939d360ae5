"""Callers that each await their own call (a server's clients, a framework's tools) through one `CallBatcher`,
some of them giving up at any moment: each that stays gets its own call's result, one that gives up gets its
cancellation and costs the others nothing, and the next call works. On the thread and process backends, with
sync and async tools: a process worker runs a chunk's sync calls one after another and its async ones together,
so a cancellation lands on calls that have finished, are running, or have not started."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from toolwire import CallBatcher, ErrorKind, ToolCall, ToolRegistry

callers = st.lists(st.fixed_dictionaries({
    "tool": st.sampled_from(["nap", "nap_async"]),
    "ms": st.integers(0, 20),
    "arrives_ms": st.integers(0, 3),
    "gives_up_ms": st.none() | st.integers(0, 15),
}), min_size=1, max_size=25)


@pytest.fixture(scope="module", params=["thread", "process"])
def registry(request: pytest.FixtureRequest, registry_of_tools: Any) -> Iterator[ToolRegistry]:
    """One registry per backend for every example, its tools known to be quick: the process backend then sends
    a batch's calls to a worker in one chunk (a fresh registry sends each call of a small batch alone)."""
    with registry_of_tools(request.param, ["nap", "nap_async"]) as registry:
        for tool in ("nap", "nap_async"):
            registry.execute_tool_calls([ToolCall(f"{i}", tool, {"tag": "", "ms": 0}) for i in range(50)])
        yield registry


@settings(max_examples=60)
@given(callers)
def test_each_caller_gets_its_own_result_or_its_cancellation(registry: ToolRegistry,
                                                             plan: list[dict[str, Any]]) -> None:
    results = asyncio.run(_callers(CallBatcher(registry, timeout=10), plan))
    for index, (caller, result) in enumerate(zip(plan, results[:-1], strict=True)):
        if isinstance(result, asyncio.CancelledError):
            assert caller["gives_up_ms"] is not None
            continue
        assert not isinstance(result, BaseException), (index, result)
        assert result.call_id == f"c{index}"
        if result.error is None:
            assert result.value == f"t{index}"
        else:  # it gave up after its call was sent: its own call was cancelled, no other
            assert result.error.kind is ErrorKind.CANCELLED and caller["gives_up_ms"] is not None, (index, result)
    assert results[-1].value == "after"


async def _callers(batcher: CallBatcher, plan: list[dict[str, Any]]) -> list[Any]:
    async def caller(index: int, spec: dict[str, Any]) -> Any:
        await asyncio.sleep(spec["arrives_ms"] / 1000)
        return await batcher.call(ToolCall(f"c{index}", spec["tool"], {"tag": f"t{index}", "ms": spec["ms"]}))

    tasks = [asyncio.create_task(caller(index, spec)) for index, spec in enumerate(plan)]
    loop = asyncio.get_running_loop()
    for task, spec in zip(tasks, plan, strict=True):
        if spec["gives_up_ms"] is not None:
            loop.call_later(spec["gives_up_ms"] / 1000, task.cancel)
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    return [*results, await batcher.call(ToolCall("after", "nap", {"tag": "after", "ms": 0}))]
