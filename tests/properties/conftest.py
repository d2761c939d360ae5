"""The `registry_of_tools` fixture that makes the registries the property tests run on (their hypothesis profiles
are in the repository's root conftest.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from toolwire import ToolRegistry, load_config

HERE = Path(__file__).parent


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
