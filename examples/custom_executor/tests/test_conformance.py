"""The conformance suite every toolwire backend passes, run against this one."""

import pytest
from toolwire import testing
from toolwire.testing import ExecutorConformance
from toolwire_futures import FuturesExecutor


@pytest.fixture(autouse=True)
def short_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    # Hung calls keep a pool thread until they return, and the interpreter waits for pool threads at exit.
    monkeypatch.setattr(testing, "HANG_S", 3.0)


class TestFuturesExecutor(ExecutorConformance):
    def make_executor(self, config):
        return FuturesExecutor(config)
