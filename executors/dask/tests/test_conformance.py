from __future__ import annotations

from typing import ClassVar

import pytest
from distributed import Client
from toolwire import ExecutorConfig
from toolwire.testing import ExecutorConformance
from toolwire_dask import DaskExecutor


class TestDaskExecutor(ExecutorConformance):
    isolates_crashes = False  # a dying worker takes its chunk-mates along (test_dask_executor shows how far)
    runs_concurrently = True
    reports_early = True
    cancels = False  # the caller hears at once, but a sync call running on a worker holds its thread to the end
    workers: ClassVar[int] = 2

    @pytest.fixture(autouse=True)
    def _cluster(self, client: Client) -> None:
        self.client = client

    def make_executor(self, config: ExecutorConfig) -> DaskExecutor:
        return DaskExecutor(config, client=self.client)
