"""examples/toolwire.toml, the documented example, builds a working registry."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from toolwire import ToolRegistry
from toolwire_bench.servers import calculator_service

EXAMPLE = Path(__file__).parents[1] / "examples" / "toolwire.toml"


def test_the_example_config_loads_every_source(monkeypatch: pytest.MonkeyPatch) -> None:
    with calculator_service() as base_url:
        monkeypatch.setenv("CALCULATOR_SPEC_URL", f"{base_url}/openapi.json")
        monkeypatch.chdir(EXAMPLE.parent)
        monkeypatch.syspath_prepend(str(EXAMPLE.parent))  # as `python script.py` run from examples/ has it
        monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:/usr/bin:/bin")  # `python` is this venv's
        with ToolRegistry.from_config(EXAMPLE) as registry:
            names = {tool.name for tool in registry}
            assert {"py_add", "py_multiply", "calc_add", "calc_divide", "time_get_current_time"} <= names
            assert "py_divide" not in names
            assert registry.get("py_add").tags == frozenset({"math"})
            calls = [
                {"id": "1", "type": "function", "function": {"name": "py_add", "arguments": '{"a": 1, "b": 2}'}},
                {"id": "2", "type": "function", "function": {"name": "calc_add", "arguments": '{"a": 1, "b": 2}'}},
                {"id": "3", "type": "function",
                 "function": {"name": "time_get_current_time", "arguments": '{"timezone": "UTC"}'}},
            ]
            native, http, clock = registry.execute_tool_calls(calls)
    assert native.value == 3.0
    assert http.value == {"result": 3.0}
    assert clock.value["timezone"] == "UTC"
    assert registry.config.executor.options == {"max_calls_per_worker": 10000, "max_memory_mb": 512}
