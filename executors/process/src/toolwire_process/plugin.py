"""The `process` backend's entry point: kept tiny; the executor (and dill) load on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolwire import ExecutorConfig, ExecutorSpec, hookimpl

if TYPE_CHECKING:
    from toolwire_process._executor import ProcessExecutor


def _factory(config: ExecutorConfig) -> ProcessExecutor:
    from toolwire_process._executor import ProcessExecutor

    return ProcessExecutor(config)


@hookimpl
def toolwire_executors() -> list[ExecutorSpec]:
    return [ExecutorSpec("process", _factory, "warm isolated worker processes; tools shipped once with dill")]
