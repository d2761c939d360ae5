"""Every hook is documented with a complete example plugin, that example runs, and the guide covers it.

A new hook spec without a docstring example, without a section in docs/plugins.md, or without a check
below fails these tests.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import logging
import textwrap
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from toolwire import ToolRegistry
from toolwire.hookspecs import ToolwireSpec

GUIDE = Path(__file__).parents[2] / "docs" / "plugins.md"
HOOKS = sorted(name for name in vars(ToolwireSpec) if name.startswith("toolwire_"))


def example_plugin(hook: str) -> types.ModuleType:
    """Execute the example plugin in `hook`'s docstring as a module."""
    doc = inspect.getdoc(getattr(ToolwireSpec, hook)) or ""
    _, marker, rest = doc.partition("::\n")
    assert marker, f"{hook}'s docstring has no example plugin (a '::' code block)"
    lines = []
    for line in rest.splitlines()[1:]:
        if line and not line.startswith("    "):
            break
        lines.append(line)
    module = types.ModuleType(f"example_{hook}")
    exec(compile(textwrap.dedent("\n".join(lines)), f"<{hook} example>", "exec"), module.__dict__)
    return module


def check_loaders(registry: ToolRegistry, plugin: types.ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    registry.load("env", {"region": "eu-west"})
    [result] = registry.execute_tool_calls([{"id": "1", "function": {"name": "get_region", "arguments": "{}"}}])
    assert result.value == "eu-west"


def check_executors(registry: ToolRegistry, plugin: types.ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    registry.load("native", lambda a, b: a * b, name="times")
    call = {"id": "1", "function": {"name": "times", "arguments": '{"a": 6, "b": 7}'}}
    [result] = registry.execute_tool_calls([call], executor="serial")
    assert result.value == 42
    assert type(registry.executor("serial")).__name__ == "SerialExecutor"


def check_detect_loader(registry: ToolRegistry, plugin: types.ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    assert registry.plugins.hook.toolwire_detect_loader(source="people.csv") == "csv"
    assert registry.plugins.hook.toolwire_detect_loader(source=len) == "native"  # others still answer


def check_formats(registry: ToolRegistry, plugin: types.ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    registry.load("native", lambda: 1, name="one")
    assert registry.schemas(format="names-only") == [{"name": "one"}]


def check_execute(registry: ToolRegistry, plugin: types.ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    registry.load("native", lambda: 1, name="one")
    with caplog.at_level(logging.INFO, logger="audit"):
        registry.execute_tool_calls([{"id": "1", "function": {"name": "one"}}, {"id": "2", "function": {"name": "x"}}])
    assert [r.getMessage() for r in caplog.records] == ["running 2 calls on thread", "1 failed"]


def check_servers(registry: ToolRegistry, plugin: types.ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    registry.load("native", lambda a, b: a * b, name="times")
    requests = io.StringIO('{"tool": "times", "arguments": {"a": 6, "b": 7}}\n{"tool": "nope", "arguments": {}}\n')
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", requests)
        registry.serve("jsonl")
    first, second = (json.loads(line) for line in printed.getvalue().splitlines())
    assert first == {"result": "42", "error": False}
    assert second["error"] is True and "no tool named 'nope'" in second["result"]
    with pytest.raises(ValueError, match="unknown option"):
        registry.serve("jsonl", port=1)


def check_dispatch(registry: ToolRegistry, plugin: types.ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    registry.load("native", lambda: "charged", name="charge", tags=["billing"])
    registry.load("native", lambda: "looked up", name="lookup")
    calls = [{"id": str(i), "function": {"name": "charge"}} for i in range(5)]
    calls.append({"id": "5", "function": {"name": "lookup"}})
    results = registry.execute_tool_calls(calls)
    assert [r.value for r in results] == ["charged"] * 3 + [None, None, "looked up"]
    assert [r.error.kind for r in results[3:5]] == ["denied", "denied"]  # type: ignore[union-attr]
    assert "at most 3 billing calls per turn" in results[3].content


CHECKS: dict[str, Callable[..., None]] = {
    "toolwire_loaders": check_loaders,
    "toolwire_executors": check_executors,
    "toolwire_detect_loader": check_detect_loader,
    "toolwire_formats": check_formats,
    "toolwire_execute": check_execute,
    "toolwire_servers": check_servers,
    "toolwire_dispatch": check_dispatch,
}


def test_every_hook_has_a_check() -> None:
    assert sorted(CHECKS) == HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_the_hook_is_in_the_plugin_author_guide(hook: str) -> None:
    assert f"## `{hook}" in GUIDE.read_text(), f"docs/plugins.md has no section for {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_the_docstring_example_plugin_works(hook: str, caplog: pytest.LogCaptureFixture) -> None:
    plugin = example_plugin(hook)
    with ToolRegistry(executor="thread") as registry:
        registry.plugins.register(plugin, name=f"example-{hook}")
        CHECKS[hook](registry, plugin, caplog)
