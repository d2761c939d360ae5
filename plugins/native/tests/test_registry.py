"""End to end through `ToolRegistry`: discovery, register (call and decorator), validation, execution."""

from __future__ import annotations

import asyncio
import json
import pathlib
import subprocess
import sys
import types

import pytest
from toolwire import ErrorKind, Plugins, ToolRegistry
from toolwire_native import plugin


def call(call_id: str, name: str, arguments: dict | str) -> dict:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": raw}}


class Calculator:
    def multiply(self, a: float, b: float) -> float:
        return a * b

    def _secret(self) -> None: ...


def test_the_plugin_is_discovered_through_its_entry_point() -> None:
    plugins = Plugins(autoload=True)
    assert "native" in plugins.loaders()
    assert plugins.offered_by("native")["loaders"] == ["native"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (len, "native"), (Calculator, "native"), (Calculator(), "native"), (Calculator().multiply, "native"),
        (types.ModuleType("m"), "native"), (lambda: 1, "native"),
        ("http://example.com/openapi.json", None), (b"x", None), ({"a": 1}, None), ([len], None),
        (pathlib.Path("spec.yaml"), None), (3, None), (None, None),
    ],
)
def test_detection_claims_python_objects_only(source, expected) -> None:
    assert plugin.toolwire_detect_loader(source) == expected


@pytest.fixture
def registry(serial):
    with ToolRegistry(executor=serial) as registry:
        yield registry


def test_decorator_registers_and_returns_the_function_unchanged(registry) -> None:
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    assert registry.register(add) is add

    @registry.register(namespace="async")
    async def twice(x: int) -> int:
        return 2 * x

    assert asyncio.iscoroutinefunction(twice)
    assert [tool.name for tool in registry] == ["add", "async_twice"]
    assert registry.get("add").description == "Add two integers."
    [schema] = [s for s in registry.schemas("openai-chat") if s["function"]["name"] == "add"]
    assert schema["function"]["parameters"]["required"] == ["a", "b"]


def test_calls_are_validated_coerced_and_executed(registry) -> None:
    @registry.register
    def add(a: int, b: int) -> int:
        return a + b

    @registry.register
    async def greet(name: str, punctuation: str = "!") -> str:
        await asyncio.sleep(0)
        return f"hello {name}{punctuation}"

    results = registry.execute_tool_calls([
        call("1", "add", {"a": "1", "b": "2"}),
        call("2", "add", {"a": 1}),
        call("3", "add", {"a": "x", "b": 2}),
        call("4", "add", {"a": 1, "b": 2, "c": 3}),
        call("5", "add", '{"a": 1, "b":'),
        call("6", "greet", {"name": "ada"}),
        call("7", "add", {"a": 2, "b": 2}),
    ])
    assert [r.call_id for r in results] == ["1", "2", "3", "4", "5", "6", "7"]
    assert (results[0].value, results[0].content, results[0].is_error) == (3, "3", False)
    for result, fragment in zip(
        results[1:5],
        ["missing required argument 'b'",
         "argument 'a' should be a valid integer",
         "unexpected argument 'c' (accepted arguments: 'a', 'b')",
         "not valid JSON (EOF while parsing a value at line 1 column 13)"],
        strict=True,
    ):
        assert result.is_error
        assert result.error.kind is ErrorKind.INVALID_ARGUMENTS
        assert fragment in result.error.message
    assert results[5].value == "hello ada!"
    assert results[6].value == 4


def test_a_tool_raising_is_that_calls_error(registry) -> None:
    @registry.register
    def divide(a: float, b: float) -> float:
        return a / b

    bad, good = registry.execute_tool_calls(
        [call("1", "divide", {"a": 1, "b": 0}), call("2", "divide", {"a": 1, "b": 4})]
    )
    assert bad.error.kind is ErrorKind.TOOL_ERROR
    assert "ZeroDivisionError" in bad.error.message
    assert good.value == 0.25


def test_instances_classes_and_modules_with_register_options(registry) -> None:
    module = types.ModuleType("textutils")
    exec(
        "def upper(s: str) -> str:\n    return s.upper()\n"
        "def lower(s: str) -> str:\n    return s.lower()\n"
        "def title(s: str) -> str:\n    return s.title()\n",
        module.__dict__,
    )
    registry.register(Calculator(), namespace="calc", tags=["math"])
    registry.register(module, namespace="text", include=["*er"], exclude="low*")
    assert [tool.name for tool in registry] == ["calc_multiply", "text_upper"]
    assert registry.get("calc_multiply").tags == frozenset({"math"})
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Calculator, namespace="calc")
    registry.register(Calculator, namespace="calc", replace=True)
    product, shout = registry.execute_tool_calls([
        call("1", "calc_multiply", {"a": "1.5", "b": 2}),
        call("2", "text_upper", {"s": "hi"}),
    ])
    assert (product.value, shout.value) == (3.0, "HI")


def test_register_with_a_name(registry) -> None:
    registry.register(lambda a, b: f"{a}{b}", name="concat")
    [result] = registry.execute_tool_calls([call("1", "concat", {"a": "x", "b": 1})])
    assert result.value == "x1"


def test_async_execution_from_async_code(registry) -> None:
    @registry.register
    async def echo(text: str) -> str:
        return text

    async def main():
        return await registry.aexecute_tool_calls([call("1", "echo", {"text": "hi"})])

    [result] = asyncio.run(main())
    assert result.value == "hi"


def test_the_plugin_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, toolwire_native.plugin\n"
        "heavy = ('toolwire_native._loader', 'docstring_parser', 'httpx', 'mcp', 'dill', 'dask')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_tools_declared_in_a_config_file(tmp_path, serial) -> None:
    config = tmp_path / "toolwire.toml"
    config.write_text(
        '[[tools]]\nloader = "native"\nsource = "textwrap:dedent"\nnamespace = "text"\n'
        'annotations = { read_only = true }\n'
    )
    with ToolRegistry.from_config(config, executor=serial) as registry:
        assert registry.get("text_dedent").annotations.read_only is True
        [result] = registry.execute_tool_calls([call("1", "text_dedent", {"text": "  a\n  b"})])
    assert result.value == "a\nb"
