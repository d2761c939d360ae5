"""The `thread` backend's entry point: a tiny module that imports the executor only when it is built."""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolwire import ExecutorSpec, hookimpl

if TYPE_CHECKING:
    from toolwire import ExecutorConfig

    from toolwire_thread._executor import ThreadExecutor


def _make(config: ExecutorConfig) -> ThreadExecutor:
    from toolwire_thread._executor import ThreadExecutor

    return ThreadExecutor(config)


@hookimpl
def toolwire_executors() -> list[ExecutorSpec]:
    return [ExecutorSpec("thread", _make, "sync tools on a thread pool, async tools on one event loop")]
