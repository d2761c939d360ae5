"""An outside distribution's executor is discovered, selected by name from a config file, and runs tools."""

from __future__ import annotations

from pathlib import Path

import pytest
from toolwire import ToolRegistry

TOOLS = '''
def hypotenuse(a: float, b: float) -> float:
    """The hypotenuse of a right triangle with legs a and b."""
    return (a * a + b * b) ** 0.5
'''


def test_the_installed_example_backend_is_selected_from_a_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "triangle_tools.py").write_text(TOOLS)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = tmp_path / "toolwire.toml"
    config.write_text(
        '[executor]\nbackend = "futures"\nworkers = 3\n\n'
        '[[tools]]\nloader = "native"\nsource = "triangle_tools"\nnamespace = "geo"\n'
    )
    with ToolRegistry.from_config(config) as registry:
        info = {p.name: p for p in registry.plugins.info()}
        assert info["futures"].distribution == "toolwire-futures"
        assert type(registry.executor()).__module__ == "toolwire_futures.executor"
        calls = [
            {"id": "1", "type": "function", "function": {"name": "geo_hypotenuse", "arguments": '{"a": 3, "b": "4"}'}},
            {"id": "2", "type": "function", "function": {"name": "geo_hypotenuse", "arguments": '{"a": "x", "b": 1}'}},
        ]
        ok, bad = registry.execute_tool_calls(calls)
    assert ok.value == 5.0
    assert bad.error.kind.value == "invalid_arguments"
