"""The module the entry point names: it tells toolwire which backends this distribution offers."""

from toolwire import ExecutorConfig, ExecutorSpec, hookimpl


def _build(config: ExecutorConfig):
    from toolwire_futures.executor import FuturesExecutor  # heavy imports belong here, not at module level

    return FuturesExecutor(config)


@hookimpl
def toolwire_executors() -> list[ExecutorSpec]:
    return [ExecutorSpec("futures", _build, "each call on a concurrent.futures thread pool")]
