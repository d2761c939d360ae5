"""Fixtures: the FastAPI service and the echo server on 127.0.0.1, and registries on each backend."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from toolwire import ToolRegistry


def _load_support():
    """`_support.py` under a unique name (pytest imports in importlib mode, so tests cannot import it)."""
    path = Path(__file__).with_name("_support.py")
    spec = importlib.util.spec_from_file_location("toolwire_openapi_test_support", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


support = _load_support()
LoopExecutor, SPECS = support.LoopExecutor, support.SPECS


def backends() -> list[str]:
    """Our own loop executor, and the thread and process backends once they are installed."""
    installed = ToolRegistry().plugins.executors()
    return ["loop", *(name for name in ("thread", "process") if name in installed)]


@pytest.fixture(scope="session")
def service() -> Iterator[support.Served]:
    served = support.Served(support.service)
    yield served
    served.stop()


@pytest.fixture(scope="session")
def echo() -> Iterator[support.Served]:
    served = support.Served(support.echo)
    yield served
    served.stop()


@pytest.fixture(params=backends())
def registry(request: pytest.FixtureRequest) -> Iterator[ToolRegistry]:
    executor = LoopExecutor() if request.param == "loop" else request.param
    with ToolRegistry(executor=executor) as registry:
        yield registry


@pytest.fixture
def loop_registry() -> Iterator[ToolRegistry]:
    with ToolRegistry(executor=LoopExecutor()) as registry:
        yield registry


@pytest.fixture(params=["sync", "async"])
def client(request: pytest.FixtureRequest) -> str:
    """The invoker's client: every service test runs on both."""
    return request.param


@pytest.fixture
def specs() -> Path:
    if not SPECS.is_dir():
        pytest.skip(f"the shared specs folder {SPECS} is absent (it sits beside the repository)")
    return SPECS
