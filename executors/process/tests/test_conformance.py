"""The process backend passes toolwire's executor conformance suite, crash isolation included."""

from dataclasses import replace

from toolwire import Executor, ExecutorConfig
from toolwire.testing import ExecutorConformance
from toolwire_process import ProcessExecutor


class TestProcessExecutor(ExecutorConformance):
    isolates_crashes = True
    runs_concurrently = True
    reports_early = True
    cancels = True

    def make_executor(self, config: ExecutorConfig) -> Executor:
        # The suite's tools live in toolwire.testing, which imports pytest: preloading it in warm workers
        # keeps its import out of the suite's 0.5 s deadlines on a loaded machine.
        executor = ProcessExecutor(replace(config, options={"preload": ["toolwire.testing"]}))
        executor.warm()
        return executor
