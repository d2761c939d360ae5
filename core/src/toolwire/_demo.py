"""`toolwire demo`: native, OpenAPI and MCP tools in one registry, one batch on the configured backend.

The OpenAPI calculator service and the MCP arithmetic server come from `toolwire_bench.servers`
(examples/benchmark); they run on 127.0.0.1 and are stopped when the demo ends.
"""

from __future__ import annotations

import json
import statistics
from contextlib import ExitStack
from typing import Any

from rich.console import Console
from rich.table import Table

from toolwire.registry import ToolRegistry


def word_count(text: str) -> int:
    """Count the words in a text.

    Args:
        text: The text to count words in.
    """
    return len(text.split())


async def mean(values: list[float]) -> float:
    """The arithmetic mean of some numbers.

    Args:
        values: The numbers (at least one).
    """
    return statistics.fmean(values)


class Temperature:
    """Temperature conversions."""

    @staticmethod
    def celsius_to_fahrenheit(celsius: float) -> float:
        """Convert degrees Celsius to degrees Fahrenheit.

        Args:
            celsius: Degrees Celsius.
        """
        return celsius * 9 / 5 + 32


def _call(call_id: str, name: str, arguments: dict[str, Any] | str) -> dict[str, Any]:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": raw}}


def run_demo(console: Console, executor: str | None = None) -> None:
    """Register tools from every installed source, print their schemas, run one batch, print results."""
    with ExitStack() as stack:
        registry = stack.enter_context(ToolRegistry(executor=executor))
        registry.register(word_count)
        registry.register(mean)
        registry.register(Temperature, namespace="temp")
        calls = [
            _call("c1", "word_count", {"text": "tools for function-calling models"}),
            _call("c2", "mean", {"values": [1, 2, "3.5"]}),
            _call("c3", "temp_celsius_to_fahrenheit", {"celsius": 100}),
        ]
        loaders = registry.plugins.loaders()
        if "openapi" in loaders or "mcp" in loaders:
            from toolwire_bench.servers import calculator_service, mcp_stdio_command
        if "openapi" in loaders:
            base_url = stack.enter_context(calculator_service())
            registry.load("openapi", f"{base_url}/openapi.json", namespace="http")
            calls += [_call("c4", "http_add", {"a": 2, "b": 40}), _call("c5", "http_divide", {"a": 1, "b": 0})]
        if "mcp" in loaders:
            registry.load("mcp", list(mcp_stdio_command()), transport="stdio", namespace="mcp")
            calls += [_call("c6", "mcp_multiply", {"a": 6, "b": 7})]
        calls += [_call("c7", "no_such_tool", {}), _call("c8", "word_count", "{not json")]

        backend = registry.executor()
        console.rule(f"[bold]{len(registry)} tools, backend '{backend.name}'")
        for schema in registry.schemas(format="openai-chat"):
            function = schema["function"]
            console.print(f"[cyan]{function['name']}[/cyan]: {json.dumps(function['parameters'])}")
        console.rule(f"[bold]a batch of {len(calls)} calls")
        results = registry.execute_tool_calls(calls)
        table = Table("id", "tool", "arguments", "result", "error")
        for raw, result in zip(calls, results, strict=True):
            table.add_row(
                result.call_id, result.name, raw["function"]["arguments"],
                "" if result.is_error else result.text,
                f"[red]{result.error}[/red]" if result.error else "",
            )
        console.print(table)
        failed = sum(result.is_error for result in results)
        console.print(f"{len(results)} results for {len(calls)} calls; {failed} errors, each reported per call.")
