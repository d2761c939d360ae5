from __future__ import annotations

from collections.abc import Iterator

import pytest
from distributed import Client
from toolwire_dask._cluster import start_local_cluster


@pytest.fixture(scope="session")
def client() -> Iterator[Client]:
    """A client of a `LocalCluster` of two single-threaded worker processes, set up as the executor does."""
    with start_local_cluster(2, threads_per_worker=1) as cluster, Client(cluster, set_as_default=False) as client:
        yield client
