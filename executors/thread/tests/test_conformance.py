"""The executor conformance suite, run against the thread backend."""

from toolwire import Executor, ExecutorConfig
from toolwire.testing import ExecutorConformance
from toolwire_thread import ThreadExecutor


class TestThreadExecutor(ExecutorConformance):
    def make_executor(self, config: ExecutorConfig) -> Executor:
        return ThreadExecutor(config)
