"""The executor conformance suite, run against the thread backend."""

from toolwire import Executor, ExecutorConfig
from toolwire.testing import ExecutorConformance
from toolwire_thread import ThreadExecutor


class TestThreadExecutor(ExecutorConformance):
    runs_concurrently = True
    reports_early = True
    cancels = True

    def make_executor(self, config: ExecutorConfig) -> Executor:
        return ThreadExecutor(config)
