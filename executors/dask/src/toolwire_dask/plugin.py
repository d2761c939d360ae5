"""The `dask` backend's entry point: kept tiny; the executor (and dask, distributed, dill) load on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolwire import ExecutorSpec, hookimpl

if TYPE_CHECKING:
    from toolwire import ExecutorConfig

    from toolwire_dask._executor import DaskExecutor


def _factory(config: ExecutorConfig) -> DaskExecutor:
    from toolwire_dask._executor import DaskExecutor

    return DaskExecutor(config)


@hookimpl
def toolwire_executors() -> list[ExecutorSpec]:
    return [ExecutorSpec("dask", _factory, "a Dask distributed cluster; tools shipped once, calls sent in chunks")]
