"""`toolwire demo`: native, OpenAPI and MCP tools in one registry, one batch on the configured backend.

The OpenAPI service and the MCP server are toolwire's own (`toolwire serve http` and `toolwire serve mcp`,
when their plugins are installed) serving a small arithmetic registry on 127.0.0.1 from threads of this
process; the demo loads their tools back through the openapi and mcp loaders and stops them at the end.
"""

from __future__ import annotations

import json
import statistics
from contextlib import ExitStack
from typing import Any

from rich.console import Console
from rich.table import Table

from toolwire.registry import ToolRegistry
from toolwire.serving import in_background


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


def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


def multiply(a: float, b: float) -> float:
    """Multiply two numbers."""
    return a * b


def divide(a: float, b: float) -> float:
    """Divide a by b."""
    return a / b


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
        loaders, servers = registry.plugins.loaders(), registry.plugins.servers()
        service = stack.enter_context(ToolRegistry(executor="thread"))  # what the servers serve
        for function in (add, multiply, divide):
            service.register(function)
        if "openapi" in loaders and "http" in servers:
            http = stack.enter_context(in_background(servers["http"].factory(service, port=0)))
            registry.load("openapi", f"{http.url}/openapi.json", namespace="http")
            calls += [_call("c4", "http_add", {"a": 2, "b": 40}), _call("c5", "http_divide", {"a": 1, "b": 0})]
        if "mcp" in loaders and "mcp" in servers:
            mcp = stack.enter_context(in_background(servers["mcp"].factory(service, transport="streamable-http",
                                                                           port=0)))
            registry.load("mcp", mcp.url, namespace="mcp")
            calls += [_call("c6", "mcp_multiply", {"a": 6, "b": 7})]
        stack.callback(registry.close)  # its client sessions end before the servers stop
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
