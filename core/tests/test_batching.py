"""CallBatcher: concurrent single calls go out as one batch; a lone call waits for nothing."""

from __future__ import annotations

import asyncio

import pytest
from toolwire import CallBatcher, ToolCall, ToolRegistry, hookimpl


class BatchSizes:
    def __init__(self) -> None:
        self.sizes: list[int] = []

    @hookimpl(wrapper=True)
    def toolwire_execute(self, batch):  # type: ignore[no-untyped-def]
        self.sizes.append(len(batch.calls))
        return (yield)


@pytest.fixture
def registry() -> ToolRegistry:
    with ToolRegistry(executor="thread") as registry:
        registry.load("native", lambda a, b: a + b, name="add")
        yield registry


async def test_calls_made_together_run_as_one_batch(registry: ToolRegistry) -> None:
    sizes = BatchSizes()
    registry.plugins.register(sizes, name="sizes")
    batcher = CallBatcher(registry)

    async def one(i: int) -> object:
        await asyncio.sleep(0)  # as a framework's task does before it calls the tool
        return await batcher.call(ToolCall(f"c{i}", "add", {"a": i, "b": 1}))

    results = await asyncio.gather(*(one(i) for i in range(20)))
    assert [r.value for r in results] == [i + 1 for i in range(20)]
    assert [r.call_id for r in results] == [f"c{i}" for i in range(20)]
    assert sizes.sizes == [20]

    openai_call = {"id": "x", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}
    lone = await batcher.call(openai_call)
    assert lone.value == 5 and sizes.sizes == [20, 1]


async def test_one_bad_call_is_its_callers_error_only(registry: ToolRegistry) -> None:
    batcher = CallBatcher(registry)
    good, bad = await asyncio.gather(batcher.call(ToolCall("1", "add", {"a": 1, "b": 2})),
                                     batcher.call(ToolCall("2", "nope", {})))
    assert good.value == 3 and bad.error is not None and bad.error.kind == "unknown_tool"


async def test_more_than_one_call_is_refused(registry: ToolRegistry) -> None:
    with pytest.raises(ValueError, match="exactly one call"):
        await CallBatcher(registry).call([ToolCall("1", "add", {}), ToolCall("2", "add", {})])
