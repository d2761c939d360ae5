"""Hypothesis profiles for the property tests: `ci` (default: 1,200 examples per test, about 3,000 in a CI run)
and `nightly` (a long search): `HYPOTHESIS_PROFILE=nightly uv run pytest tests/properties`. `registry_of_tools`
fixture makes the registries they run on."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from toolwire import ToolRegistry, load_config

HERE = Path(__file__).parent

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                                       HealthCheck.function_scoped_fixture]}
settings.register_profile("ci", max_examples=int(os.environ.get("TOOLWIRE_PROPERTY_EXAMPLES", "1200")), **_COMMON)
settings.register_profile("nightly", max_examples=50_000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def registry_of_tools() -> Callable[..., contextlib.AbstractContextManager[ToolRegistry]]:
    """`registry_of_tools(backend, names=None)`: see `_registry_of_tools`."""
    return _registry_of_tools


@contextlib.contextmanager
def _registry_of_tools(backend: str, names: list[str] | None = None) -> Iterator[ToolRegistry]:
    """A registry on `backend` (two workers, started) with the tools of `tools_under_test` named `names` (default:
    its `TOOLS`), a module its worker processes import by name too."""
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", str(HERE))
    import tools_under_test

    tools: list[Any] = tools_under_test.TOOLS if names is None else [getattr(tools_under_test, n) for n in names]
    registry = ToolRegistry(config=load_config(environ={"TOOLWIRE_EXECUTOR": backend, "TOOLWIRE_WORKERS": "2"}))
    try:
        for tool in tools:
            registry.register(tool)
        registry.warm()
        yield registry
    finally:
        registry.close()
        monkeypatch.undo()
