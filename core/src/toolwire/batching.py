"""`CallBatcher`: single calls made concurrently on one event loop, executed together as batches.

Servers get one request per call, and agent frameworks call one tool at a time, each in its own task;
toolwire's backends are fastest when they get a model's calls as one batch (the process backend ships
chunks, the thread backend starts async tools together). A `CallBatcher` gathers the calls its callers
submit while the event loop is busy, and sends them as one batch as soon as a pass of the loop brings no
new call: a lone call waits for nothing, a burst goes out together.

```python
batcher = CallBatcher(registry)
results = await asyncio.gather(*(batcher.call(call) for call in calls))   # one batch
```
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from toolwire.executing import check_timeout
from toolwire.tools import ToolResult

if TYPE_CHECKING:
    from collections.abc import Mapping

    from toolwire.batches import Batch
    from toolwire.registry import ToolRegistry

__all__ = ["CallBatcher"]


@dataclass(slots=True)
class _Pending:
    """The calls gathered on one loop since its last batch went out."""

    calls: list[Any] = field(default_factory=list)
    futures: list[asyncio.Future[ToolResult]] = field(default_factory=list)
    contexts: list[contextvars.Context] = field(default_factory=list)
    approved: dict[str, bool] = field(default_factory=dict)
    inputs: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    scheduled: bool = False
    seen: int = 0


class CallBatcher:
    """Gathers concurrent `call()`s on an event loop into batches executed by `registry`.

    `executor` and `timeout` apply to every batch. Each caller gets its own call's `ToolResult` as soon as
    that call is done (not when its whole batch is); a failure of one call is that caller's result, never
    another's; a caller that is cancelled (a client gone, a request cancelled) cancels its call only.
    """

    def __init__(self, registry: ToolRegistry, *, executor: str | None = None, timeout: float | None = None) -> None:
        check_timeout(timeout)  # refused here, not in every batch it would make
        self.registry = registry
        self.executor = executor
        self.timeout = timeout
        self._pending: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pending] = weakref.WeakKeyDictionary()
        self._batches: set[asyncio.Task[None]] = set()

    async def call(self, call: Any, *, approved: bool = False, inputs: Mapping[str, Any] | None = None
                   ) -> ToolResult:
        """Execute one call (a `ToolCall` or one call in any provider's shape) with others submitted meanwhile.

        `approved=True` says the call was approved elsewhere (an agent framework's own approval flow): it runs
        though the registry's approval policy would hold it, as with `execute_tool_calls(approvals=...)`.
        `inputs` answers what the call asked for when it last ran (`execute_tool_calls(inputs=...)`)."""
        parsed = self.registry.parse_calls(call)
        if len(parsed) != 1:
            raise ValueError(f"CallBatcher.call takes exactly one call, got {len(parsed)}; use "
                             "registry.aexecute_tool_calls for a whole message")
        loop = asyncio.get_running_loop()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = _Pending()
        future: asyncio.Future[ToolResult] = loop.create_future()
        pending.calls.append(parsed[0])
        pending.futures.append(future)
        pending.contexts.append(contextvars.copy_context())  # the caller's (its trace, for one)
        if approved:
            pending.approved[parsed[0].id] = True
        if inputs is not None:
            pending.inputs[parsed[0].id] = inputs
        if not pending.scheduled:
            pending.scheduled = True
            pending.seen = 0
            loop.call_soon(self._flush, loop)
        return await future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        pending = self._pending[loop]
        if len(pending.calls) != pending.seen:  # calls still arriving: wait one more pass of the loop
            pending.seen = len(pending.calls)
            loop.call_soon(self._flush, loop)
            return
        self._pending[loop] = _Pending()
        task = loop.create_task(self._run(pending))
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)

    async def _run(self, pending: _Pending) -> None:
        loop = asyncio.get_running_loop()
        futures = pending.futures

        def deliver(index: int, result: ToolResult) -> None:  # from whichever thread knows the result first
            loop.call_soon_threadsafe(_resolve, futures[index], result)

        batch = self.registry.batch(pending.calls, executor=self.executor, timeout=self.timeout,
                                    approvals=pending.approved, inputs=pending.inputs, on_result=deliver)
        batch.contexts = {id(call): context for call, context in zip(batch.calls, pending.contexts, strict=True)}
        for index, future in enumerate(futures):
            future.add_done_callback(functools.partial(_cancel_when_cancelled, batch, index))
        try:
            results = await self.registry.aexecute_batch(batch)
        except Exception as exc:  # the batch itself failed (a closed registry): every caller hears it
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, result in zip(futures, results, strict=True):
            _resolve(future, result)


def _resolve(future: asyncio.Future[ToolResult], result: ToolResult) -> None:
    if not future.done():
        future.set_result(result)


def _cancel_when_cancelled(batch: Batch, index: int, future: asyncio.Future[ToolResult]) -> None:
    """A caller that stopped waiting (its task cancelled) cancels its own call in the batch."""
    if future.cancelled():
        batch.cancel([index])
